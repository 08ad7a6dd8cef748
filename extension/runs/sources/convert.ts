// An external source (formats.ts) as the events of a native run (schema version 2), so the
// dashboard, rollout inspector, reward explorer and trace documents open it unchanged. No `vscode`.
//
// - Tier: from the prompt's budget sentence (HBPO's "within/with N tokens", L1's "Think for N
//   tokens", or the user's pattern, whose first group is the budget); none: natural mode (null).
// - Groups: the rollouts of one prompt at one step, the prompt with its budget sentence taken out,
//   so a problem's tiers are one query as in HBPO. verl and TRL carry no group id: two dataset rows
//   with the same text at one step become one group (counted in `source.merged_groups`).
// - Tokens: the model's tokenizer when given (token_marks as the trainer writes them), else the
//   file's own count, else an estimate (characters / 4); `source.tokens` and each rollout's
//   `n_gen_source` say which. Estimated rollouts carry no token_marks: nothing is placed by guess.
// - Correctness: the file's field when present, else `grade` (the project's grader) against the
//   ground truth, else wrong with an issue.
// - Reward and advantages: recomputed with common/budgetMath (HBPO, paper variant) where the budget
//   is known (`source.recomputed`); the file's own columns ride along as `recorded` on each rollout
//   and as `recorded/<column>` step metrics.
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { advantages, rewardBreakdown, type RewardBreakdown } from '../../../common/budgetMath';
import type { RolloutEvent, RunEvent, RunStartEvent, StepEvent } from '../../../common/events';
import { SOURCE_LABELS, type ExternalSample, type SourceIssue, type SourceKind, type SourceRead } from './formats';
import type { TokenCounter } from './tokens';

export const BUDGET_PATTERNS: readonly RegExp[] = [
  /I will answer the question (?:within|with) (\d+) tokens\.?/,
  /Think for (\d+) tokens\.?/,
];
const EFFICIENCY = /I will answer the question with minimal tokens\.?/;
const BEAM = 32; // token_marks every 32 tokens, as the trainer

export interface ConvertOptions {
  /** The user's pattern (hbpo.external.budgetPattern): its first capture group is the budget. */
  budgetPattern?: string;
  tokenizer?: TokenCounter;
  /** L_max for the recomputed reward; default: the largest tier x 1.6 (the paper's 2560 of 4096), at least the longest rollout. */
  maxResponseTokens?: number;
  /** The project's grader, for samples without a verdict but with a ground truth. */
  grade?: (items: { text: string; groundTruth: string }[]) => Promise<(boolean | null)[]>;
}

export interface ConvertReport {
  events: RunEvent[];
  issues: SourceIssue[];
  rollouts: number;
  steps: number[];
  tiers: number[];
  groups: number;
  mergedGroups: number;
  tokens: 'tokenizer' | 'recorded' | 'estimate';
}

export function budgetOf(prompt: string, userPattern?: string): { budget: number | null; sentence?: string; efficiency?: boolean } {
  const patterns = userPattern ? [new RegExp(userPattern), ...BUDGET_PATTERNS] : BUDGET_PATTERNS;
  for (const re of patterns) {
    const m = re.exec(prompt);
    if (m && m[1] !== undefined && /^\d+$/.test(m[1]) && Number(m[1]) >= 1) return { budget: Number(m[1]), sentence: m[0] };
  }
  const e = EFFICIENCY.exec(prompt);
  if (e) return { budget: null, sentence: e[0], efficiency: true };
  return { budget: null };
}

/** The answer the trainer's grader would extract first: the last \boxed{...}. */
export function boxedAnswer(text: string): string | null {
  const i = text.lastIndexOf('\\boxed{');
  if (i < 0) return null;
  let depth = 0;
  for (let j = i + 6; j < text.length; j++) {
    if (text[j] === '{') depth++;
    else if (text[j] === '}' && --depth === 0) return text.slice(i + 7, j);
  }
  return null;
}

function issueText(i: SourceIssue): string {
  const where = i.line !== undefined ? `line ${i.line}` : i.row !== undefined ? `row ${i.row}` : '';
  return `${i.file}${where ? `: ${where}` : ''}: ${i.field}: ${i.message}`;
}

