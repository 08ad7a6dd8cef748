import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseLines } from '../../../extension/runs/lineReader';
import { tierMetricKey } from '../../../common/metricKeys';
import { modeOfTier } from '../../../common/mode';
import { RunModel } from '../../../extension/runs/runModel';
import {
  finishedRun, jsonl, line, PER_TIER, QUERIES, runStart, SECONDS_PER_STEP, STEPS, stepLines, T0, tempDir, TIERS, writeRun,
} from './fixtures';

function modelOf(dir: string, lines: string[]): RunModel {
  writeRun(dir, lines);
  const model = new RunModel(join(dir, 'events.jsonl'));
  model.ingest(parseLines(Buffer.from(jsonl(lines))));
  return model;
}

test('aggregates of a finished run', () => {
  const dir = tempDir();
  const { lines, rollouts, metrics } = finishedRun();
  const model = modelOf(dir, lines);

  assert.equal(model.status(() => true), 'finished');
  assert.equal(model.info?.method, 'hbpo');
  assert.deepEqual(model.info?.tiers, TIERS);
  assert.equal(model.info?.total_steps, STEPS);
  assert.equal(model.info?.pid, 4242);
  assert.equal(model.end?.reason, 'completed 3 steps');
  assert.equal(model.step, STEPS);
  assert.equal(model.startTime, T0 - 1);
  assert.equal(model.errorCount, 0);
  assert.ok(Math.abs(model.stepsPerSecond()! - 1 / SECONDS_PER_STEP) < 1e-9);
  assert.equal(model.etaSeconds(), 0);

  // Per-step series, including null (NaN in the trainer) values.
  const key = tierMetricKey(modeOfTier(512), 'mean_length');
  assert.deepEqual(model.series(key), { steps: [1, 2, 3], values: metrics.map((m) => m[key]) });
  assert.deepEqual(model.series('loss').values, metrics.map((m) => m.loss));
  assert.deepEqual(model.series('approx_kl').values, [null, null, null]);
  assert.deepEqual(model.series('no/such/key'), { steps: [], values: [] });
  assert.ok(model.metricKeys().includes('budget/1024/length_std'));
  assert.deepEqual(model.lastMetrics, metrics[2]);

  // Eval table: latest per (dataset, mode), natural and efficiency, then tiers ascending.
  const table = model.evalTable();
  assert.deepEqual(table.map((e) => [e.mode, e.step]), [['natural', 3], ['efficiency', 3], ['tier:512', 3], ['tier:1024', 3]]);
  assert.equal(table[0].accuracy, 0.5 + 0.03, 'natural: the second eval line');
  assert.equal(table[0].by_difficulty.hard.mean_tokens, 150);
  assert.equal(model.evalTable(2)[0].step, 2);
  assert.equal(model.evals.length, 8);

  assert.deepEqual(model.checkpoints.map((c) => [c.step, c.path, c.reason]), [
    [2, 'checkpoints/step-000002', 'periodic'], [3, 'checkpoints/step-000003', 'final'],
  ]);
  assert.deepEqual(model.logs.map((l) => l.message.split(':')[0]), ['starting step 0 of 3 on cpu (float32)', 'run finished']);

  // Rollout index: small fields only, by (step, query_index), samples in order.
  assert.equal(model.rolloutCount, rollouts.length);
  assert.deepEqual(model.rolloutSteps(), [1, 2, 3]);
  assert.deepEqual(model.queryIndices(2), [0, 1]);
  const group = model.rolloutGroup(2, 1);
  const expected = rollouts.filter((r) => r.step === 2 && r.query_index === 1);
  assert.equal(group.length, TIERS.length * PER_TIER);
  group.forEach((g, i) => {
    const r = expected[i];
    assert.deepEqual(
      [g.sample, g.tier, g.nGen, g.correct, g.truncated, g.reward.reward],
      [r.sample, r.tier, r.n_gen, r.correct, r.truncated, r.reward]);
    assert.equal(g.queryId, 'testbed-train-21');
    assert.equal(g.difficulty, 'hard');
    assert.equal(g.reward.case, r.correct ? (r.n_gen <= r.tier ? 'within' : 'over') : 'wrong');
    assert.equal((g as unknown as Record<string, unknown>).text, undefined, 'no text in the index');
  });
  assert.deepEqual(model.rolloutGroup(9, 0), []);

  // Length histograms agree with the trainer's per-tier mean length.
  const lengths = model.lengthsByTier(3);
  assert.deepEqual([...lengths.keys()], ['512', '1024']);
  for (const tier of TIERS) {
    const list = lengths.get(String(tier))!;
    assert.equal(list.length, QUERIES * PER_TIER);
    assert.equal(list.reduce((a, b) => a + b, 0) / list.length, metrics[2][tierMetricKey(modeOfTier(tier), 'mean_length')]);
  }
});

