// What a trace document shows on top of its text, as plain offsets and strings: where the trace
// crosses each tier's budget, the part beyond its own budget, the reward terms, the tokens and
// reward at any point, and the reflection phrases ("wait", "let me check", ...) with the tokens
// each phase between them took. Pure (no `vscode`): annotations.ts turns this into decorations,
// CodeLens and hovers.
//
// Token positions come only from the tokenizer marks a rollout carries (`token_marks`: the first
// `tokens` tokens decode to the first `chars` characters); between two marks a count is a range.
// The trace text is untrusted model output: nothing here copies it into a lens title or hover line
// (the pattern phrases shown are the configured ones, not the matched text).
import type { RolloutEvent } from '../events';
import { HBPO_DEFAULTS, rewardBreakdown, type RewardBreakdown, type RewardName } from '../../common/budgetMath';
import { rewardSettingsOf } from '../runs/runReward';
import type { RunInfo } from '../runs/runModel';

export interface TraceSpec {
  /** The trace body (untrusted model text). */
  text: string;
  /** Tokens generated so far (n_gen for a rollout; EOS included). */
  tokens: number;
  /** [tokens, chars] pairs, ascending; `chars` counts code points, as the trainer (Python) wrote them. */
  marks: [number, number][] | undefined;
  /** This trace's own budget, null = natural mode. */
  tier: number | null;
  /** Every tier to mark. */
  tiers: number[];
  params: { reward: RewardName; variant?: 'paper' | 'reference'; lMax: number; alpha: number; beta: number };
  /** null = unknown (no ground truth, or still generating). */
  correct: boolean | null;
  truncated: boolean;
  reward?: { reward: number | null; cos: number | null; penalty: number | null; f1: number | null; f2: number | null; case?: string };
  advantage?: { intra: number; inter: number; total: number };
  /** false while streaming. */
  done: boolean;
}

/** A token count: exact when `lo === hi`, else "somewhere from lo to hi". */
export interface TokenRange {
  lo: number;
  hi: number;
}

/** Where the first `tier` tokens end (a UTF-16 offset into the body). Not exact: the tier fell between two marks and `char` is the later mark's offset. */
export interface TierCrossing {
  tier: number;
  char: number;
  exact: boolean;
}

export interface PatternMatch {
  start: number;
  end: number;
  /** The configured pattern (lower case), never the matched trace text. */
  phrase: string;
}

export interface Phase {
  start: number;
  end: number;
  /** The marker that opens the phase (null for the first phase, before any marker). */
  marker: string | null;
  /** Tokens spent in the phase; undefined without token marks. */
  tokens: TokenRange | undefined;
}

/** Reflection and restart phrases matched by default (case-insensitive, whole words). */
export const DEFAULT_REASONING_PATTERNS: readonly string[] = [
  'wait', 'but wait', 'hmm', 'alternatively', 'let me check', 'let me verify', 'let me double-check',
  'let me re-check', 'let me recheck', 'let me reconsider', 'let me re-examine', 'double-check', 'on second thought',
  'hold on', 'i made a mistake', 'that is wrong', "that's wrong", 'another approach', 'let me try again',
];

/** Most patterns and phases a setting or a lens may carry (a malicious or huge setting stays cheap). */
const MAX_PATTERNS = 100;
const MAX_PATTERN_LENGTH = 100;
const LENS_PHASES = 16;

// ---------------------------------------------------------------------------------------- marks

/** Code-point counts (Python's `len`) to UTF-16 offsets (JavaScript's), for text with astral characters. */
function codePointOffsets(text: string): ((cp: number) => number) & { cpLength: number } {
  if (!/[\uD800-\uDFFF]/.test(text)) return Object.assign((cp: number) => Math.min(cp, text.length), { cpLength: text.length });
  const units: number[] = [0];
  for (let i = 0; i < text.length; ) {
    const c = text.charCodeAt(i);
    const pair = c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00;
    i += pair ? 2 : 1;
    units.push(i);
  }
  const cpLength = units.length - 1;
  return Object.assign((cp: number) => units[Math.min(cp, cpLength)] as number, { cpLength });
}

