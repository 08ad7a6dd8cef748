import { checkModeKey, parseModeKey } from '../../../common/mode';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { rewardBreakdown } from '../../../common/budgetMath';
import { codePointMarks } from '../../../extension/compare/columnTrace';
import { planColumns, scoreColumn, trainerTokens } from '../../../extension/compare/comparison';
import { buildPrompt, promptHead, PROMPT_DEFAULTS } from '../../../extension/compare/prompt';
import { dedupeMarks, promptTokens, tokensBefore } from '../../../extension/inference/pure';
import { ColumnStore, meterOf, parseSettingsForm, summarize, formOfSettings } from '../../../common/compareView';
import {
  compareRequestProblem, parseCompareRequest, settingsProblems, type CompareSettings,
} from '../../../common/protocol/compare';

const SETTINGS: CompareSettings = { tiers: [32, 64], lMax: 256, modes: ['tier:32', 'tier:64', 'natural', 'efficiency'], samples: 2, temperature: 0.6, seed: 7 };
const TESTBED_TEMPLATE = "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}";

test('prompt defaults are the trainer\'s PromptConfig defaults', () => {
  const py = readFileSync(join(__dirname, '..', '..', '..', 'trainer', 'hbpo', 'config.py'), 'utf8');
  const field = (name: string) => {
    const m = new RegExp(`^\\s+${name}: str(?: \\| None)? = "((?:[^"\\\\]|\\\\.)*)"`, 'm').exec(py);
    assert.ok(m, `config.py has ${name}`);
    return JSON.parse(`"${m[1]}"`) as string; // Python and JSON escapes agree on these strings
  };
  assert.equal(PROMPT_DEFAULTS.questionTemplate, field('question_template'));
  assert.equal(PROMPT_DEFAULTS.thinkOpen, field('think_open'));
  assert.equal(PROMPT_DEFAULTS.budgetSentence, field('budget_sentence'));
  assert.equal(PROMPT_DEFAULTS.efficiencySentence, field('efficiency_sentence'));
  assert.match(py, /^\s+system: str \| None = None$/m);
});

test('prompts: the chat template is rendered, the think tag opened once, then the mode sentence', () => {
  const model = { chatTemplate: TESTBED_TEMPLATE, bosText: '<s>', eosText: '</s>' };
  const natural = buildPrompt(model, 'Let a = 2. What is a?', 'natural');
  assert.equal(natural.specialTokens, true);
  assert.equal(natural.text,
    '<s><|user|>\nLet a = 2. What is a?\nPlease reason step by step, and put your final answer within \\boxed{}.\n<|assistant|>\n<think>\n');
  assert.equal(buildPrompt(model, 'p', 'tier:512').text, `${promptHead(model, 'p').text}I will answer the question within 512 tokens.\n`);
  assert.equal(buildPrompt(model, 'p', 'efficiency').text, `${promptHead(model, 'p').text}I will answer the question with minimal tokens.\n`);
  // A template that opens the tag itself (R1-style) does not get a second one.
  const r1 = { chatTemplate: "{% for m in messages %}U: {{ m['content'] }}{% endfor %}A: <think>", bosText: '', eosText: '' };
  assert.equal(buildPrompt(r1, 'p', 'natural').text.match(/<think>/g)?.length, 1);
  assert.ok(buildPrompt(r1, 'p', 'natural').text.endsWith('<think>\n'));
  // No template: the plain question, special tokens not parsed (a problem could spell one out).
  const plain = buildPrompt({ chatTemplate: null, bosText: '<s>', eosText: '' }, '<|user|> x', 'tier:64');
  assert.equal(plain.specialTokens, false);
  assert.ok(plain.text.startsWith('<|user|> x\nPlease reason'));
  assert.throws(() => buildPrompt(model, 'p', 'tier:abc'), /unknown mode "tier:abc"/);
  assert.throws(() => promptHead({ chatTemplate: '{% for %}', bosText: '', eosText: '' }, 'p'), /chat template does not render/);
});

test('prompt tokens: a BOS the template wrote is dropped only when llama.cpp adds its own', () => {
  assert.deepEqual(promptTokens([1, 5, 6], 1, true), [5, 6]);
  assert.deepEqual(promptTokens([1, 5, 6], 1, false), [1, 5, 6]);
  assert.deepEqual(promptTokens([5, 6], 1, true), [5, 6]);
  assert.deepEqual(promptTokens([1, 5], null, true), [1, 5]);
});

