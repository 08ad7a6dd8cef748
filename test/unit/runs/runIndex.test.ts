import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { RunIndex, type RunSummary } from '../../../extension/runs/runIndex';
import { isPidAlive } from '../../../extension/runs/pid';
import { readRunFile } from '../../../extension/runs/runFile';
import { RunModel } from '../../../extension/runs/runModel';
import { finishedRun, line, runStart, stepLines, T0, tempDir, writeRun } from './fixtures';

/** The pid of a process that has exited (and been reaped): certainly not alive. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', '']);
  assert.equal(child.status, 0);
  return child.pid!;
}

const pick = (r: RunSummary) => [r.status, r.step];
const end = (step: number, status: string, reason = status) => line('run_end', step, { status, reason, checkpoint: null });

function makeRuns(root: string): void {
  const run = (name: string, lines: string[], config = true) => {
    mkdirSync(join(root, name));
    writeRun(join(root, name), lines, config);
  };
  const dead = deadPid();
  run('a-finished', finishedRun().lines.map((l, i) => (i === 0 ? runStart(0, { time: T0 + 10 }) : l)));
  run('b-stopped', [runStart(0, { time: T0 + 20 }), ...stepLines(1).lines, end(1, 'stopped', 'received SIGTERM')]);
  run('c-failed', [runStart(0, { time: T0 + 30 }), end(0, 'failed', 'RuntimeError: CUDA out of memory')]);
  run('d-running', [runStart(0, { time: T0 + 40, pid: process.pid }), ...stepLines(1).lines]);
  run('e-stale', [runStart(0, { time: T0 + 50, pid: dead }), ...stepLines(1).lines, ...stepLines(2).lines]);
  // Stopped, then resumed by a live process: the latest run_start counts.
  run('f-resumed', [runStart(0, { time: T0 + 60, pid: dead }), ...stepLines(1).lines, end(1, 'stopped'),
    runStart(1, { time: T0 + 70, pid: process.pid, resumed_from_step: 1 }), ...stepLines(2).lines]);
  // Resumed long ago: the walk back to the latest run_start crosses many 256 KiB read blocks.
  const long = [runStart(0, { time: T0 + 80, pid: dead }), ...stepLines(1).lines, end(1, 'stopped'),
    runStart(1, { time: T0 + 85, pid: process.pid, resumed_from_step: 1 })];
  for (let s = 2; s <= 120; s++) long.push(...stepLines(s).lines);
  run('g-long', long);
  run('h-torn', [runStart(0, { time: T0 + 90, pid: dead }), ...stepLines(1).lines, ...stepLines(2).lines]);
  appendFileSync(join(root, 'h-torn', 'events.jsonl'), '{"v": 1, "type": "step", "ti');
  // The first run on a machine logs the testbed's build before run_start.
  const building = (n: number) => Array.from({ length: n }, (_, i) => line('log', 0, { level: 'info', message: `testbed: sft step ${i}` }, T0 + 1));
  run('i-prepared', [...building(3), runStart(0, { time: T0 + 95, pid: process.pid }), ...stepLines(1).lines]);
  run('j-build-stopped', [...building(2), end(0, 'stopped', 'received SIGINT')]);

  // Not runs, or broken ones.
  mkdirSync(join(root, 'empty-dir'));
  writeFileSync(join(root, 'notes.txt'), 'not a run');
  mkdirSync(join(root, '.cache'));
  writeFileSync(join(root, '.cache', 'config.yaml'), 'x: 1\n');
  symlinkSync(join(root, 'nowhere'), join(root, 'broken-link'));
  mkdirSync(join(root, 'z-pending'));
  writeFileSync(join(root, 'z-pending', 'config.yaml'), 'method: hbpo\n');
  mkdirSync(join(root, 'z-empty-events'));
  writeFileSync(join(root, 'z-empty-events', 'events.jsonl'), '');
  mkdirSync(join(root, 'z-garbage'));
  writeFileSync(join(root, 'z-garbage', 'events.jsonl'), Buffer.from([0xff, 0x00, 0x0a, 0x7b, 0x0a, 0x80, 0x81]));
  mkdirSync(join(root, 'z-events-dir', 'events.jsonl'), { recursive: true });
  writeFileSync(join(root, 'z-events-dir', 'config.yaml'), 'method: hbpo\n');
  mkdirSync(join(root, 'z-preparing'));
  writeFileSync(join(root, 'z-preparing', 'events.jsonl'), `${line('log', 0, { level: 'info', message: 'testbed: building' })}\n`);
  mkdirSync(join(root, 'z-no-start'));
  writeFileSync(join(root, 'z-no-start', 'events.jsonl'),
    `${line('log', 0, { level: 'info', message: 'orphan' })}\n${stepLines(1).lines.join('\n')}\n`);
}

test('the pid check: this process is alive, a reaped child and nonsense pids are not', () => {
  assert.equal(isPidAlive(process.pid), true);
  assert.equal(isPidAlive(deadPid()), false);
  for (const pid of [0, -1, 1.5, NaN]) assert.equal(isPidAlive(pid), false);
});

test('RunIndex lists runs newest first with status and step, and survives garbage', async () => {
  const root = tempDir();
  makeRuns(root);
  const runs = await new RunIndex(root).list();
  const byId = new Map(runs.map((r) => [r.id, r]));

  assert.deepEqual(runs.filter((r) => !r.id.startsWith('z-')).map((r) => r.id), [
    'j-build-stopped', 'i-prepared', 'h-torn', 'g-long', 'f-resumed', 'e-stale', 'd-running', 'c-failed', 'b-stopped', 'a-finished',
  ]);
  const prepared = byId.get('i-prepared')!;
  assert.deepEqual(pick(prepared), ['running', 1], 'log lines before run_start do not hide it');
  assert.deepEqual([prepared.startTime, prepared.pid, prepared.error], [T0 + 95, process.pid, undefined]);
  assert.deepEqual(pick(byId.get('j-build-stopped')!), ['stopped', 0]);
  assert.deepEqual(pick(byId.get('a-finished')!), ['finished', 3]);
  assert.deepEqual(pick(byId.get('b-stopped')!), ['stopped', 1]);
  assert.equal(byId.get('b-stopped')!.endReason, 'received SIGTERM');
  assert.deepEqual(pick(byId.get('c-failed')!), ['failed', 0]);
  assert.deepEqual(pick(byId.get('d-running')!), ['running', 1]);
  assert.deepEqual(pick(byId.get('e-stale')!), ['stale', 2]);
  assert.deepEqual(pick(byId.get('f-resumed')!), ['running', 2]);
  assert.equal(byId.get('f-resumed')!.startTime, T0 + 60, 'a run starts at its first run_start');
  assert.deepEqual(pick(byId.get('g-long')!), ['running', 120]);
  assert.deepEqual(pick(byId.get('h-torn')!), ['stale', 2]);
  const a = byId.get('a-finished')!;
  assert.deepEqual([a.method, a.totalSteps, a.tiers, a.pid], ['hbpo', 3, [512, 1024], 4242]);

  for (const skipped of ['empty-dir', 'notes.txt', '.cache', 'broken-link']) assert.ok(!byId.has(skipped), skipped);
  assert.equal(byId.get('z-pending')!.status, 'pending');
  assert.equal(byId.get('z-empty-events')!.status, 'pending');
  assert.equal(byId.get('z-events-dir')!.status, 'pending');
  assert.equal(byId.get('z-garbage')!.status, 'unknown');
  assert.equal(byId.get('z-preparing')!.status, 'pending', 'only log lines so far: still preparing');
  assert.equal(byId.get('z-preparing')!.error, undefined);
  assert.equal(byId.get('z-no-start')!.status, 'unknown', 'a step after the log lines, and no run_start');
  assert.match(byId.get('z-no-start')!.error ?? '', /run_start/);
});

test('a run that ended past its first total shows the latest run_start total', async () => {
  // A TRL folder read at step 1, then again when step 2 came (the follower appends a resumed
  // run_start with the new total), or a native run resumed with more steps: once its tailer is
  // gone the Runs view showed "finished · 2/1".
  const root = tempDir();
  const write = (name: string, lines: string[]) => {
    mkdirSync(join(root, name));
    writeRun(join(root, name), lines, true);
  };
  write('grown', [runStart(0, { total_steps: 1 }), ...stepLines(1).lines, end(1, 'finished'),
    runStart(1, { total_steps: 2, resumed_from_step: 1 }), ...stepLines(2).lines, end(2, 'finished')]);
  for (const blockBytes of [64, 1000, 256 * 1024]) {
    const byId = new Map((await new RunIndex(root, { blockBytes }).list()).map((r) => [r.id, r]));
    const grown = byId.get('grown')!;
    assert.deepEqual([grown.status, grown.step, grown.totalSteps, grown.startTime], ['finished', 2, 2, T0 - 1], `blocks of ${blockBytes}`);
  }
});

test('an injected liveness check decides running versus stale', async () => {
  const root = tempDir();
  makeRuns(root);
  const runs = await new RunIndex(root, { isAlive: () => false }).list();
  assert.equal(runs.find((r) => r.id === 'd-running')!.status, 'stale');
});

test('any read block size finds the same statuses and steps', async () => {
  const root = tempDir();
  makeRuns(root);
  const reference = (await new RunIndex(root).list()).map(pick);
  for (const blockBytes of [64, 97, 1000, 4099]) {
    assert.deepEqual((await new RunIndex(root, { blockBytes }).list()).map(pick), reference, `blocks of ${blockBytes}`);
  }
});

test('past tailBytes the walk gives up and the first run_start decides', async () => {
  const root = tempDir();
  makeRuns(root);
  const runs = await new RunIndex(root, { tailBytes: 64 * 1024 }).list();
  assert.deepEqual(pick(runs.find((r) => r.id === 'g-long')!), ['stale', 120]);
});

test('a missing runs folder lists nothing', async () => {
  assert.deepEqual(await new RunIndex(join(tempDir(), 'missing')).list(), []);
});

test('a run saved with a BOM is listed and read whole; a BOM on a later line only loses that line', async () => {
  const root = tempDir();
  const bom = Buffer.from([0xef, 0xbb, 0xbf]);
  const { lines } = finishedRun();
  mkdirSync(join(root, 'bom-start'));
  writeFileSync(join(root, 'bom-start', 'events.jsonl'), Buffer.concat([bom, Buffer.from(`${lines.join('\n')}\n`)]));
  mkdirSync(join(root, 'bom-end'));
  writeFileSync(join(root, 'bom-end', 'events.jsonl'),
    Buffer.concat([Buffer.from(`${lines.slice(0, -1).join('\n')}\n`), bom, Buffer.from(`${lines.at(-1)}\n`)]));
  const index = new RunIndex(root, { isAlive: () => false });
  const start = await index.summarize('bom-start');
  assert.deepEqual([start?.status, start?.step, start?.method, start?.error], ['finished', 3, 'hbpo', undefined]);
  // The run_end with a BOM before it is not an event: the run never ended, its process is gone.
  const end = await index.summarize('bom-end');
  assert.deepEqual([end?.status, end?.step], ['stale', 3]);

  const model = new RunModel(join(root, 'bom-start', 'events.jsonl'));
  const read = await readRunFile(model.eventsPath, model);
  assert.equal(model.errorCount, 0);
  assert.equal(model.info?.run_id, 'hbpo-test');
  assert.equal(model.status(), 'finished');
  assert.equal(read.line, lines.length + 1);
  assert.equal((await model.readRolloutGroup(1, 0)).rollouts.length, 4, 'offsets after the BOM read back right');
  const bad = new RunModel(join(root, 'bom-end', 'events.jsonl'));
  await readRunFile(bad.eventsPath, bad);
  assert.deepEqual(bad.errors.map((e) => e.line), [lines.length]);
  assert.match(bad.errors[0].message, new RegExp(`^line ${lines.length}: not JSON`));
});