/** Normalized marks by spec, valid while the spec's text, tokens and marks are the same (a caller may mutate a spec it streams). */
const cleanCache = new WeakMap<TraceSpec, { text: string; tokens: number; marks: TraceSpec['marks']; length: number; out: [number, number][] | undefined }>();

/**
 * The marks as UTF-16 offsets: ascending in tokens, chars clamped to the text and never decreasing
 * (a prefix cut inside a multi-byte character can decode one replacement character long; the later
 * mark bounds it), with (0, 0) first and (tokens, text length) last when the marks stop short of
 * the text (a streaming trace whose text is the decode of `tokens` tokens).
 * Undefined when the trace has no marks (older runs).
 */
export function normalizedMarks(spec: TraceSpec): [number, number][] | undefined {
  const hit = cleanCache.get(spec);
  if (hit && hit.text === spec.text && hit.tokens === spec.tokens && hit.marks === spec.marks && hit.length === (spec.marks?.length ?? 0)) return hit.out;
  let out: [number, number][] | undefined;
  const raw = spec.marks;
  if (raw && raw.length > 0) {
    const toUnits = codePointOffsets(spec.text);
    const byTokens = new Map<number, number>();
    for (const m of raw) {
      if (!Array.isArray(m)) continue;
      const [t, c] = m;
      if (!Number.isSafeInteger(t) || !Number.isSafeInteger(c) || t < 0 || c < 0 || byTokens.has(t)) continue;
      byTokens.set(t, toUnits(Math.min(c, toUnits.cpLength)));
    }
    const marks = [...byTokens].sort((a, b) => a[0] - b[0]);
    for (let i = marks.length - 2; i >= 0; i--) {
      const m = marks[i] as [number, number];
      m[1] = Math.min(m[1], (marks[i + 1] as [number, number])[1]);
    }
    if (marks.length > 0) {
      if ((marks[0] as [number, number])[0] > 0) marks.unshift([0, 0]);
      const last = marks[marks.length - 1] as [number, number];
      if (spec.tokens > last[0] && spec.text.length > last[1]) marks.push([spec.tokens, spec.text.length]);
      out = marks;
    }
  }
  cleanCache.set(spec, { text: spec.text, tokens: spec.tokens, marks: spec.marks, length: spec.marks?.length ?? 0, out });
  return out;
}

/** Tokens generated by the time the text reaches `char` (a boundary: the text before offset `char`). Undefined without marks. */
export function tokensAt(spec: TraceSpec, char: number): TokenRange | undefined {
  const marks = normalizedMarks(spec);
  if (!marks) return undefined;
  const c = Math.max(0, Math.min(Math.floor(char), spec.text.length));
  let lo = -1;
  let hi = -1;
  let prev = 0;
  for (const [t, mc] of marks) {
    if (mc === c) {
      if (lo < 0) lo = t;
      hi = t;
    } else if (mc < c) {
      prev = t;
    } else {
      if (lo >= 0) break;
      return { lo: prev + 1, hi: t };
    }
  }
  if (lo >= 0) return { lo, hi };
  // Past the last mark: only a streaming trace whose marks lag its text gets here.
  return { lo: prev + 1, hi: Math.max(prev + 1, spec.tokens) };
}

function sortedTiers(tiers: readonly number[]): number[] {
  return [...new Set(tiers.filter((t) => Number.isFinite(t) && t > 0))].sort((a, b) => a - b);
}

/** Where the first `tier` tokens end, or undefined when the trace has not reached it (or has no marks). */
export function crossingOf(spec: TraceSpec, tier: number): TierCrossing | undefined {
  const marks = normalizedMarks(spec);
  if (!marks || !(tier > 0) || tier > spec.tokens) return undefined;
  for (const [t, c] of marks) {
    if (t === tier) return { tier, char: c, exact: true };
    if (t > tier) return { tier, char: c, exact: false };
  }
  return undefined;
}

