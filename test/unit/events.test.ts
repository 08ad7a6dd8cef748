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
  const wrongVersion = parseEventLine(JSON.stringify({ ...rollout, v: 2 }), 7);
  assert.equal(wrongVersion.ok, false);
  const badReward = parseEventLine(JSON.stringify({ ...rollout, reward: { ...rollout.reward, case: 'maybe' } }), 8);
  assert.match(!badReward.ok ? badReward.error : '', /\/reward\/case/);
});
