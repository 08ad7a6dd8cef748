import assert from 'node:assert/strict';
import { test } from 'node:test';
import { groupRows, nextSort, NO_FILTER } from '../../../webview/lib/rolloutTable';
import type { RolloutRow } from '../../../common/protocol/rollouts';

function row(sample: number, tier: number | null, nGen: number, correct: boolean, reward: number, f1: number | null = 1): RolloutRow {
  return {
    sample, tier, nGen, budget: tier === null ? 'none' : nGen > tier ? 'over' : 'within', truncated: false, correct,
    answer: correct ? '4' : '5', reward, f1, f2: 1, cos: 1, penalty: 0, case: correct ? 'within' : 'wrong',
    intra: tier === 512 ? -0.5 : -0.1, inter: 0, total: 0,
  };
}

const rows = [
  row(0, 1024, 900, true, 3), row(1, 512, 300, false, 0), row(2, 512, 600, true, 2.5, null),
  row(3, 1024, 1100, false, 0), row(4, 512, 200, true, 3.9), row(5, null, 50, true, 4),
];

test('grouped by tier ascending, natural last; rows sorted within each tier', () => {
  const groups = groupRows(rows, NO_FILTER, { key: 'nGen', dir: 'desc' });
  assert.deepEqual(groups.map((g) => g.tier), [512, 1024, null]);
  assert.deepEqual(groups[0].rows.map((r) => r.sample), [2, 1, 4]);
  assert.deepEqual(groups[1].rows.map((r) => r.sample), [3, 0]);
});

test('summary covers the whole tier even when filtered', () => {
  const groups = groupRows(rows, { tier: 'all', correct: 'correct' }, { key: 'sample', dir: 'asc' });
  const t512 = groups.find((g) => g.tier === 512)!;
  assert.deepEqual(t512.rows.map((r) => r.sample), [2, 4]);
  assert.deepEqual(t512.summary, { n: 3, correct: 2, meanTokens: 1100 / 3, meanReward: 6.4 / 3, intra: -0.5 });
});

test('filters: by tier, natural, and incorrect; empty tiers disappear', () => {
  assert.deepEqual(groupRows(rows, { tier: 1024, correct: 'all' }, { key: 'sample', dir: 'asc' }).map((g) => g.tier), [1024]);
  assert.deepEqual(groupRows(rows, { tier: 'natural', correct: 'all' }, { key: 'sample', dir: 'asc' })[0].rows.map((r) => r.sample), [5]);
  const wrong = groupRows(rows, { tier: 'all', correct: 'incorrect' }, { key: 'sample', dir: 'asc' });
  assert.deepEqual(wrong.map((g) => [g.tier, g.rows.map((r) => r.sample)]), [[512, [1]], [1024, [3]]]);
});

test('nulls sort last in both directions; ties by sample', () => {
  const asc = groupRows(rows, NO_FILTER, { key: 'f1', dir: 'asc' })[0].rows.map((r) => r.sample);
  const desc = groupRows(rows, NO_FILTER, { key: 'f1', dir: 'desc' })[0].rows.map((r) => r.sample);
  assert.deepEqual(asc, [1, 4, 2]);
  assert.deepEqual(desc, [1, 4, 2]);
  const byAnswer = groupRows(rows, NO_FILTER, { key: 'answer', dir: 'desc' })[0].rows.map((r) => r.sample);
  assert.deepEqual(byAnswer, [1, 2, 4], 'strings compare as text');
  const byCorrect = groupRows(rows, NO_FILTER, { key: 'correct', dir: 'asc' })[0].rows.map((r) => r.sample);
  assert.deepEqual(byCorrect, [1, 2, 4], 'false before true');
});

test('nextSort: a new column ascends, the same column flips', () => {
  assert.deepEqual(nextSort({ key: 'sample', dir: 'asc' }, 'reward'), { key: 'reward', dir: 'asc' });
  assert.deepEqual(nextSort({ key: 'reward', dir: 'asc' }, 'reward'), { key: 'reward', dir: 'desc' });
  assert.deepEqual(nextSort({ key: 'reward', dir: 'desc' }, 'reward'), { key: 'reward', dir: 'asc' });
});