test('columns: modes in order, samples within each, budgets from the mode', () => {
  const cols = planColumns(SETTINGS);
  assert.deepEqual(cols.map((c) => c.key), ['tier:32#0', 'tier:32#1', 'tier:64#0', 'tier:64#1', 'natural#0', 'natural#1', 'efficiency#0', 'efficiency#1']);
  assert.deepEqual(cols.map((c) => c.budget), [32, 32, 64, 64, null, null, null, null]);
  assert.ok(cols.every((c) => c.maxTokens === 256 && c.status === 'waiting' && c.tokens === 0));
});

test('tokens as the trainer counts them include the end-of-sequence token', () => {
  assert.equal(trainerTokens({ tokens: 40, stopReason: 'eos' }), 41);
  assert.equal(trainerTokens({ tokens: 256, stopReason: 'maxTokens' }), 256);
  assert.equal(trainerTokens({ tokens: 12, stopReason: 'abort' }), 12);
});

test('a column is scored with the HBPO reward against its budget, natural with the cosine term', () => {
  const p = { lMax: 256, alpha: 1 / 256, beta: 4 };
  assert.deepEqual(scoreColumn({ budget: 32, tokens: 30, stopReason: 'eos' }, true, 256),
    rewardBreakdown({ reward: 'hbpo', variant: 'paper', ...p, nGen: 30, budget: 32, correct: true, truncated: false }));
  const over = scoreColumn({ budget: 32, tokens: 50, stopReason: 'eos' }, true, 256);
  assert.equal(over.case, 'over');
  assert.ok(Math.abs(over.reward - (over.cos - over.penalty!)) < 1e-12);
  assert.equal(scoreColumn({ budget: 32, tokens: 30, stopReason: 'eos' }, false, 256).reward, 0);
  assert.equal(scoreColumn({ budget: 64, tokens: 256, stopReason: 'maxTokens' }, true, 256).case, 'truncated');
  const natural = scoreColumn({ budget: null, tokens: 100, stopReason: 'eos' }, null, 256);
  assert.equal(natural.case, 'natural');
  assert.ok(Math.abs(natural.reward - 4 * Math.cos((Math.PI * 100) / 512)) < 1e-12);
});

test('marks: chunks count the tokens of the text they carry; code points for trace specs', () => {
  const marks: [number, number][] = [[0, 0], [1, 3], [2, 5], [4, 9]];
  assert.equal(tokensBefore(marks, 0), 0);
  assert.equal(tokensBefore(marks, 4), 1);
  assert.equal(tokensBefore(marks, 9), 4);
  assert.deepEqual(dedupeMarks([[0, 0], [1, 3], [2, 3], [3, 5], [3, 6]]), [[0, 0], [2, 3], [3, 5]]);
  // "a😀b": the emoji is 2 UTF-16 units but one code point.
  assert.deepEqual(codePointMarks('a😀b', [[0, 0], [1, 1], [2, 3], [3, 4]]), [[0, 0], [1, 1], [2, 2], [3, 3]]);
});

test('mode keys and settings: checked field by field', () => {
  assert.deepEqual(parseModeKey('tier:512'), { kind: 'tier', budget: 512 });
  assert.equal(parseModeKey('tier:0'), undefined);
  assert.equal(parseModeKey('tier:-1'), undefined);
  assert.deepEqual(settingsProblems(SETTINGS), []);
  assert.match(settingsProblems({ ...SETTINGS, tiers: [64, 32] }).join(), /tiers: must ascend/);
  assert.match(settingsProblems({ ...SETTINGS, tiers: [512] }).join(), /largest must not exceed L_max/);
  assert.match(settingsProblems({ ...SETTINGS, samples: 0 }).join(), /samples/);
  assert.match(settingsProblems({ ...SETTINGS, temperature: -1 }).join(), /temperature/);
  assert.match(settingsProblems({ ...SETTINGS, modes: [] }).join(), /modes/);
  assert.match(settingsProblems({ ...SETTINGS, modes: ['tier:x'] }).join(), /modes/);
});