/** Characters as the trainer counts them in token_marks: code points, not UTF-16 units. */
function cpLength(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

function mean(xs: number[]): number | null {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null;
}
function pstd(xs: number[]): number | null {
  const m = mean(xs);
  return m === null ? null : Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / xs.length);
}
function metricName(k: string): string {
  return k.replace(/[^A-Za-z0-9_./:-]/g, '_');
}

export interface Row {
  s: ExternalSample;
  budget: number | null;
  key: string;
  nGen: number;
  nGenSource: 'tokenizer' | 'recorded' | 'estimate';
  marks?: [number, number][];
  ids?: number[];
  correct: boolean;
}

/** What every part of one run is converted against, fixed when its conversion starts (from the
 * first file read, for a source read a file at a time) so that rewards stay comparable. */
export interface ConvertContext {
  lMax: number;
  tiers: number[];
  tokens: ConvertReport['tokens'];
  /** The file's own numeric columns, as the run_start lists them. */
  recorded: string[];
  rewardName: 'hbpo' | 'binary';
  allTiered: boolean;
}

/** Part of a run: log events for its issues, then each step's rollouts and step event. */
export type ConvertedPart = Omit<ConvertReport, 'tokens'>;

/** A read as rows: budget, group key, token count (and marks with a tokenizer), verdict. */
async function rowsOf(read: SourceRead, options: ConvertOptions, issues: SourceIssue[]): Promise<Row[]> {
  const rows: Row[] = [];
  for (const s of read.samples) {
    const b = budgetOf(s.prompt, options.budgetPattern);
    const key = (b.sentence ? s.prompt.replace(b.sentence, '') : s.prompt).trim();
    let nGen: number;
    let nGenSource: Row['nGenSource'];
    let marks: [number, number][] | undefined;
    let ids: number[] | undefined;
    if (options.tokenizer) {
      ids = options.tokenizer.encode(s.completion);
      nGen = ids.length;
      nGenSource = 'tokenizer';
      const at = new Set<number>([nGen]);
      for (let k = BEAM; k < nGen; k += BEAM) at.add(k);
      const len = cpLength(s.completion);
      marks = [...at].sort((a, x) => a - x).map((k) => [k, Math.min(len, cpLength(options.tokenizer!.decode(ids!.slice(0, k))))]);
    } else if (s.tokens !== undefined) {
      nGen = s.tokens;
      nGenSource = 'recorded';
    } else {
      nGen = Math.ceil(s.completion.length / 4);
      nGenSource = 'estimate';
    }
    rows.push({ s, budget: b.budget, key, nGen, nGenSource, marks, ids, correct: false });
  }
  // tier budgets need marks too (the trace's ⟨b⟩ markers)
  const tiers = tiersOf(rows);
  if (options.tokenizer) {
    for (const r of rows) {
      if (!r.marks || !r.ids) continue;
      const ids = r.ids;
      const have = new Set(r.marks.map((m) => m[0]));
      const len = cpLength(r.s.completion);
      for (const t of tiers) if (t < r.nGen && !have.has(t)) r.marks.push([t, Math.min(len, cpLength(options.tokenizer.decode(ids.slice(0, t))))]);
      r.marks.sort((a, b) => a[0] - b[0]);
      r.ids = undefined;
    }
  }
  // correctness: the file's verdict, else the grader, else an issue
  const toGrade = rows.filter((r) => r.s.correct === undefined && r.s.groundTruth !== undefined);
  const graded = toGrade.length && options.grade ? await options.grade(toGrade.map((r) => ({ text: r.s.completion, groundTruth: r.s.groundTruth! }))) : [];
  const gradedOf = new Map(toGrade.map((r, i) => [r, graded[i]] as const));
  for (const r of rows) {
    if (r.s.correct !== undefined) r.correct = r.s.correct;
    else if (gradedOf.get(r) !== undefined && gradedOf.get(r) !== null) r.correct = gradedOf.get(r)!;
    else {
      r.correct = false;
      issues.push({ file: r.s.file, line: r.s.line, row: r.s.row, field: 'correct',
        message: r.s.groundTruth === undefined ? 'no correctness field and no ground truth: counted wrong' : 'no correctness field and no grader: counted wrong' });
    }
  }
  return rows;
}

