import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compareDifficulty, evalSteps, evalTables, latestEvals, modeLabel } from '../../../webview/lib/evalTable';
import { tokensVsNatural } from '../../../webview/dashboard/evalView';
import type { EvalResult } from '../../../extension/runs/runModel';

function ev(step: number, dataset: string, mode: string, accuracy: number, tokens: number, diff: Record<string, number> = {}): EvalResult {
  return {
    step, time: step, dataset, mode, n: 10, accuracy, mean_tokens: tokens,
    by_difficulty: Object.fromEntries(Object.entries(diff).map(([d, a]) => [d, { n: 5, accuracy: a, mean_tokens: tokens }])),
  };
}

const evals = [
  ev(10, 'math500', 'natural', 0.5, 1800, { '3': 0.5, '10': 0.2, '1': 0.9 }),
  ev(10, 'math500', 'tier:512', 0.4, 500),
  ev(10, 'gsm8k', 'efficiency', 0.8, 300, { hard: 0.6, easy: 1, medium: 0.8 }),
  ev(20, 'math500', 'natural', 0.6, 1500),
  ev(20, 'math500', 'efficiency', 0.55, 750),
  ev(20, 'math500', 'tier:2048', 0.6, 1400),
];

test('latest result per dataset and mode, at or before a step', () => {
  assert.deepEqual(evalSteps(evals), [10, 20]);
  const at10 = latestEvals(evals, 10);
  assert.equal(at10.length, 3);
  assert.equal(at10.find((e) => e.dataset === 'math500' && e.mode === 'natural')?.accuracy, 0.5);
  const latest = latestEvals(evals);
  assert.equal(latest.length, 5);
  assert.equal(latest.find((e) => e.dataset === 'math500' && e.mode === 'natural')?.accuracy, 0.6);
});

test('tables: datasets A-Z; natural, efficiency, then budgets ascending; difficulties ordered', () => {
  const tables = evalTables(latestEvals(evals));
  assert.deepEqual(tables.map((t) => t.dataset), ['gsm8k', 'math500']);
  assert.deepEqual(tables[1].rows.map((r) => r.label), ['natural', 'efficiency', '512 tokens', '2048 tokens']);
  assert.deepEqual(tables[0].difficulties, ['easy', 'medium', 'hard']);
  const math10 = evalTables(latestEvals(evals, 10)).find((t) => t.dataset === 'math500')!;
  assert.deepEqual(math10.difficulties, ['1', '3', '10'], 'MATH levels numerically');
  assert.equal(math10.rows[0].byDifficulty['10'].accuracy, 0.2);
});

test('tokens vs natural: relative change, empty for natural itself', () => {
  const t = evalTables(latestEvals(evals)).find((x) => x.dataset === 'math500')!;
  assert.equal(tokensVsNatural(t.rows[0], t), '');
  assert.equal(tokensVsNatural(t.rows[1], t), '−50 %');
  const gsm = evalTables(latestEvals(evals)).find((x) => x.dataset === 'gsm8k')!;
  assert.equal(tokensVsNatural(gsm.rows[0], gsm), '', 'no natural row to compare with');
});

test('mode labels and difficulty order', () => {
  assert.equal(modeLabel('tier:1024'), '1024 tokens');
  assert.equal(modeLabel('efficiency'), 'efficiency');
  assert.deepEqual(['hard', 'zeta', 'easy', 'alpha'].sort(compareDifficulty), ['easy', 'hard', 'alpha', 'zeta']);
});
