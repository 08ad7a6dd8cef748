import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import * as esbuild from 'esbuild';
import { defaultWorkerPath, loadRunFile, type LoadedRun } from '../../../extension/runs/runFile';
import { RunModel } from '../../../extension/runs/runModel';
import { finishedRun, tempDir, writeRun } from './fixtures';

const runsSource = join(__dirname, '..', '..', '..', 'extension', 'runs');
const nodeBundle = { bundle: true, platform: 'node', format: 'cjs', target: 'node20', logLevel: 'silent' } as const;

function sameRun(a: LoadedRun, b: LoadedRun): void {
  const [ma, mb] = [new RunModel('x', a.state), new RunModel('x', b.state)];
  assert.deepEqual([a.offset, a.line, a.size], [b.offset, b.line, b.size]);
  assert.deepEqual(ma.series('loss'), mb.series('loss'));
  assert.deepEqual(ma.rolloutGroup(2, 1), mb.rolloutGroup(2, 1));
  assert.deepEqual(ma.evalTable(), mb.evalTable());
  assert.equal(ma.status(), mb.status());
  assert.equal(ma.rolloutCount, mb.rolloutCount);
}

/** A run whose last line is torn: the load stops at the start of that line. */
function tornRun(): { path: string; fullBytes: number } {
  const dir = tempDir();
  writeRun(dir, finishedRun().lines);
  const path = join(dir, 'events.jsonl');
  const fullBytes = Buffer.byteLength(finishedRun().lines.map((l) => `${l}\n`).join(''));
  appendFileSync(path, '{"v": 1, "type": "log", "ti');
  return { path, fullBytes };
}

test('the worker path resolves to the TypeScript worker under tsx', () => {
  assert.match(defaultWorkerPath() ?? '', /runWorker\.ts$/);
});

test('a worker parse gives the same model as parsing in this thread', async () => {
  const { path, fullBytes } = tornRun();
  const inThread = await loadRunFile(path, { worker: 'never' });
  const inWorker = await loadRunFile(path, { worker: 'always' });
  assert.equal(inThread.usedWorker, false);
  assert.equal(inWorker.usedWorker, true);
  assert.equal(inWorker.offset, fullBytes, 'offset is the start of the torn line');
  assert.ok(inWorker.size > fullBytes);
  assert.ok(inWorker.identity && inWorker.identity.head.length === 64);
  sameRun(inWorker, inThread);
  assert.equal(new RunModel(path, inWorker.state).rolloutGroup(1, 0).length, 4);
});

test('auto mode uses the worker only from the size threshold up', async () => {
  const { path } = tornRun();
  assert.equal((await loadRunFile(path, { workerThreshold: 1e9 })).usedWorker, false);
  assert.equal((await loadRunFile(path, { workerThreshold: 1 })).usedWorker, true);
});

test('a missing or broken worker script falls back to parsing here', async () => {
  const { path } = tornRun();
  const reference = await loadRunFile(path, { worker: 'never' });
  const missing = await loadRunFile(path, { worker: 'always', workerPath: join(tempDir(), 'nope.js') });
  assert.equal(missing.usedWorker, false);
  sameRun(missing, reference);

  const dir = tempDir();
  const broken = join(dir, 'broken.js');
  appendFileSync(broken, 'throw new Error("boom")\n');
  const fallback = await loadRunFile(path, { worker: 'always', workerPath: broken });
  assert.equal(fallback.usedWorker, false);
  sameRun(fallback, reference);
});

test('bundled as esbuild.config.mjs does it, the host code finds dist/runWorker.js beside itself', async () => {
  // Same layout as dist/: extension.js (here a stand-in that uses the run store) and runWorker.js.
  const dist = tempDir();
  const host = join(dist, 'host.ts');
  writeFileSync(host, `
    import { defaultWorkerPath, loadRunFile, RunModel } from ${JSON.stringify(join(runsSource, 'index'))};
    void loadRunFile(process.argv[2], { worker: 'always' }).then((r) => console.log(JSON.stringify({
      path: defaultWorkerPath(), usedWorker: r.usedWorker, rollouts: new RunModel(process.argv[2], r.state).rolloutCount,
    })));`);
  await esbuild.build({ ...nodeBundle, entryPoints: [host], outfile: join(dist, 'extension.js') });
  await esbuild.build({ ...nodeBundle, entryPoints: [join(runsSource, 'runWorker.ts')], outfile: join(dist, 'runWorker.js') });
  assert.ok(existsSync(join(dist, 'runWorker.js')));
  const { path } = tornRun();
  const out = JSON.parse(execFileSync(process.execPath, [join(dist, 'extension.js'), path], { encoding: 'utf8' }));
  assert.deepEqual(out, { path: join(dist, 'runWorker.js'), usedWorker: true, rollouts: 24 });
});

test('a missing file loads as an empty run; an aborted load rejects', async () => {
  const empty = await loadRunFile(join(tempDir(), 'events.jsonl'), { worker: 'always' });
  assert.equal(new RunModel('x', empty.state).status(), 'pending');
  assert.equal(empty.identity, undefined);

  const { path } = tornRun();
  const abort = new AbortController();
  const pending = loadRunFile(path, { worker: 'always', signal: abort.signal });
  abort.abort();
  await assert.rejects(pending);
});