test('readRolloutGroup reads exactly the group text from the file, lazily', async () => {
  const dir = tempDir();
  const { lines, rollouts } = finishedRun();
  const model = modelOf(dir, lines);
  const read = await model.readRolloutGroup(3, 0);
  assert.deepEqual(read.errors, []);
  const expected = rollouts.filter((r) => r.step === 3 && r.query_index === 0);
  assert.deepEqual(read.rollouts.map((r) => r.text), expected.map((r) => r.text));
  assert.deepEqual(read.rollouts.map((r) => r.sample), expected.map((r) => r.sample));
  // The terms the index does not keep come with the line.
  assert.deepEqual(read.rollouts.map((r) => [r.advantage.intra, r.advantage.total, r.reward.f1]),
    expected.map((r) => [r.intra, r.intra + r.inter, r.correct ? 3.4 : null]));
  assert.ok(read.rollouts[0].text.includes('🚀') && read.rollouts[0].text.includes('\n'));
  assert.deepEqual(await model.readRolloutGroup(7, 7), { rollouts: [], errors: [] });

  // The file was replaced: a stale index says so instead of returning another rollout's text.
  writeFileSync(join(dir, 'events.jsonl'), jsonl([...lines].reverse()));
  const stale = await model.readRolloutGroup(3, 0);
  assert.equal(stale.rollouts.length, 0);
  assert.equal(stale.errors.length, expected.length);
  assert.match(stale.errors[0], /^line \d+/);
});

test('status: pending, running, stale, failed, stopped', () => {
  const dir = tempDir();
  const empty = new RunModel(join(dir, 'events.jsonl'));
  assert.equal(empty.status(), 'pending');
  assert.equal(empty.stepsPerSecond(), null);

  const started = modelOf(dir, [runStart(), ...stepLines(1).lines]);
  assert.equal(started.status(() => true), 'running');
  assert.equal(started.status(() => false), 'stale');
  assert.equal(started.stepsPerSecond(), null, 'one step event gives no rate');
  assert.equal(started.etaSeconds(), null);

  for (const status of ['failed', 'stopped'] as const) {
    const m = modelOf(dir, [runStart(), line('run_end', 0, { status, reason: 'x', checkpoint: null })]);
    assert.equal(m.status(() => true), status);
  }
});

