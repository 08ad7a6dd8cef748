/**
 * Annotations of trace documents (extension/traces/annotate.ts): tier crossings, tokens and reward
 * at a point, reflection markers and phases, lens and hover text, on a trace whose token marks come
 * from the real tokenizer, plus the document layout and the live-trace addresses.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { rewardBreakdown } from '../../../common/budgetMath';
import type { RolloutEvent } from '../../../extension/events';
import type { RunInfo } from '../../../extension/runs/runModel';
import {
  annotate, cleanPatterns, DEFAULT_REASONING_PATTERNS, headerLens, hoverLines, lineTable, offsetOf, overBudget,
  patternMatches, phases, positionOf, specOfRollout, tierCrossings, tokensAt, type TraceSpec,
} from '../../../extension/traces/annotate';
import { formatTrace, formatTraceDocument, layoutTrace } from '../../../extension/traces/traceText';
import { liveTraceUriParts, parseLiveTraceUri, parseTraceUri, traceUriParts } from '../../../extension/traces/traceUri';

/**
 * A trace and its marks as the trainer records them: the tiny test tokenizer
 * (`hbpo.tiny.build_tokenizer(320)`, byte-level BPE) encoded this text plus EOS (263 tokens) and
 * `hbpo.rollout.token_marks(tok, ids, [24, 48, 96, 10_000])` gave these marks (every 32 tokens,
 * at the tiers, at n_gen; 10 000 is past the end and not marked).
 */
const TEXT =
  '<think>\nWe need 17 * 23. 17 * 20 = 340 and 17 * 3 = 51, so 340 + 51 = 391.\n' +
  'Wait, let me check: 23 * 17 = 23 * 10 + 23 * 7 = 230 + 161 = 391. Awaiting nothing, hmmm.\n' +
  'Hmm, but wait, is 23 * 7 really 161? 20 * 7 = 140 and 3 * 7 = 21, 140 + 21 = 161. Yes.\n' +
  'Alternatively: 17 * 23 = (20 - 3) * 23 = 460 - 69 = 391. Let me verify once more: 391 / 17 = 23.\n' +
  '</think>\nThe answer is \\boxed{391}.';
const N_GEN = 263;
const MARKS: [number, number][] = [
  [24, 41], [32, 54], [48, 75], [64, 94], [96, 143], [128, 179], [160, 232], [192, 273], [224, 319], [256, 378], [263, 384],
];
const PARAMS = { reward: 'hbpo', variant: 'paper', lMax: 320, alpha: 1 / 320, beta: 4 } as const;
const TIERS = [24, 48, 96, 288];

function spec(over: Partial<TraceSpec> = {}): TraceSpec {
  const base: TraceSpec = {
    text: TEXT, tokens: N_GEN, marks: MARKS, tier: 96, tiers: TIERS, params: { ...PARAMS }, correct: true, truncated: false, done: true,
  };
  const s = { ...base, ...over };
  if (!('reward' in over) && (s.tier !== null || s.params.reward === 'cosine' || s.params.reward === 'binary')) {
    s.reward = rewardBreakdown({ ...s.params, nGen: s.tokens, budget: s.tier, correct: s.correct ?? false, truncated: s.truncated });
  }
  if (!('advantage' in over)) s.advantage = { intra: -0.25, inter: 0.5, total: 0.25 };
  return s;
}

const reward = (n: number, budget: number | null) =>
  rewardBreakdown({ ...PARAMS, nGen: n, budget, correct: true, truncated: false });

test('the fixture is consistent: marks ascending, within the text, the last at n_gen and the text end', () => {
  assert.equal(TEXT.length, 384);
  assert.deepEqual(MARKS.at(-1), [N_GEN, TEXT.length]);
  for (let i = 1; i < MARKS.length; i++) assert.ok(MARKS[i][0] > MARKS[i - 1][0] && MARKS[i][1] >= MARKS[i - 1][1]);
});

