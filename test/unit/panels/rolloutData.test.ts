import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readGroup, readQueries, readRollout, rowOf } from '../../../extension/panels/rolloutData';
import { explorerParams, revivedParams } from '../../../extension/panels/rewardParams';
import { paramsOfRun } from '../../../extension/runs/runReward';
import { modelOf, PAYLOAD, rollout, runStart, stepLines } from './fixtures';

test('queries of a step: counts from the index, problem text from the file', async () => {
  const { model } = modelOf([runStart(), ...stepLines(1), ...stepLines(2)]);
  const qs = await readQueries(model, 2);
  assert.deepEqual(qs.map((q) => [q.queryIndex, q.queryId, q.difficulty, q.rollouts]), [[0, 'q-2-0', 'easy', 4], [1, 'q-2-1', 'hard', 4]]);
  assert.equal(qs[0].problem, 'What is 0 + 2?');
  assert.equal(qs[1].problem, `Problem ${PAYLOAD}`, 'markup stays as characters');
  assert.deepEqual(await readQueries(model, 99), []);
});

test('a group: every rollout with its terms, answers and the problem', async () => {
  const { model } = modelOf([runStart(), ...stepLines(1)]);
  const g = await readGroup(model, 1, 1);
  assert.equal(g.rows.length, 4);
  assert.deepEqual(g.rows.map((r) => [r.tier, r.sample]), [[32, 0], [32, 1], [64, 0], [64, 1]]);
  assert.equal(g.problem, `Problem ${PAYLOAD}`);
  assert.equal(g.groundTruth, '4');
  const r = g.rows[0];
  assert.equal(r.budget, r.nGen > 32 ? 'over' : 'within');
  for (const row of g.rows) assert.equal(row.answer, row.correct ? '4' : `5 (tier ${row.tier}, sample ${row.sample})`);
  assert.deepEqual(g.errors, []);
  await assert.rejects(readGroup(model, 1, 7), /no rollouts for query 7/);
});

test('every rollout of a group is read by its own key: samples repeat in every tier', async () => {
  const lines = [runStart(), ...stepLines(1), ...stepLines(2)];
  const { model } = modelOf(lines);
  const events = lines.map((l) => JSON.parse(l)).filter((e) => e.type === 'rollout');
  for (const step of [1, 2]) {
    for (const queryIndex of [0, 1]) {
      const g = await readGroup(model, step, queryIndex);
      const mine = events.filter((e) => e.step === step && e.query_index === queryIndex);
      assert.equal(g.rows.length, mine.length);
      for (const row of g.rows) {
        const line = mine.find((e) => e.tier === row.tier && e.sample === row.sample);
        assert.ok(line, `no line for tier ${row.tier}, sample ${row.sample}`);
        assert.deepEqual([row.answer, row.nGen, row.reward, row.correct], [line.answer, line.n_gen, line.reward.reward, line.correct]);
        const e = await readRollout(model, { step, queryIndex, tier: row.tier, sample: row.sample });
        assert.deepEqual(e, line, `step ${step}, query ${queryIndex}, tier ${row.tier}, sample ${row.sample}`);
      }
    }
  }
});

test('rowOf: budget status and no-answer', async () => {
  const { model } = modelOf([runStart(), rollout({ step: 1, query: 0, sample: 0, tier: 32, nGen: 40, correct: false, answer: null })]);
  const [s] = model.rolloutGroup(1, 0);
  const e = await readRollout(model, { step: 1, queryIndex: 0, tier: 32, sample: 0 });
  assert.equal(e?.n_gen, 40);
  const row = rowOf(s, e!);
  assert.equal(row.budget, 'over');
  assert.equal(row.answer, null);
  assert.equal(row.case, 'wrong');
  assert.deepEqual([row.cos, row.penalty, row.intra, row.total], [e!.reward.cos, e!.reward.penalty, e!.advantage.intra, e!.advantage.total], 'terms from the line');
  assert.equal(await readRollout(model, { step: 1, queryIndex: 0, tier: 32, sample: 5 }), undefined);
  assert.equal(await readRollout(model, { step: 1, queryIndex: 0, tier: 64, sample: 0 }), undefined, 'same sample, other tier');
});

test('reward explorer seed: from a run, from input, and invalid input falls back to defaults', () => {
  const { model } = modelOf([runStart()]);
  const input = paramsOfRun(model.info!);
  assert.deepEqual(input, { tiers: [32, 64], maxResponseTokens: 128, alpha: 0.01, beta: 2, variant: 'reference' });
  assert.deepEqual(explorerParams(input), { params: { tiers: [32, 64], lMax: 128, alpha: 0.01, beta: 2, variant: 'reference' }, problems: [] });
  assert.equal(explorerParams({ tiers: [512], maxResponseTokens: 4096, alpha: 1 / 4096 }).params.alpha, null, '1/L_max stays symbolic');
  const bad = explorerParams({ tiers: [512, 9000], maxResponseTokens: 4096 });
  assert.deepEqual(bad.params.tiers, [512, 1024, 2048, 2560]);
  assert.match(bad.problems.join(' '), /at most L_max/);
});

test('revived explorer state is checked before use', () => {
  const seeded = { tiers: [32, 64], lMax: 128, alpha: null, beta: 4, variant: 'paper' };
  assert.deepEqual(revivedParams({ seeded, source: 'run x' }), { params: seeded, source: 'run x' });
  assert.equal(revivedParams(undefined), undefined);
  assert.equal(revivedParams({ seeded: { ...seeded, tiers: ['32'] }, source: 'x' }), undefined);
  assert.equal(revivedParams({ seeded: { ...seeded, lMax: -1 }, source: 'x' }), undefined);
  assert.equal(revivedParams({ seeded, source: 5 }), undefined);
});
