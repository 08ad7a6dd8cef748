import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseEventLine } from '../../extension/events';

const base = { v: 1, time: 1795868253.3, step: 3 };
const rollout = {
  ...base, type: 'rollout', query_id: 'testbed-train-7', query_index: 0, sample: 1, tier: 512,
  problem: 'Compute 2 + 2.', difficulty: 'easy', prompt: '<think>\nI will answer the question within 512 tokens.\n',
  text: '<img src=x onerror=alert(1)> 2 + 2 = 4 </think> \\boxed{4}', n_gen: 21, truncated: false, correct: true,
  answer: '4', ground_truth: '4',
  reward: { reward: 3.92, cos: 3.99, penalty: 0.12, f1: 3.87, f2: 3.92, case: 'within' },
  advantage: { intra: -0.1, inter: 0.5, total: 0.4 },
};

test('valid events of every type parse', () => {
  const lines = [
    { ...base, type: 'run_start', run_id: 'r', config: {}, method: 'hbpo', tiers: [512, 1024], max_response_tokens: 4096,
      total_steps: 10, device: 'cpu', dtype: 'float32', pid: 42, resumed_from_step: null },
    rollout,
    { ...base, type: 'step', metrics: { 'budget/512/mean_length': 300.5, loss: null } },
    { ...base, type: 'eval', dataset: 'math', mode: 'tier:512', n: 2, accuracy: 0.5, mean_tokens: 10,
      by_difficulty: { '3': { n: 2, accuracy: 0.5, mean_tokens: 10 } } },
    { ...base, type: 'checkpoint', path: 'checkpoints/step-000003', reason: 'stop' },
    { ...base, type: 'log', level: 'info', message: 'hi' },
    { ...base, type: 'run_end', status: 'stopped', reason: 'received SIGTERM', checkpoint: 'checkpoints/step-000003' },
  ];
  lines.forEach((event, i) => {
    const r = parseEventLine(JSON.stringify(event), i + 1);
    assert.ok(r.ok, r.ok ? '' : r.error);
    assert.equal(r.event.type, event.type);
  });
});

test('a torn line is reported with its line number, not thrown', () => {
  const r = parseEventLine('{"v": 1, "type": "step", "ti', 17);
  assert.equal(r.ok, false);
  assert.match(!r.ok ? r.error : '', /^line 17: not JSON/);
});

test('an invalid event names the line, the type and the field', () => {
  const r = parseEventLine(JSON.stringify({ ...rollout, n_gen: -1 }), 5);
  assert.equal(r.ok, false);
  assert.match(!r.ok ? r.error : '', /^line 5 \(rollout\): \/n_gen must be >= 0/);
  const unknown = parseEventLine(JSON.stringify({ ...base, type: 'telemetry' }), 6);
  assert.equal(unknown.ok, false);
  const wrongVersion = parseEventLine(JSON.stringify({ ...rollout, v: 3 }), 7);
  assert.equal(wrongVersion.ok, false);
  assert.equal(parseEventLine(JSON.stringify({ ...rollout, v: 2 }), 7).ok, true, 'a v2 rollout is a v1 rollout');
  const badReward = parseEventLine(JSON.stringify({ ...rollout, reward: { ...rollout.reward, case: 'maybe' } }), 8);
  assert.match(!badReward.ok ? badReward.error : '', /\/reward\/case/);
});