test('tier markers sit exactly where the first b tokens end; tiers not reached get none', () => {
  const s = spec();
  assert.deepEqual(tierCrossings(s), [
    { tier: 24, char: 41, exact: true },
    { tier: 48, char: 75, exact: true },
    { tier: 96, char: 143, exact: true },
  ]);
  assert.equal(TEXT.slice(75, 79), 'Wait', 'tier 48 ends right before "Wait"');
  // A tier between two marks: not exact, placed at the later mark (by then the budget is spent).
  assert.deepEqual(tierCrossings(spec({ tiers: [40, 1000] })), [{ tier: 40, char: 75, exact: false }]);
  // A trace ending exactly at its budget reaches it.
  assert.deepEqual(tierCrossings(spec({ tiers: [263] })), [{ tier: 263, char: 384, exact: true }]);
  // Tiers unsorted, duplicated or invalid.
  assert.deepEqual(tierCrossings(spec({ tiers: [96, 24, 24, 0, -5, NaN] })).map((c) => c.tier), [24, 96]);
});

test('the text beyond the rollout\'s own budget is shaded; none in natural mode, within budget, or without marks', () => {
  assert.deepEqual(overBudget(spec()), { start: 143, end: 384, exact: true });
  assert.equal(overBudget(spec({ tier: null })), undefined);
  assert.equal(overBudget(spec({ tier: 288 })), undefined);
  assert.equal(overBudget(spec({ tier: 263 })), undefined, 'exactly at budget');
  assert.equal(overBudget(spec({ marks: undefined })), undefined);
  // Its own tier need not be among the run's tiers.
  assert.deepEqual(overBudget(spec({ tier: 64, tiers: [] })), { start: 94, end: 384, exact: true });
});

test('tokens at a point: exact at marks, the honest range between them', () => {
  const s = spec();
  assert.deepEqual(tokensAt(s, 0), { lo: 0, hi: 0 });
  assert.deepEqual(tokensAt(s, 41), { lo: 24, hi: 24 });
  assert.deepEqual(tokensAt(s, 143), { lo: 96, hi: 96 });
  assert.deepEqual(tokensAt(s, 384), { lo: 263, hi: 263 });
  assert.deepEqual(tokensAt(s, 10), { lo: 1, hi: 24 });
  assert.deepEqual(tokensAt(s, 50), { lo: 25, hi: 32 });
  assert.deepEqual(tokensAt(s, 144), { lo: 97, hi: 128 });
  assert.deepEqual(tokensAt(s, 380), { lo: 257, hi: 263 });
  assert.deepEqual(tokensAt(s, 10_000), { lo: 263, hi: 263 }, 'clamped to the text');
  assert.equal(tokensAt(spec({ marks: undefined }), 50), undefined, 'never guessed from characters');
  assert.equal(tokensAt(spec({ marks: [] }), 50), undefined);
  // Marks that decode to the same text (EOS, empty tokens): the range of them.
  const eos = spec({ text: 'ab', tokens: 3, marks: [[2, 2], [3, 2]] });
  assert.deepEqual(tokensAt(eos, 2), { lo: 2, hi: 3 });
  assert.deepEqual(tokensAt(eos, 1), { lo: 1, hi: 2 });
});

test('marks count code points (Python) and are mapped to UTF-16 offsets; bad marks are cleaned', () => {
  const s = spec({ text: 'a😀b😀', tokens: 4, marks: [[1, 1], [2, 2], [3, 3], [4, 4]], tiers: [2, 3], tier: 2 });
  assert.deepEqual(tierCrossings(s), [{ tier: 2, char: 3, exact: true }, { tier: 3, char: 4, exact: true }]);
  assert.deepEqual(tokensAt(s, 6), { lo: 4, hi: 4 });
  assert.deepEqual(overBudget(s), { start: 3, end: 6, exact: true });
  // Out of order, duplicated, past the text, a prefix decoding one character too long.
  const messy = spec({ text: 'abcdef', tokens: 6, tiers: [2, 4], marks: [[4, 5], [2, 3], [2, 9], [3, 6], [6, 99], [5, 4]] });
  assert.deepEqual(tokensAt(messy, 6), { lo: 6, hi: 6 });
  assert.deepEqual(tierCrossings(messy), [{ tier: 2, char: 3, exact: true }, { tier: 4, char: 4, exact: true }]);
});