test('a resumed run supersedes what was logged after its checkpoint', () => {
  const dir = tempDir();
  const first = [runStart(), ...stepLines(1).lines, line('checkpoint', 1, { path: 'checkpoints/step-000001', reason: 'periodic' }),
    ...stepLines(2, 100).lines, line('eval', 2, { dataset: 'd', mode: 'natural', n: 1, accuracy: 0, mean_tokens: 1, by_difficulty: {} })];
  // Crash without run_end, then `hbpo resume` from the step-1 checkpoint.
  const second = [runStart(1, { resumed_from_step: 1, pid: 5151 }), ...stepLines(2).lines, ...stepLines(3).lines];
  const model = modelOf(dir, [...first, ...second]);
  assert.equal(model.starts, 2);
  assert.equal(model.info?.pid, 5151);
  assert.equal(model.startTime, T0 - 1);
  assert.deepEqual(model.series('loss'), { steps: [1, 2, 3], values: [0.5, 0.25, 0.5 / 3] }, 'the abandoned step 2 (loss +100) is gone');
  assert.equal(model.evals.length, 0);
  assert.equal(model.checkpoints.length, 1);
  assert.equal(model.rolloutGroup(2, 0).length, TIERS.length * PER_TIER, 'no duplicate rollouts for step 2');
  assert.equal(model.rolloutCount, 3 * QUERIES * TIERS.length * PER_TIER);
  assert.equal(model.step, 3);

  // Resume again, this time from step 2: lastMetrics falls back to step 2's.
  model.ingest(parseLines(Buffer.from(`${runStart(2, { resumed_from_step: 2 })}\n`)));
  assert.equal(model.step, 2);
  assert.equal(model.lastMetrics?.loss, 0.25);
  assert.deepEqual(model.rolloutSteps(), [1, 2]);
});

test('errors are kept with their line numbers and the rest aggregates', () => {
  const dir = tempDir();
  const lines = finishedRun().lines;
  const broken = [...lines.slice(0, 5), '{"v": 1, "type": "ste', ...lines.slice(5)];
  const model = modelOf(dir, broken);
  assert.equal(model.errorCount, 1);
  assert.match(model.errors[0].message, /^line 6: not JSON/);
  assert.equal(model.status(), 'finished');
  assert.equal(model.rolloutCount, lines.filter((l) => l.includes('"type":"rollout"')).length);
});

test('state round-trips through structured clone (what the worker posts)', () => {
  const dir = tempDir();
  const model = modelOf(dir, finishedRun().lines);
  const copy = new RunModel(model.eventsPath, structuredClone(model.toState()));
  assert.deepEqual(copy.rolloutGroup(2, 1), model.rolloutGroup(2, 1));
  assert.deepEqual(copy.series('loss'), model.series('loss'));
  assert.deepEqual(copy.evalTable(), model.evalTable());
  assert.deepEqual(copy.lengthsByTier(1), model.lengthsByTier(1));
  // and it keeps growing
  copy.ingest(parseLines(Buffer.from(`${line('log', 3, { level: 'warning', message: 'late' })}\n`)));
  assert.equal(copy.logs.at(-1)?.message, 'late');
});

test('a rollout whose integers do not fit the index is refused with its line number, not indexed wrong', () => {
  const dir = tempDir();
  const lines = finishedRun().lines;
  const i = lines.findIndex((l) => l.includes('"type":"rollout"'));
  const huge = (field: string, value: string) => lines[i].replace(new RegExp(`"${field}":[0-9]+`), `"${field}":${value}`);
  const bad = [huge('tier', '4294967295'), huge('n_gen', '2147483648'), huge('step', '9007199254740993'), huge('sample', '4294967296')];
  bad.forEach((l) => assert.notEqual(l, lines[i]));
  const model = modelOf(dir, [...lines, ...bad]);
  assert.equal(model.rolloutCount, lines.filter((l) => l.includes('"type":"rollout"')).length, 'none of them indexed');
  assert.deepEqual(model.errors.map((e) => e.line), bad.map((_, k) => lines.length + 1 + k));
  assert.match(model.errors[0].message, new RegExp(`^line ${lines.length + 1} \\(rollout\\): /tier must be <= 2147483647`));
  const tiers = model.rolloutSteps().flatMap((s) => model.queryIndices(s).flatMap((q) => model.rolloutGroup(s, q).map((r) => r.tier)));
  assert.ok(tiers.every((t) => t === 512 || t === 1024), 'no tier read as -1 (natural) or 0');
});