/** The tier budgets the trace reached, where their last token ends. Empty without marks. */
export function tierCrossings(spec: TraceSpec): TierCrossing[] {
  return sortedTiers(spec.tiers).flatMap((tier) => crossingOf(spec, tier) ?? []);
}

/** The text past the trace's own budget (to shade), or undefined: natural mode, within budget, or no marks. */
export function overBudget(spec: TraceSpec): { start: number; end: number; exact: boolean } | undefined {
  if (spec.tier === null || spec.tokens <= spec.tier) return undefined;
  const crossing = crossingOf(spec, spec.tier);
  if (!crossing || crossing.char >= spec.text.length) return undefined;
  return { start: crossing.char, end: spec.text.length, exact: crossing.exact };
}

// ------------------------------------------------------------------------------------- patterns

/** The patterns of a setting: strings, trimmed, lower case, no duplicates, bounded in count and length. */
export function cleanPatterns(patterns: unknown): string[] {
  if (!Array.isArray(patterns)) return [...DEFAULT_REASONING_PATTERNS];
  const out = new Set<string>();
  for (const p of patterns) {
    if (typeof p !== 'string') continue;
    const t = p.replace(/[\u0000-\u001f\u007f\u2028\u2029]+/g, ' ').replace(/\s+/g, ' ').trim().toLowerCase();
    if (t && t.length <= MAX_PATTERN_LENGTH) out.add(t);
    if (out.size >= MAX_PATTERNS) break;
  }
  return [...out];
}

const WORD = '[\\p{L}\\p{N}\\p{M}_]';

/**
 * Whole-word, case-insensitive matches of the patterns (any run of white space matches a space in
 * a pattern). Overlaps resolve to the leftmost, then longest match: "but wait" is one marker, not
 * also "wait".
 */
export function patternMatches(text: string, patterns: readonly string[]): PatternMatch[] {
  const found: PatternMatch[] = [];
  for (const phrase of cleanPatterns(patterns)) {
    const body = phrase.split(' ').map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('\\s+');
    const re = new RegExp(`(?<!${WORD})${body}(?!${WORD})`, 'giu');
    for (const m of text.matchAll(re)) found.push({ start: m.index as number, end: (m.index as number) + m[0].length, phrase });
  }
  found.sort((a, b) => a.start - b.start || b.end - a.end);
  const out: PatternMatch[] = [];
  let end = -1;
  for (const m of found) {
    if (m.start < end) continue;
    out.push(m);
    end = m.end;
  }
  return out;
}

/** Token difference between two points, as a range. */
function spanTokens(a: TokenRange | undefined, b: TokenRange | undefined): TokenRange | undefined {
  if (!a || !b) return undefined;
  return { lo: Math.max(0, b.lo - a.hi), hi: Math.max(0, b.hi - a.lo) };
}

/** The text cut at each marker: a first phase before any marker, then one phase per marker. */
export function phases(spec: TraceSpec, matches: readonly PatternMatch[]): Phase[] {
  const cuts = [{ at: 0, marker: null as string | null }, ...matches.map((m) => ({ at: m.start, marker: m.phrase }))];
  const out: Phase[] = [];
  cuts.forEach((cut, i) => {
    const end = i + 1 < cuts.length ? (cuts[i + 1] as { at: number }).at : spec.text.length;
    if (i === 0 && end === 0 && cuts.length > 1) return; // the trace opens with a marker
    out.push({ start: cut.at, end, marker: cut.marker, tokens: spanTokens(tokensAt(spec, cut.at), tokensAt(spec, end)) });
  });
  return out;
}

// --------------------------------------------------------------------------------- text for UI

const fixed = (x: number | null | undefined, digits = 4) => (x === null || x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(digits));

export function rangeText(r: TokenRange): string {
  return r.lo === r.hi ? `${r.lo}` : `${r.lo}–${r.hi}`;
}