test('a streaming trace: text ahead of its marks ends at the tokens so far', () => {
  const s = spec({ text: TEXT.slice(0, 70), tokens: 40, marks: [[24, 41], [32, 54]], done: false, correct: null, reward: undefined, advantage: undefined });
  assert.deepEqual(tokensAt(s, 60), { lo: 33, hi: 40 });
  assert.deepEqual(tokensAt(s, 70), { lo: 40, hi: 40 });
  assert.deepEqual(tierCrossings(s), [{ tier: 24, char: 41, exact: true }]);
  const [main] = headerLens(s);
  assert.equal(main, 'tier 96 · 40 tokens so far (56 under budget) · answer pending · reward pending (still generating)');
  assert.ok(hoverLines(s, 60).includes('still generating'));
  // A spec mutated in place as it streams is read afresh.
  s.text = TEXT.slice(0, 94);
  s.tokens = 64;
  s.marks!.push([48, 75], [64, 94]);
  assert.deepEqual(tokensAt(s, 80), { lo: 49, hi: 64 });
  assert.deepEqual(tierCrossings(s).map((c) => c.tier), [24, 48]);
});

test('reflection markers: case-insensitive whole words, the longest of overlapping patterns', () => {
  const ms = patternMatches(TEXT, DEFAULT_REASONING_PATTERNS);
  assert.deepEqual(ms.map((m) => [m.phrase, TEXT.slice(m.start, m.end)]), [
    ['wait', 'Wait'],
    ['let me check', 'let me check'],
    ['hmm', 'Hmm'], // not "hmmm", and "Awaiting" is not "wait"
    ['but wait', 'but wait'], // one marker, not also "wait"
    ['alternatively', 'Alternatively'],
    ['let me verify', 'Let me verify'],
  ]);
  assert.deepEqual(ms.map((m) => m.start), [75, 81, 165, 170, 252, 309]);
  assert.deepEqual(patternMatches('Let  me\nCHECK; re-wait wait_x waiting wait.', ['let me check', 'WAIT', ' wait ', '']).map((m) => [m.start, m.end]),
    [[0, 13], [18, 22], [38, 42]], 'white space runs, punctuation (and hyphens) as boundaries, not "_" or letters; duplicates and blanks ignored');
  assert.deepEqual(patternMatches('a (b) c.*d', ['(b)', '.*']).map((m) => m.phrase), ['(b)'], 'regex characters are literal; ".*" inside "c.*d" is no whole word');
  assert.deepEqual(patternMatches('x double-check y', ['double-check', 'check']).map((m) => m.phrase), ['double-check']);
  assert.deepEqual(patternMatches(TEXT, []), []);
});

test('the setting: strings only, trimmed, lower case, bounded; not an array means the defaults', () => {
  assert.deepEqual(cleanPatterns([' Wait ', 'wait', 7, 'x'.repeat(101), 'a\nb', '']), ['wait', 'a b']);
  assert.deepEqual(cleanPatterns(undefined), [...DEFAULT_REASONING_PATTERNS]);
  assert.equal(cleanPatterns(Array.from({ length: 500 }, (_, i) => `p${i}`)).length, 100);
  const pkg = JSON.parse(readFileSync(join(fileURLToPath(import.meta.url), '../../../../package.json'), 'utf8'));
  const setting = pkg.contributes.configuration.properties['hbpo.traces.reasoningPatterns'];
  assert.deepEqual(setting.default, DEFAULT_REASONING_PATTERNS, 'package.json default = the built-in list');
});

test('phases between markers, with the tokens each took from the marks (ranges where not exact)', () => {
  const s = spec();
  const ph = phases(s, patternMatches(TEXT, DEFAULT_REASONING_PATTERNS));
  assert.deepEqual(ph.map((p) => [p.start, p.end, p.marker, p.tokens]), [
    [0, 75, null, { lo: 48, hi: 48 }], // exact: both ends on marks
    [75, 81, 'wait', { lo: 1, hi: 16 }], // 48 → 49..64
    [81, 165, 'let me check', { lo: 33, hi: 79 }], // 49..64 → 97..128
    [165, 170, 'hmm', { lo: 0, hi: 31 }],
    [170, 252, 'but wait', { lo: 33, hi: 95 }],
    [252, 309, 'alternatively', { lo: 1, hi: 63 }],
    [309, 384, 'let me verify', { lo: 39, hi: 70 }], // 193..224 → 263
  ]);
  assert.deepEqual(phases(s, []).map((p) => p.tokens), [{ lo: 263, hi: 263 }]);
  assert.deepEqual(phases(spec({ text: 'wait, yes', marks: undefined }), patternMatches('wait, yes', ['wait'])).map((p) => [p.start, p.marker, p.tokens]),
    [[0, 'wait', undefined]], 'a trace opening with a marker has no empty first phase');
});