function tiersOf(rows: Row[]): number[] {
  return [...new Set(rows.map((r) => r.budget).filter((b): b is number => b !== null))].sort((a, b) => a - b);
}

function contextOf(rows: Row[], options: ConvertOptions): ConvertContext {
  const tiers = tiersOf(rows);
  let maxN = 0;
  for (const r of rows) maxN = Math.max(maxN, r.nGen);
  return {
    lMax: options.maxResponseTokens ?? Math.max(tiers.length ? Math.ceil(tiers[tiers.length - 1] * 1.6) : 0, maxN, 1),
    tiers,
    tokens: options.tokenizer ? 'tokenizer' : rows.length && rows.every((r) => r.nGenSource === 'recorded') ? 'recorded' : 'estimate',
    recorded: [...new Set(rows.flatMap((r) => Object.keys(r.s.recorded).filter((k) => typeof r.s.recorded[k] === 'number')))],
    rewardName: tiers.length ? 'hbpo' : 'binary',
    allTiered: rows.length > 0 && rows.every((r) => r.budget !== null),
  };
}

/** The run_start of a converted run (`resumedFrom`: the step an appended part goes on from, as a
 * resumed native run's run_start says; `pid`: the process converting, alive while it writes). */
export function runStartOf(read: Pick<SourceRead, 'kind' | 'path' | 'mtime'>, files: number, ctx: ConvertContext, options: ConvertOptions,
  at: { totalSteps: number; resumedFrom?: number | null; pid?: number }): RunStartEvent {
  const label = SOURCE_LABELS[read.kind];
  return {
    v: 2, type: 'run_start', time: read.mtime || Date.now() / 1000, step: at.resumedFrom ?? 0, run_id: `${read.kind}:${read.path}`,
    config: {
      source: {
        kind: read.kind, label, path: read.path, files, tokens: ctx.tokens,
        tokenizer: options.tokenizer?.path ?? null,
        budget_pattern: options.budgetPattern ?? null,
        grouping: 'rollouts of one prompt (budget sentence removed) at one step',
        recomputed: ['reward', 'advantage'], recorded: ctx.recorded,
      },
      tiers: ctx.tiers, max_response_tokens: ctx.lMax,
    },
    method: ctx.tiers.length ? 'hbpo' : 'grpo', tiers: ctx.tiers, max_response_tokens: ctx.lMax, total_steps: at.totalSteps,
    device: `${label} (external)`, dtype: 'unknown', pid: at.pid ?? 0, resumed_from_step: at.resumedFrom ?? null,
    reward: { name: ctx.rewardName, variant: 'paper', alpha: 1 / ctx.lMax, beta: 4, max_response_tokens: ctx.lMax },
    advantage: { name: ctx.allTiered ? 'hbpo' : 'grpo', eps: 1e-6 },
  };
}

export function runEndOf(kind: SourceKind, step: number, time = Date.now() / 1000): RunEvent {
  return { v: 2, type: 'run_end', time, step, status: 'finished', reason: `read from ${SOURCE_LABELS[kind]} files`, checkpoint: null };
}

/** The context a part of a run would fix (its rows' tiers, longest rollout, columns). */
export async function contextOfRead(read: SourceRead, options: ConvertOptions = {}): Promise<{ ctx: ConvertContext; rows: Row[]; issues: SourceIssue[] }> {
  const issues = [...read.issues];
  const rows = await rowsOf(read, options, issues);
  return { ctx: contextOf(rows, options), rows, issues };
}