test('integers the rollout index cannot store exactly are refused, naming the line and field', () => {
  const INT32_MAX = 2 ** 31 - 1;
  const start = { ...base, type: 'run_start', run_id: 'r', config: {}, method: 'hbpo', tiers: [512, 1024], max_response_tokens: 4096,
    total_steps: 10, device: 'cpu', dtype: 'float32', parameters: 1_500_000_000, trainable_parameters: 7_000_000_000,
    pid: 42, resumed_from_step: null };
  const evalEvent = { ...base, type: 'eval', dataset: 'math', mode: 'tier:512', n: 2, accuracy: 0.5, mean_tokens: 10,
    by_difficulty: { easy: { n: 2, accuracy: 0.5, mean_tokens: 10 } } };
  const cases: [string, Record<string, unknown>, (v: number) => Record<string, unknown>][] = [
    ['/step', rollout, (v) => ({ ...rollout, step: v })],
    ['/query_index', rollout, (v) => ({ ...rollout, query_index: v })],
    ['/sample', rollout, (v) => ({ ...rollout, sample: v })],
    ['/tier', rollout, (v) => ({ ...rollout, tier: v })],
    ['/n_gen', rollout, (v) => ({ ...rollout, n_gen: v })],
    ['/token_marks/1/0', rollout, (v) => ({ ...rollout, token_marks: [[0, 0], [v, 3]] })],
    ['/token_marks/1/1', rollout, (v) => ({ ...rollout, token_marks: [[0, 0], [3, v]] })],
    ['/tiers/1', start, (v) => ({ ...start, tiers: [512, v] })],
    ['/max_response_tokens', start, (v) => ({ ...start, max_response_tokens: v })],
    ['/total_steps', start, (v) => ({ ...start, total_steps: v })],
    ['/pid', start, (v) => ({ ...start, pid: v })],
    ['/resumed_from_step', start, (v) => ({ ...start, resumed_from_step: v })],
    ['/n', evalEvent, (v) => ({ ...evalEvent, n: v })],
    ['/by_difficulty/easy/n', evalEvent, (v) => ({ ...evalEvent, by_difficulty: { easy: { n: v, accuracy: 0.5, mean_tokens: 10 } } })],
  ];
  for (const [field, valid, withValue] of cases) {
    assert.ok(parseEventLine(JSON.stringify(valid), 1).ok, field);
    const top = parseEventLine(JSON.stringify(withValue(INT32_MAX)), 2);
    assert.ok(top.ok, `${field} = 2^31 - 1 is stored exactly: ${top.ok ? '' : top.error}`);
    for (const bad of [INT32_MAX + 1, 4294967295, 2 ** 53 + 2]) {
      const r = parseEventLine(JSON.stringify(withValue(bad)), 9);
      assert.equal(r.ok, false, `${field} = ${bad}`);
      assert.match(!r.ok ? r.error : '', new RegExp(`^line 9 \\(\\w+\\): ${field} must be <= `), `${field} = ${bad}`);
    }
  }
  // 2^53 + 1 is not even a distinct double: the line's text reads as 2^53, still refused.
  const text = JSON.stringify({ ...rollout, tier: 0 }).replace('"tier":0', '"tier":9007199254740993');
  assert.equal(parseEventLine(text, 3).ok, false);
  // Parameter counts are no index column: up to 2^53 - 1.
  assert.ok(parseEventLine(JSON.stringify({ ...start, parameters: Number.MAX_SAFE_INTEGER }), 4).ok);
  assert.equal(parseEventLine(JSON.stringify({ ...start, parameters: 2 ** 53 }), 4).ok, false);
  // Natural mode is tier null; negative counts stay refused.
  assert.ok(parseEventLine(JSON.stringify({ ...rollout, tier: null, reward: { ...rollout.reward, case: 'natural' } }), 5).ok);
  assert.equal(parseEventLine(JSON.stringify({ ...evalEvent, by_difficulty: { easy: { n: -1, accuracy: 0.5, mean_tokens: 10 } } }), 6).ok, false);
});

test('eval modes are spelled canonically: tier:512, not tier:0512 or tier:0', () => {
  const evalEvent = { ...base, type: 'eval', dataset: 'math', n: 2, accuracy: 0.5, mean_tokens: 10, by_difficulty: {} };
  for (const mode of ['tier:512', 'tier:1', 'natural', 'efficiency']) assert.ok(parseEventLine(JSON.stringify({ ...evalEvent, mode }), 1).ok, mode);
  for (const mode of ['tier:0512', 'tier:0', 'tier:', 'tier:12345678901', 'Natural', 'tier: 512']) {
    const r = parseEventLine(JSON.stringify({ ...evalEvent, mode }), 2);
    assert.match(!r.ok ? r.error : 'accepted', /^line 2 \(eval\): \/mode must match pattern/, mode);
  }
});

test('the compiled validator is what scripts/gen-validators.mjs makes of the schema today (npm run gen:validators)', async () => {
  const { generate, OUT } = await import('../../scripts/gen-validators.mjs');
  const { readFileSync } = await import('node:fs');
  assert.ok(readFileSync(OUT, 'utf8') === generate(), `${OUT} is stale: the schema changed since it was generated; run npm run gen:validators`);
});