test('header lens: tier, tokens, over/under budget, correctness, reward terms with the case, advantages', () => {
  const s = spec();
  const r = reward(N_GEN, 96);
  assert.equal(r.case, 'over');
  const [main, markers] = headerLens(s, patternMatches(TEXT, DEFAULT_REASONING_PATTERNS));
  assert.equal(main, `tier 96 · 263 tokens (167 over budget) · correct · reward ${r.reward.toFixed(4)} = f1 = cos ${r.cos.toFixed(4)} − penalty ${r.penalty!.toFixed(6)} (case over) · advantage intra -0.2500 · inter 0.5000 · total 0.2500`);
  assert.equal(r.penalty, 167 / 320);
  assert.equal(markers, 'reasoning markers: 6 (“wait” ×1, “let me check” ×1, “hmm” ×1, “but wait” ×1, “alternatively” ×1, “let me verify” ×1) · 7 phases, tokens: 48, 1–16, 33–79, 0–31, 33–95, 1–63, 39–70');

  const within = spec({ tier: 288 });
  assert.equal(headerLens(within)[0].split(' · advantage')[0],
    `tier 288 · 263 tokens (25 under budget) · correct · reward ${reward(N_GEN, 288).reward.toFixed(4)} = f2(288) ${reward(N_GEN, 288).f2!.toFixed(4)} (case within)`);
  const wrong = spec({ correct: false });
  assert.match(headerLens(wrong)[0], / · wrong · reward 0\.0000 \(case wrong\) · /);
  const ref = spec({ params: { ...PARAMS, variant: 'reference' } });
  assert.match(headerLens(ref)[0], /reward \S+ = min\(f1 \S+, f2 \S+\) · f1 = cos \S+ − penalty \S+ \(case over\)/);
  const natural = spec({ tier: null, params: { ...PARAMS, reward: 'cosine' } });
  assert.match(headerLens(natural)[0], /^natural mode \(no budget\) · 263 tokens · correct · reward \S+ = cos \S+ \(case natural\)/);
  const old = spec({ marks: undefined });
  assert.match(headerLens(old)[1], /token marks missing \(older run\): no tier markers, no shading, no token counts$/);
  assert.deepEqual(annotate(old).crossings, []);
  assert.equal(annotate(old).marksMissing, true);
});