/** Reward of a correct, untruncated answer of `n` tokens under `budget`; undefined when the reward cannot score it. */
export function rewardAt(spec: TraceSpec, n: number, budget: number | null): RewardBreakdown | undefined {
  try {
    const p = spec.params;
    return rewardBreakdown({ reward: p.reward, variant: p.variant, lMax: p.lMax, alpha: p.alpha, beta: p.beta, nGen: n, budget, correct: true, truncated: false });
  } catch {
    return undefined;
  }
}

/** The budgets a reward-at-point is shown for: every tier, or none (natural mode) for rewards without a budget. */
function hoverBudgets(spec: TraceSpec): (number | null)[] {
  if (spec.params.reward === 'cosine' || spec.params.reward === 'binary') return [null];
  return sortedTiers(spec.tier === null ? spec.tiers : [...spec.tiers, spec.tier]);
}

function rewardName(p: TraceSpec['params']): string {
  return p.reward === 'hbpo' ? `hbpo, ${p.variant ?? 'paper'}` : p.reward;
}

/** How the reward came about, e.g. `reward 1.2345 = f1 = cos 1.4000 − penalty 0.1655 (case over)`. */
function rewardText(spec: TraceSpec): string {
  const r = spec.reward ?? (spec.done && spec.correct !== null
    ? rewardBreakdownOf(spec, spec.correct)
    : undefined);
  if (!r) {
    if (!spec.done) return 'reward pending (still generating)';
    const ifCorrect = rewardBreakdownOf(spec, true);
    return ifCorrect ? `reward if correct ${fixed(ifCorrect.reward)} (case ${ifCorrect.case})` : 'reward unknown';
  }
  const kase = r.case ?? '';
  let terms = '';
  if (kase === 'within' || kase === 'over' || kase === 'natural') {
    const p = spec.params;
    if (p.reward === 'hbpo' && (p.variant ?? 'paper') === 'paper') {
      terms = kase === 'within' ? ` = f2(${spec.tier}) ${fixed(r.f2)}` : ` = f1 = cos ${fixed(r.cos)} − penalty ${fixed(r.penalty, 6)}`;
    } else if (p.reward === 'hbpo') {
      terms = ` = min(f1 ${fixed(r.f1)}, f2 ${fixed(r.f2)}) · f1 = cos ${fixed(r.cos)} − penalty ${fixed(r.penalty, 6)}`;
    } else if (p.reward === 'cosine') {
      terms = ` = cos ${fixed(r.cos)}`;
    } else if (p.reward === 'l1-exact') {
      terms = ` = 1 − penalty ${fixed(r.penalty, 6)}`;
    }
  }
  return `reward ${fixed(r.reward)}${terms}${kase ? ` (case ${kase})` : ''}`;
}

function rewardBreakdownOf(spec: TraceSpec, correct: boolean): RewardBreakdown | undefined {
  try {
    const p = spec.params;
    return rewardBreakdown({ reward: p.reward, variant: p.variant, lMax: p.lMax, alpha: p.alpha, beta: p.beta, nGen: spec.tokens, budget: spec.tier, correct, truncated: spec.truncated });
  } catch {
    return undefined;
  }
}

/** Markers and phases computed once per document (hovers reuse them). */
export interface TraceMarkup {
  crossings: TierCrossing[];
  overBudget: { start: number; end: number; exact: boolean } | undefined;
  matches: PatternMatch[];
  phases: Phase[];
  /** CodeLens titles: [0] the header (rollout figures), [1] reasoning markers and phases. */
  lenses: string[];
  marksMissing: boolean;
}

export function annotate(spec: TraceSpec, patterns: readonly string[] = DEFAULT_REASONING_PATTERNS): TraceMarkup {
  const matches = patternMatches(spec.text, patterns);
  const ph = phases(spec, matches);
  return {
    crossings: tierCrossings(spec),
    overBudget: overBudget(spec),
    matches,
    phases: ph,
    lenses: headerLens(spec, matches, ph),
    marksMissing: normalizedMarks(spec) === undefined,
  };
}