/** A read's steps as events against `ctx` (no run_start, no run_end). */
export async function convertPart(read: SourceRead, ctx: ConvertContext, options: ConvertOptions = {},
  prepared?: { rows: Row[]; issues: SourceIssue[] }): Promise<ConvertedPart> {
  const issues = prepared?.issues ?? [...read.issues];
  const rows = prepared?.rows ?? (await rowsOf(read, options, issues));
  const time = read.mtime || Date.now() / 1000;
  const params = { lMax: ctx.lMax, alpha: 1 / ctx.lMax, beta: 4 };
  const events: RunEvent[] = [];
  for (const i of issues) events.push({ v: 2, type: 'log', time, step: 0, level: 'warning', message: issueText(i) });
  let longer = 0;
  for (const r of rows) if (r.nGen > ctx.lMax) longer++;
  if (longer) {
    events.push({ v: 2, type: 'log', time, step: 0, level: 'warning',
      message: `${read.files.map((f) => basename(f)).join(', ')}: ${longer} rollouts are longer than L_max ${ctx.lMax} (fixed when the run was first read); set hbpo.external.maxResponseTokens` });
  }
  // groups: (step, prompt without its budget sentence), first seen first
  const steps = [...new Set(rows.map((r) => r.s.step))].sort((a, b) => a - b);
  let groupCount = 0;
  let merged = 0;
  const usual = usualTierCount(rows);
  const rowsByStep = new Map<number, Row[]>();
  for (const r of rows) {
    const g = rowsByStep.get(r.s.step);
    if (g) g.push(r);
    else rowsByStep.set(r.s.step, [r]);
  }
  for (const step of steps) {
    const inStep = rowsByStep.get(step)!;
    const byKey = new Map<string, Row[]>();
    for (const r of inStep) {
      const g = byKey.get(r.key);
      if (g) g.push(r);
      else byKey.set(r.key, [r]);
    }
    const stepRollouts: RolloutEvent[] = [];
    let q = 0;
    for (const [key, group] of byKey) {
      groupCount++;
      // Two dataset rows with the same text at one step cannot be told apart: a (group, tier) with
      // more rollouts than the run's usual count is counted as possibly merged.
      const perTier = new Map<number | null, number>();
      for (const r of group) perTier.set(r.budget, (perTier.get(r.budget) ?? 0) + 1);
      if ([...perTier.values()].some((c) => c > usual)) merged++;
      const breakdowns: RewardBreakdown[] = group.map((r) => rewardBreakdown({
        ...params, reward: r.budget === null ? (ctx.rewardName === 'hbpo' ? 'cosine' : 'binary') : 'hbpo', variant: 'paper',
        nGen: r.nGen, budget: r.budget, correct: r.correct, truncated: false,
      }));
      const adv = advantages({
        estimator: group.every((r) => r.budget !== null) ? 'hbpo' : 'grpo', budgets: group.map((r) => r.budget),
        rewards: breakdowns.map((b) => b.reward), beta: params.beta, lMax: ctx.lMax, eps: 1e-6,
      });
      const samples = new Map<number | null, number>();
      group.forEach((r, i) => {
        const sample = samples.get(r.budget) ?? 0;
        samples.set(r.budget, sample + 1);
        const where = r.s.line !== undefined ? `line ${r.s.line}` : `row ${r.s.row ?? 0}`;
        const ev: RolloutEvent & Record<string, unknown> = {
          v: 2, type: 'rollout', time, step, query_id: `${step}:${q}`, query_index: q, sample, tier: r.budget,
          problem: r.s.problem ?? key, difficulty: r.s.difficulty ?? null, prompt: r.s.prompt, text: r.s.completion,
          n_gen: r.nGen, truncated: false, correct: r.correct, answer: boxedAnswer(r.s.completion),
          ground_truth: r.s.groundTruth ?? '', reward: breakdowns[i],
          advantage: { intra: adv.intra[i], inter: adv.inter[i], total: adv.total[i] },
          n_gen_source: r.nGenSource, recomputed: ['reward', 'advantage'], recorded: r.s.recorded,
          source: { file: r.s.file, where },
        };
        if (r.marks) ev.token_marks = r.marks;
        stepRollouts.push(ev);
      });
      q++;
    }
    events.push(...stepRollouts);
    events.push(stepEvent(step, time, inStep, stepRollouts));
  }
  return { events, issues, rollouts: rows.length, steps, tiers: tiersOf(rows), groups: groupCount, mergedGroups: merged };
}