test('hover: tokens at the point and the reward there under every tier, at both ends of a range', () => {
  const s = spec();
  const m = annotate(s);
  const fmt = (x: number) => x.toFixed(4);
  assert.deepEqual(hoverLines(s, 143, m), [
    '96 tokens at this point',
    "within this rollout's budget of 96 tokens",
    'reward if the answer ended here and were correct (hbpo, paper):',
    `tier 24: ${fmt(reward(96, 24).reward)} (over)`,
    `tier 48: ${fmt(reward(96, 48).reward)} (over)`,
    `tier 96: ${fmt(reward(96, 96).reward)} (within)`,
    `tier 288: ${fmt(reward(96, 288).reward)} (within)`,
    'phase 3 of 7 (opened by “let me check”): 33–79 tokens',
  ]);
  const between = hoverLines(s, 172, m); // inside "but wait", between marks 96 (143) and 128 (179)
  assert.deepEqual(between.slice(0, 4), [
    'tokens 97–128 at this point (between two token marks; counts are exact only at marks)',
    "beyond this rollout's budget of 96 tokens",
    'reward if the answer ended here and were correct, at 97 and at 128 tokens (hbpo, paper):',
    `tier 24: ${fmt(reward(97, 24).reward)} → ${fmt(reward(128, 24).reward)} (over)`,
  ]);
  assert.ok(between.includes(`tier 96: ${fmt(reward(97, 96).reward)} → ${fmt(reward(128, 96).reward)} (over)`));
  assert.ok(between.includes(`tier 288: ${fmt(reward(97, 288).reward)} → ${fmt(reward(128, 288).reward)} (within)`));
  assert.ok(between.includes('reasoning marker “but wait” (4 of 6)'));
  assert.ok(between.includes('phase 5 of 7 (opened by “but wait”): 33–95 tokens'));
  // A tier crossed inside the range.
  assert.ok(hoverLines(s, 80, m).includes(`tier 48: ${fmt(reward(49, 48).reward)} → ${fmt(reward(64, 48).reward)} (over)`));
  assert.ok(hoverLines(s, 50, m).includes(`tier 48: ${fmt(reward(25, 48).reward)} → ${fmt(reward(32, 48).reward)} (within)`));

  assert.ok(hoverLines(spec({ correct: false }), 143).includes("this rollout's answer was wrong: it earned 0 whatever its length"));
  assert.deepEqual(hoverLines(spec({ marks: undefined }), 143).slice(0, 1), ['token marks missing (older run): the tokens at this point are unknown']);
  const cos = hoverLines(spec({ tier: null, params: { ...PARAMS, reward: 'cosine' } }), 143);
  const cos96 = rewardBreakdown({ ...PARAMS, reward: 'cosine', nGen: 96, budget: null, correct: true, truncated: false });
  assert.deepEqual(cos.slice(0, 3), ['96 tokens at this point', 'reward if the answer ended here and were correct (cosine):', `natural mode: ${fmt(cos96.reward)} (natural)`]);
});

test('trace text that looks like markup never reaches lens titles or hover lines', () => {
  const evil = `<img src=x onerror="alert(1)"><script>alert('wait')</script> [x](command:evil) $(zap) **Wait** </think>`;
  const s = spec({ text: evil, tokens: 40, marks: [[32, 60], [40, evil.length]], tier: 32, tiers: [32] });
  const m = annotate(s, ['wait', '<b>']);
  const all = [...m.lenses, ...Array.from({ length: evil.length + 1 }, (_, i) => hoverLines(s, i, m)).flat()];
  for (const line of all) {
    for (const bad of ['<', '>', 'img', 'script', 'onerror', 'alert', 'command:', '$(zap)', '**', 'think']) {
      assert.ok(!line.includes(bad), `${JSON.stringify(line)} contains ${bad}`);
    }
  }
  assert.ok(m.matches.length === 2 && m.matches.every((x) => x.phrase === 'wait'), 'the configured phrase, not the matched text');
});

test('document positions: offsets map to lines with the editor\'s line breaks (\\r\\n, \\r, \\n)', () => {
  const content = 'ab\r\ncd\ref\ng';
  const t = lineTable(content);
  assert.deepEqual(t, [{ start: 0, end: 2 }, { start: 4, end: 6 }, { start: 7, end: 9 }, { start: 10, end: 11 }]);
  assert.deepEqual(positionOf(t, 5), { line: 1, character: 1 });
  assert.deepEqual(positionOf(t, 3), { line: 0, character: 2 }, 'inside \\r\\n: the end of the line');
  assert.deepEqual(positionOf(t, 11), { line: 3, character: 1 });
  assert.equal(offsetOf(t, 2, 1), 8);
  assert.equal(offsetOf(t, 1, 99), 6);
  for (const off of [0, 1, 2, 4, 5, 6, 7, 8, 9, 10, 11]) {
    const p = positionOf(t, off);
    assert.equal(offsetOf(t, p.line, p.character), off);
  }
});

const ROLLOUT: RolloutEvent = {
  v: 1, type: 'rollout', time: 1, step: 3, query_id: 'q-7', query_index: 2, sample: 5, tier: 96, problem: 'What is 17 * 23?\r\nShow work.',
  difficulty: 'easy', prompt: '<think>\nI will answer the question within 96 tokens.\n', text: TEXT, n_gen: N_GEN, token_marks: MARKS,
  truncated: false, correct: true, answer: '391', ground_truth: '391',
  reward: { ...reward(N_GEN, 96), case: 'over' }, advantage: { intra: -0.25, inter: 0.5, total: 0.25 },
};