/**
 * The CodeLens titles: the rollout's figures, then its reasoning markers with the tokens of each
 * phase. Numbers and fixed words only, plus the configured pattern phrases.
 */
export function headerLens(spec: TraceSpec, matches?: readonly PatternMatch[], ph?: readonly Phase[]): string[] {
  const ms = matches ?? patternMatches(spec.text, DEFAULT_REASONING_PATTERNS);
  const phs = ph ?? phases(spec, ms);
  const so = spec.done ? '' : ' so far';
  const parts: string[] = [];
  if (spec.tier === null) {
    parts.push(`natural mode (no budget) · ${spec.tokens} tokens${so}`);
  } else {
    const d = spec.tokens - spec.tier;
    const vs = d > 0 ? `${d} over budget` : d < 0 ? `${-d} under budget` : 'exactly at budget';
    parts.push(`tier ${spec.tier} · ${spec.tokens} tokens${so} (${vs})`);
  }
  if (spec.truncated) parts.push('truncated');
  parts.push(spec.correct === null ? (spec.done ? 'correctness unknown' : 'answer pending') : spec.correct ? 'correct' : 'wrong');
  parts.push(rewardText(spec));
  if (spec.advantage) {
    const a = spec.advantage;
    parts.push(`advantage intra ${fixed(a.intra)} · inter ${fixed(a.inter)} · total ${fixed(a.total)}`);
  }
  const lenses = [parts.join(' · ')];

  const marksMissing = normalizedMarks(spec) === undefined;
  const counts = new Map<string, number>();
  for (const m of ms) counts.set(m.phrase, (counts.get(m.phrase) ?? 0) + 1);
  let second = ms.length === 0
    ? 'reasoning markers: none'
    : `reasoning markers: ${ms.length} (${[...counts].map(([p, n]) => `“${noIcons(p)}” ×${n}`).join(', ')})`;
  if (marksMissing) {
    second += ' · token marks missing (older run): no tier markers, no shading, no token counts';
  } else {
    const shown = phs.slice(0, LENS_PHASES).map((p) => (p.tokens ? rangeText(p.tokens) : '?'));
    const more = phs.length > LENS_PHASES ? `, … (${phs.length - LENS_PHASES} more)` : '';
    second += ` · ${phs.length} phase${phs.length === 1 ? '' : 's'}, tokens: ${shown.join(', ')}${more}`;
  }
  lenses.push(second);
  return lenses;
}

