// Trace documents get a run's model through one shared tailer per folder (issue 14): N tabs
// restored at once cause one load, not N, and a failed load is retried, not kept.
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { readRollout } from '../../../extension/runs/rolloutReader';
import { RunTailer } from '../../../extension/runs/runTailer';
import { loadedModel, SharedModels } from '../../../extension/runs/sharedModels';
import { finishedRun, jsonl, tempDir } from './fixtures';

/** SharedModels over quiet tailers (no watcher, no poll within a test), counting tailers made and loads started. */
function counted(t: TestContext): { shared: SharedModels; made: RunTailer[]; loads: Set<Promise<void>> } {
  const made: RunTailer[] = [];
  const loads = new Set<Promise<void>>();
  const shared = new SharedModels((dir) => {
    const tailer = new RunTailer(dir, { watch: false, pollMs: 3_600_000 });
    const start = tailer.start.bind(tailer);
    tailer.start = () => {
      const p = start();
      loads.add(p);
      return p;
    };
    made.push(tailer);
    return tailer;
  });
  t.after(() => shared.dispose());
  return { shared, made, loads };
}

test('concurrent requests for one folder share one tailer, one load and one model', async (t) => {
  const dir = tempDir();
  const run = finishedRun();
  writeFileSync(join(dir, 'events.jsonl'), jsonl(run.lines));
  const { shared, made, loads } = counted(t);
  const models = await Promise.all([dir, dir, `${dir}/`, join(dir, '..', dir.split('/').at(-1)!)].map((d) => shared.model(d)));
  assert.equal(made.length, 1, 'one tailer for the folder, however it is spelled');
  assert.equal(loads.size, 1, 'every caller waited for the same load');
  assert.ok(models.every((m) => m === models[0]), 'one model');
  const r = run.rollouts[5];
  const event = await readRollout(models[0], { step: r.step, queryIndex: r.query_index, tier: r.tier, sample: r.sample });
  assert.equal(event?.text, r.text, 'the model holds the rollouts once the shared load is done');
  assert.equal(await shared.model(dir), models[0], 'a later request gets the same model');
  assert.equal(made.length, 1);
});

test('a failed load rejects every waiting request and is not kept: the next request loads again', async (t) => {
  const dir = tempDir();
  const path = join(dir, 'events.jsonl');
  mkdirSync(path); // unreadable as a file: EISDIR
  const { shared, made } = counted(t);
  const results = await Promise.allSettled([shared.model(dir), shared.model(dir)]);
  assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected']);
  assert.equal(made.length, 1);

  rmSync(path, { recursive: true });
  writeFileSync(path, jsonl(finishedRun().lines));
  const model = await shared.model(dir);
  assert.equal(made.length, 2, 'a fresh tailer after the failure');
  assert.equal(model.info?.run_id, 'hbpo-test');
});

test('loadedModel (the run registry\'s tailers): a tailer whose last read failed reads again before answering', async (t) => {
  const dir = tempDir();
  const path = join(dir, 'events.jsonl');
  mkdirSync(path);
  const tailer = new RunTailer(dir, { watch: false, pollMs: 3_600_000 });
  t.after(() => tailer.dispose());
  await assert.rejects(loadedModel(tailer));
  rmSync(path, { recursive: true });
  writeFileSync(path, jsonl(finishedRun().lines));
  const model = await loadedModel(tailer);
  assert.equal(model, tailer.model);
  assert.equal(model.info?.run_id, 'hbpo-test');
});