test('the document body starts at bodyOffset; the header and formatTrace are unchanged', () => {
  const doc = formatTraceDocument(ROLLOUT, 'run 1');
  assert.equal(doc.content.slice(doc.bodyOffset, doc.bodyOffset + TEXT.length), TEXT);
  assert.equal(doc.content, formatTrace(ROLLOUT, 'run 1'));
  assert.ok(doc.content.endsWith(`trace (263 tokens)\n${'─'.repeat(72)}\n${TEXT}\n`));
  assert.equal(doc.content.split('\n')[0], 'HBPO rollout · run 1 · read-only');
  // A tier marker's document position, through the line table, lands before "Wait".
  const t = lineTable(doc.content);
  const p = positionOf(t, doc.bodyOffset + 75);
  assert.equal(doc.content.split(/\r\n|\r|\n/)[p.line].slice(p.character, p.character + 4), 'Wait');
  const live = layoutTrace(['line one', 'two\nlines'], 'p', 'q', 'body', '12 tokens so far');
  assert.equal(live.content.split('\n')[1], 'two lines', 'header lines stay one line each');
  assert.equal(live.content.slice(live.bodyOffset), 'body\n');
});

test('a rollout\'s spec takes the run\'s tiers, max_response_tokens and reward section', () => {
  const info = {
    step: 0, time: 0, run_id: 'r', method: 'hbpo', tiers: TIERS, max_response_tokens: 320, total_steps: 1, device: 'cpu', dtype: 'float32',
    pid: 1, resumed_from_step: null, config: { reward: { name: 'hbpo', variant: 'reference', alpha: 0.01, beta: 2 } },
  } as RunInfo;
  const s = specOfRollout(ROLLOUT, info);
  assert.deepEqual(s.params, { reward: 'hbpo', variant: 'reference', lMax: 320, alpha: 0.01, beta: 2 });
  assert.deepEqual([s.tiers, s.tier, s.tokens, s.marks, s.correct, s.done], [TIERS, 96, N_GEN, MARKS, true, true]);
  assert.equal(specOfRollout(ROLLOUT, { ...info, config: {} }).params.alpha, 1 / 320, 'alpha defaults to 1 / L_max');
  // Schema v2: the typed fields, not the config dict, say what the run used.
  const v2 = { ...info, config: {}, reward: { name: 'cosine' as const, variant: 'paper' as const, alpha: 0.5, beta: 3, max_response_tokens: 256 }, advantage: { name: 'grpo', eps: 1e-6 } };
  assert.deepEqual(specOfRollout(ROLLOUT, v2).params, { reward: 'cosine', variant: 'paper', lMax: 256, alpha: 0.5, beta: 3 });
  assert.equal(specOfRollout(ROLLOUT, { ...info, config: { reward: { name: 'l1-exact' } } }).params.reward, 'l1-exact', 'v1: the resolved config');
  assert.equal(specOfRollout(ROLLOUT, undefined).params.reward, 'hbpo');
  const older = specOfRollout({ ...ROLLOUT, token_marks: undefined }, undefined);
  assert.deepEqual([older.marks, older.tiers, older.params.lMax], [undefined, [96], 4096]);
});

test('live trace addresses round-trip and never parse as run traces (and back)', () => {
  const parts = liveTraceUriParts({ id: 'cmp-1&x=2', label: 'tier 512 / sample 3' });
  assert.equal(parts.path, '/compare/tier 512 _ sample 3.txt');
  assert.deepEqual(parseLiveTraceUri(parts.path, parts.query), { id: 'cmp-1&x=2', label: 'tier 512 _ sample 3' });
  assert.equal(parseTraceUri(parts.path, parts.query), undefined);
  const run = traceUriParts({ runDir: '/r', label: 'compare', step: 1, queryIndex: 2, tier: 8, sample: 3 });
  assert.equal(parseLiveTraceUri(run.path, run.query), undefined);
  assert.equal(parseLiveTraceUri('/compare/x.txt', ''), undefined);
});