test('page requests: a run is taken only with valid input and settings; anything else is dropped', () => {
  const input = { problem: 'What is 2+2?', groundTruth: '4', source: 'typed' };
  assert.deepEqual(parseCompareRequest({ type: 'run', input, settings: SETTINGS }), { type: 'run', input, settings: SETTINGS });
  assert.deepEqual(parseCompareRequest({ type: 'openTrace', key: 'tier:32#0' }), { type: 'openTrace', key: 'tier:32#0' });
  for (const t of ['ready', 'stop', 'pickModel', 'useSelection', 'pickDatasetItem', 'exportResults']) {
    assert.deepEqual(parseCompareRequest({ type: t }), { type: t });
  }
  for (const bad of [
    null, {}, { type: 'run' }, { type: 'stop', x: 1 }, { type: 'run', input, settings: { ...SETTINGS, samples: 99 } },
    { type: 'run', input: { ...input, problem: '   ' }, settings: SETTINGS }, { type: 'run', input: { ...input, extra: 1 }, settings: SETTINGS },
    { type: 'run', input: { ...input, groundTruth: 4 }, settings: SETTINGS }, { type: 'openTrace', key: 7 }, { type: 'eval' },
  ]) {
    assert.equal(parseCompareRequest(bad), undefined, JSON.stringify(bad));
  }
});

test('settings form: round trip, tier modes follow the tiers field, errors name the field', () => {
  const form = formOfSettings(SETTINGS);
  assert.deepEqual(parseSettingsForm(form), { ok: true, settings: SETTINGS });
  const changed = parseSettingsForm({ ...form, tiers: '32, 128' });
  assert.ok(changed.ok);
  assert.deepEqual(changed.ok && changed.settings.modes, ['tier:32', 'natural', 'efficiency']);
  const bad = parseSettingsForm({ ...form, lMax: 'lots', samples: '' });
  assert.ok(!bad.ok);
  assert.ok(!bad.ok && bad.errors.some((e) => e.startsWith('L_max')) && bad.errors.some((e) => e.startsWith('samples')));
});

test('token meter: against the budget, over budget flagged; without a budget against L_max', () => {
  assert.deepEqual(meterOf({ tokens: 16, budget: 32, maxTokens: 256 }), { fraction: 0.5, over: false, label: '16 / 32 tokens' });
  assert.deepEqual(meterOf({ tokens: 40, budget: 32, maxTokens: 256 }), { fraction: 1, over: true, label: '40 / 32 tokens (8 over)' });
  assert.deepEqual(meterOf({ tokens: 64, budget: null, maxTokens: 256 }), { fraction: 0.25, over: false, label: '64 tokens (no budget; limit 256)' });
});

test('column store: chunks stream into their column; stale runs are ignored; summary per mode', () => {
  const store = new ColumnStore();
  const columns = planColumns(SETTINGS);
  store.apply({ type: 'columns', runId: 2, columns, settings: SETTINGS });
  assert.deepEqual(store.apply({ type: 'chunk', runId: 2, key: 'tier:32#0', text: 'Let ', tokens: 1 }), ['tier:32#0']);
  store.apply({ type: 'chunk', runId: 2, key: 'tier:32#0', text: 'b = 3', tokens: 4 });
  assert.deepEqual(store.apply({ type: 'chunk', runId: 1, key: 'tier:32#0', text: 'stale', tokens: 9 }), []);
  const c = store.columns[0]!;
  assert.equal(c.text, 'Let b = 3');
  assert.equal(c.tokens, 4);
  assert.equal(c.status, 'running');
  const done = (key: string, tokens: number, correct: boolean | null, reward: number) => ({
    ...columns.find((x) => x.key === key)!, status: 'done' as const, tokens, correct,
    reward: { reward, cos: 0, penalty: null, f1: null, f2: null, case: 'within' as const },
  });
  store.apply({ type: 'column', runId: 2, column: done('tier:32#0', 20, true, 3) });
  store.apply({ type: 'column', runId: 2, column: done('tier:32#1', 30, false, 0) });
  store.apply({ type: 'column', runId: 2, column: done('natural#0', 90, null, 2) });
  const s = summarize(store.columns, SETTINGS.modes);
  assert.deepEqual(s.map((m) => [m.mode, m.n, m.meanTokens, m.accuracy, m.meanReward]), [
    ['tier:32', 2, 25, 0.5, 1.5], ['tier:64', 0, null, null, null], ['natural', 1, 90, null, 2], ['efficiency', 0, null, null, null],
  ]);
  store.apply({ type: 'runEnd', runId: 2 });
  assert.equal(store.running, false);
});