/** A whole read as one run's events: run_start, every step, run_end. */
export async function convertSource(read: SourceRead, options: ConvertOptions = {}): Promise<ConvertReport> {
  const { ctx, rows, issues } = await contextOfRead(read, options);
  const part = await convertPart(read, ctx, options, { rows, issues });
  const last = part.steps.length ? part.steps[part.steps.length - 1] : 0;
  const events = [runStartOf(read, read.files.length, ctx, options, { totalSteps: last }), ...part.events, runEndOf(read.kind, last, read.mtime || Date.now() / 1000)];
  return { events, issues: part.issues, rollouts: part.rollouts, steps: part.steps, tiers: ctx.tiers, groups: part.groups, mergedGroups: part.mergedGroups, tokens: ctx.tokens };
}

/** The most common number of rollouts a (step, prompt, tier) has. */
function usualTierCount(rows: Row[]): number {
  const counts = new Map<string, number>();
  for (const r of rows) {
    const k = `${r.s.step}\u0000${r.key}\u0000${r.budget}`;
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  const freq = new Map<number, number>();
  for (const c of counts.values()) freq.set(c, (freq.get(c) ?? 0) + 1);
  let best = 1;
  let bestF = 0;
  for (const [c, f] of freq) if (f > bestF || (f === bestF && c < best)) (best = c), (bestF = f);
  return best;
}

function stepEvent(step: number, time: number, rows: Row[], rollouts: RolloutEvent[]): StepEvent {
  const byTier = new Map<number | null, RolloutEvent[]>();
  for (const r of rollouts) {
    const g = byTier.get(r.tier) ?? [];
    g.push(r);
    byTier.set(r.tier, g);
  }
  const perTier = [...byTier.keys()].sort((a, b) => (a === null ? -1 : b === null ? 1 : a - b)).map((tier) => {
    const g = byTier.get(tier)!;
    const lengths = g.map((r) => r.n_gen);
    const m: Record<string, number | null> = {
      mean_length: mean(lengths), length_std: pstd(lengths), min_length: Math.min(...lengths), max_length: Math.max(...lengths),
      accuracy: mean(g.map((r) => Number(r.correct))), reward: mean(g.map((r) => r.reward.reward)), truncated: 0,
    };
    if (tier !== null) {
      m['reward/f1'] = mean(g.map((r) => r.reward.f1 as number));
      m['reward/f2'] = g[0].reward.f2;
      m.over_budget = mean(g.map((r) => Number(r.n_gen > tier)));
    }
    m['advantage/intra'] = mean(g.map((r) => r.advantage.intra));
    m['advantage/inter'] = mean(g.map((r) => r.advantage.inter));
    return { tier, metrics: m };
  });
  const rewards = rollouts.map((r) => r.reward.reward);
  const metrics: Record<string, number | null> = {
    'reward/mean': mean(rewards), 'reward/std': pstd(rewards), accuracy: mean(rollouts.map((r) => Number(r.correct))),
    'length/mean': mean(rollouts.map((r) => r.n_gen)), 'length/std': pstd(rollouts.map((r) => r.n_gen)),
  };
  // the file's own numeric columns, as recorded
  const cols = new Map<string, number[]>();
  for (const r of rows) for (const [k, v] of Object.entries(r.s.recorded)) if (typeof v === 'number' && Number.isFinite(v)) {
    const c = cols.get(k) ?? [];
    c.push(v);
    cols.set(k, c);
  }
  for (const [k, v] of cols) metrics[`recorded/${metricName(k)}/mean`] = mean(v);
  return { v: 2, type: 'step', time, step, metrics, per_tier: perTier };
}

/** Write the events as `<dir>/events.jsonl` (a temporary file renamed into place). */
export async function writeRunFolder(dir: string, events: RunEvent[]): Promise<string> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, 'events.jsonl');
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, events.map((e) => JSON.stringify(e)).join('\n') + '\n', 'utf8');
  await rename(tmp, path);
  return path;
}