/** A phrase for a lens title, where `$(name)` would render as an icon. */
function noIcons(phrase: string): string {
  return phrase.replace(/\$\(/g, '$\u200b(');
}

function caseText(a: RewardBreakdown, b: RewardBreakdown): string {
  return a.case === b.case ? a.case : `${a.case} → ${b.case}`;
}

/**
 * Hover text at offset `char` of the body (a caret position: the text before it counts): the tokens at that point (a range between marks), the
 * reward a correct answer ending there would get under each tier, and the marker or phase there.
 */
export function hoverLines(spec: TraceSpec, char: number, markup?: Pick<TraceMarkup, 'matches' | 'phases' | 'overBudget'>): string[] {
  const c = Math.max(0, Math.min(Math.floor(char), spec.text.length));
  const m = markup ?? annotate(spec);
  const lines: string[] = [];
  const at = tokensAt(spec, c);
  if (!at) {
    lines.push('token marks missing (older run): the tokens at this point are unknown');
  } else {
    lines.push(at.lo === at.hi
      ? `${at.lo} tokens at this point`
      : `tokens ${at.lo}–${at.hi} at this point (between two token marks; counts are exact only at marks)`);
    if (spec.tier !== null) {
      const over = m.overBudget && c > m.overBudget.start;
      lines.push(over ? `beyond this rollout's budget of ${spec.tier} tokens` : `within this rollout's budget of ${spec.tier} tokens`);
    }
    const budgets = hoverBudgets(spec);
    const ends = at.lo === at.hi ? 'if the answer ended here and were correct' : `if the answer ended here and were correct, at ${at.lo} and at ${at.hi} tokens`;
    lines.push(`reward ${ends} (${rewardName(spec.params)}):`);
    for (const b of budgets) {
      const lo = rewardAt(spec, at.lo, b);
      const hi = rewardAt(spec, at.hi, b);
      const name = b === null ? 'natural mode' : `tier ${b}`;
      if (!lo || !hi) lines.push(`${name}: cannot be scored by this reward`);
      else if (at.lo === at.hi) lines.push(`${name}: ${fixed(lo.reward)} (${lo.case})`);
      else lines.push(`${name}: ${fixed(lo.reward)} → ${fixed(hi.reward)} (${caseText(lo, hi)})`);
    }
    if (spec.correct === false) lines.push("this rollout's answer was wrong: it earned 0 whatever its length");
  }
  const mi = m.matches.findIndex((x) => x.start <= c && c <= x.end);
  if (mi >= 0) {
    const marker = m.matches[mi] as PatternMatch;
    lines.push(`reasoning marker “${marker.phrase}” (${mi + 1} of ${m.matches.length})`);
  }
  const pi = m.phases.findIndex((p) => p.start <= c && (c < p.end || (p.end === spec.text.length && c === p.end)));
  if (pi >= 0 && m.matches.length > 0) {
    const p = m.phases[pi] as Phase;
    const opened = p.marker === null ? 'before the first marker' : `opened by “${p.marker}”`;
    lines.push(`phase ${pi + 1} of ${m.phases.length} (${opened}): ${p.tokens ? `${rangeText(p.tokens)} tokens` : 'tokens unknown'}`);
  }
  if (!spec.done) lines.push('still generating');
  return lines;
}

// ---------------------------------------------------------------------------------- positions

/** Start and end (before the line break) of every line, with the editor's line breaks: \r\n, \r, \n. */
export function lineTable(content: string): { start: number; end: number }[] {
  const out: { start: number; end: number }[] = [];
  const re = /\r\n|\r|\n/g;
  let start = 0;
  for (let m = re.exec(content); m; m = re.exec(content)) {
    out.push({ start, end: m.index });
    start = m.index + m[0].length;
  }
  out.push({ start, end: content.length });
  return out;
}

/** Line and character of a content offset (an offset inside a \r\n pair is the end of its line). */
export function positionOf(table: readonly { start: number; end: number }[], offset: number): { line: number; character: number } {
  let lo = 0;
  let hi = table.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if ((table[mid] as { start: number }).start <= offset) lo = mid;
    else hi = mid - 1;
  }
  const l = table[lo] as { start: number; end: number };
  return { line: lo, character: Math.max(0, Math.min(offset, l.end) - l.start) };
}

/** Content offset of a line and character (clamped to the line). */
export function offsetOf(table: readonly { start: number; end: number }[], line: number, character: number): number {
  const l = table[Math.max(0, Math.min(line, table.length - 1))] as { start: number; end: number };
  return l.start + Math.max(0, Math.min(character, l.end - l.start));
}

// ------------------------------------------------------------------------------------- rollouts

/** The trace spec of a recorded rollout, with the reward parameters of its run (paper defaults without a run_start). */
export function specOfRollout(e: RolloutEvent, info: RunInfo | undefined): TraceSpec {
  const p = info ? rewardSettingsOf(info) : undefined;
  const lMax = p?.lMax ?? HBPO_DEFAULTS.lMax;
  return {
    text: e.text,
    tokens: e.n_gen,
    marks: e.token_marks,
    tier: e.tier,
    tiers: p?.tiers ?? (e.tier === null ? [] : [e.tier]),
    params: { reward: p?.reward ?? 'hbpo', variant: p?.variant ?? 'paper', lMax, alpha: p?.alpha ?? 1 / lMax, beta: p?.beta ?? HBPO_DEFAULTS.beta },
    correct: e.correct,
    truncated: e.truncated,
    reward: e.reward,
    advantage: e.advantage,
    done: true,
  };
}