test('mode keys: only the canonical spelling; near misses say how to write it', () => {
  assert.deepEqual(checkModeKey('tier:8'), { ok: true, mode: { kind: 'tier', budget: 8 } });
  assert.deepEqual(checkModeKey('natural'), { ok: true, mode: { kind: 'natural' } });
  const error = (key: unknown) => {
    const r = checkModeKey(key);
    return r.ok ? 'accepted' : r.error;
  };
  assert.equal(error('tier:08'), '"tier:08" is not canonical; write "tier:8"');
  assert.equal(error('tier:0512'), '"tier:0512" is not canonical; write "tier:512"');
  assert.equal(error('Tier:512'), '"Tier:512" is not canonical; write "tier:512"');
  assert.equal(error('tier: 512'), '"tier: 512" is not canonical; write "tier:512"');
  assert.equal(error('tier:+512'), '"tier:+512" is not canonical; write "tier:512"');
  assert.equal(error(' natural'), '" natural" is not canonical; write "natural"');
  assert.equal(error('tier:0'), '"tier:0": a budget is at least 1 token');
  assert.equal(error('tier:00'), '"tier:00": a budget is at least 1 token');
  assert.equal(error('tier:1000000'), '"tier:1000000": a budget is at most 999999 tokens');
  assert.match(error('tier:x'), /^"tier:x" is not a mode; expected natural, efficiency or tier:<budget>$/);
  assert.match(error(8), /^8 is not a mode/);
  assert.match(error('x'.repeat(500)), /^"x{39}… is not a mode/, 'long values are cut');
  assert.equal(parseModeKey('tier:08'), undefined);
  assert.equal(parseModeKey('tier:٨'), undefined, 'ASCII digits only');
});

test('compare settings refuse duplicate, padded and above-L_max modes, naming the field and the value', () => {
  const problems = (modes: unknown[]) => settingsProblems({ ...SETTINGS, modes } as CompareSettings);
  assert.deepEqual(problems(['tier:32', 'tier:32']), ['modes: "tier:32" is listed twice']);
  assert.deepEqual(problems(['natural', 'tier:64', 'natural']), ['modes: "natural" is listed twice']);
  assert.deepEqual(problems(['tier:08']), ['modes: "tier:08" is not canonical; write "tier:8"']);
  assert.deepEqual(problems(['tier:300']), ['modes: "tier:300" is above L_max (256 tokens)']);
  assert.deepEqual(problems(['tier:256']), [], 'a budget of exactly L_max is fine');
  assert.deepEqual(problems(['tier:32', 'tier:032', 'tier:32']), [
    'modes: "tier:032" is not canonical; write "tier:32"', 'modes: "tier:32" is listed twice',
  ]);
  assert.match(problems(Array.from({ length: 17 }, (_, i) => `tier:${i + 1}`)).join(), /modes: .*at most 16/);
  // The host drops such a run and its log says why; nothing is planned from it.
  const input = { problem: 'What is 2+2?', groundTruth: '4', source: 'typed' };
  for (const [modes, why] of [
    [['tier:8', 'tier:8'], 'modes: "tier:8" is listed twice'],
    [['tier:08'], 'modes: "tier:08" is not canonical; write "tier:8"'],
    [['tier:4096'], 'modes: "tier:4096" is above L_max (256 tokens)'],
  ] as const) {
    const msg = { type: 'run', input, settings: { ...SETTINGS, tiers: [8], modes } };
    assert.equal(parseCompareRequest(msg), undefined, JSON.stringify(modes));
    assert.equal(compareRequestProblem(msg), `run refused: ${why}`);
  }
  assert.equal(compareRequestProblem({ type: 'run', input, settings: SETTINGS }), '');
  assert.match(compareRequestProblem({ type: 'eval' }), /"eval" does not fit the compare protocol/);
  assert.throws(() => planColumns({ ...SETTINGS, modes: ['tier:08'] }), /unknown mode "tier:08"/);
});
