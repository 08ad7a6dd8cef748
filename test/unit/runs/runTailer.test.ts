import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, renameSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { readRunFile } from '../../../extension/runs/runFile';
import { RunModel } from '../../../extension/runs/runModel';
import { RunTailer, type RunChange, type TailerOptions } from '../../../extension/runs/runTailer';
import { finishedRun, jsonl, line, rolloutText, runStart, stepLines, tempDir } from './fixtures';

/** Wait for a condition with a generous deadline (a deadline, not a measurement). */
async function until(cond: () => boolean, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A tailer that only reads when told (no watcher, no poll within a test) and batches forever. */
function manualTailer(dir: string, options: TailerOptions = {}): { tailer: RunTailer; changes: RunChange[] } {
  const tailer = new RunTailer(dir, { watch: false, pollMs: 3_600_000, batchMs: 3_600_000, ...options });
  const changes: RunChange[] = [];
  tailer.onDidChange((c) => changes.push(c));
  return { tailer, changes };
}

/** A tailer started on `text` written to a new events.jsonl, its start-up changes flushed and forgotten. */
async function startedTailer(t: TestContext, text: string): Promise<{ tailer: RunTailer; changes: RunChange[]; path: string }> {
  const dir = tempDir();
  const path = join(dir, 'events.jsonl');
  writeFileSync(path, text);
  const { tailer, changes } = manualTailer(dir);
  t.after(() => tailer.dispose());
  await tailer.start();
  tailer.flush();
  changes.length = 0;
  return { tailer, changes, path };
}

/** Open timers and fs watchers, once closed handles had a turn of the event loop to go away. */
async function handles(): Promise<Record<string, number>> {
  await new Promise((r) => setImmediate(r));
  const counts: Record<string, number> = { Timeout: 0, FSEventWrap: 0 };
  for (const r of process.getActiveResourcesInfo()) if (r in counts) counts[r]++;
  return counts;
}

test('follows a file created after the start, and a line appended in two halves', async (t) => {
  const dir = tempDir();
  const path = join(dir, 'events.jsonl');
  const { tailer, changes } = manualTailer(dir);
  t.after(() => tailer.dispose());
  await tailer.start();
  assert.equal(tailer.model.status(), 'pending');
  assert.equal(tailer.lastError, undefined);

  writeFileSync(path, jsonl([runStart(), ...stepLines(1).lines]));
  await tailer.refresh();
  assert.equal(tailer.model.step, 1);
  tailer.flush();
  assert.equal(changes.length, 1);
  assert.equal(changes[0].reset, true, 'the first load builds the model');

  const step2 = stepLines(2);
  appendFileSync(path, jsonl(step2.lines.slice(0, -1)));
  const last = `${step2.lines.at(-1)}\n`;
  appendFileSync(path, last.slice(0, 100));
  await tailer.refresh();
  assert.equal(tailer.model.step, 1, 'the half-written step event is held back');
  assert.equal(tailer.model.errorCount, 0);
  assert.equal(tailer.model.queryIndices(2).length, 2, 'the complete rollout lines before it are in');

  appendFileSync(path, last.slice(100));
  await tailer.refresh();
  assert.equal(tailer.model.step, 2);
  assert.equal(tailer.model.errorCount, 0);
  assert.deepEqual(tailer.model.series('loss').steps, [1, 2]);
  const read = await tailer.model.readRolloutGroup(2, 1);
  assert.deepEqual(read.rollouts.map((r) => r.text), [0, 1, 2, 3].map((s) => rolloutText(2, 1, s)));
  tailer.flush();
  assert.equal(changes.length, 2);
  assert.deepEqual([changes[1].reset, changes[1].events, changes[1].errors], [false, step2.lines.length, 0]);
  assert.deepEqual(changes[1].types.sort(), ['rollout', 'step']);
});

test('notifications are batched: one for many reads', async (t) => {
  const dir = tempDir();
  const path = join(dir, 'events.jsonl');
  writeFileSync(path, `${runStart()}\n`);
  const { tailer, changes } = manualTailer(dir);
  t.after(() => tailer.dispose());
  await tailer.start();
  tailer.flush();
  changes.length = 0;
  for (let i = 0; i < 5; i++) {
    appendFileSync(path, `${line('log', 0, { level: 'info', message: `m${i}` })}\n`);
    await tailer.refresh();
  }
  appendFileSync(path, 'not json\n');
  await tailer.refresh();
  assert.equal(changes.length, 0, 'nothing delivered before the batch window ends');
  tailer.flush();
  tailer.flush();
  assert.deepEqual(changes, [{ reset: false, events: 5, errors: 1, types: ['log'] }]);
  assert.equal(tailer.model.logs.length, 5);
  assert.match(tailer.model.errors[0].message, /^line 7: not JSON/);
});

test('fs.watch alone brings appended events in, batched by the timer', async (t) => {
  const dir = tempDir();
  const path = join(dir, 'events.jsonl');
  writeFileSync(path, `${runStart()}\n`);
  const tailer = new RunTailer(dir, { pollMs: 3_600_000, batchMs: 20 });
  t.after(() => tailer.dispose());
  const changes: RunChange[] = [];
  tailer.onDidChange((c) => changes.push(c));
  await tailer.start();
  appendFileSync(path, jsonl(stepLines(1).lines));
  await until(() => tailer.model.step === 1, 'the watcher to read step 1');
  await until(() => changes.some((c) => c.types.includes('step')), 'a notification for step 1');
});

test('polling alone follows the file when there is no watcher', async (t) => {
  const dir = join(tempDir(), 'not-yet');
  const tailer = new RunTailer(dir, { watch: false, pollMs: 20, batchMs: 20 });
  t.after(() => tailer.dispose());
  await tailer.start(); // the run folder itself does not exist yet
  mkdirSync(dir);
  writeFileSync(join(dir, 'events.jsonl'), jsonl([runStart(), ...stepLines(1).lines]));
  await until(() => tailer.model.step === 1, 'the poll to read step 1');
});

test('truncation, replacement and rewriting rebuild the model', async (t) => {
  const { tailer, changes, path } = await startedTailer(t, jsonl(finishedRun().lines));
  assert.equal(tailer.model.status(), 'finished');

  // Truncated and rewritten shorter.
  truncateSync(path, 0);
  appendFileSync(path, jsonl([runStart(), ...stepLines(1).lines]));
  await tailer.refresh();
  assert.equal(tailer.model.status(() => true), 'running');
  assert.equal(tailer.model.step, 1);
  assert.equal(tailer.model.rolloutSteps().length, 1);
  tailer.flush();
  assert.equal(changes.at(-1)?.reset, true);

  // Replaced by another file (rename over it), longer than what was read.
  const other = join(dirname(path), 'events.tmp');
  writeFileSync(other, jsonl([runStart(0, { run_id: 'other' }), ...stepLines(1, 7).lines, ...stepLines(2, 7).lines]));
  renameSync(other, path);
  await tailer.refresh();
  assert.equal(tailer.model.info?.run_id, 'other');
  assert.deepEqual(tailer.model.series('loss').values, [7.5, 7.25]);
  assert.equal(tailer.model.rolloutCount, 16);

  // Rewritten in place (same inode), longer, with a different start.
  writeFileSync(path, jsonl([runStart(0, { run_id: 'third' }), ...stepLines(1, 9).lines, ...stepLines(2, 9).lines, ...stepLines(3).lines]));
  await tailer.refresh();
  assert.equal(tailer.model.info?.run_id, 'third');
  assert.deepEqual(tailer.model.series('loss').values, [9.5, 9.25, 0.5 / 3]);
  assert.equal(tailer.model.errorCount, 0);

  // Deleted: back to an empty run.
  rmSync(path);
  await tailer.refresh();
  assert.equal(tailer.model.status(), 'pending');
  assert.equal(tailer.lastError, undefined);
});

test('a big initial load runs in the worker and tailing continues after it', async (t) => {
  const dir = tempDir();
  const path = join(dir, 'events.jsonl');
  const lines = [runStart(), ...stepLines(1).lines];
  const step2 = `${stepLines(2).lines[0]}\n`;
  writeFileSync(path, jsonl(lines) + step2.slice(0, 50)); // torn when the worker reads it
  const { tailer } = manualTailer(dir, { workerThreshold: 1 });
  t.after(() => tailer.dispose());
  await tailer.start();
  assert.equal(tailer.loadedInWorker, true);
  assert.equal(tailer.model.step, 1);
  assert.equal(tailer.model.errorCount, 0);

  appendFileSync(path, step2.slice(50));
  await tailer.refresh();
  const [summary] = tailer.model.rolloutGroup(2, 0);
  assert.equal(summary.line, lines.length + 1);
  assert.equal(summary.offset, Buffer.byteLength(jsonl(lines)));
  const read = await tailer.model.readRolloutGroup(2, 0);
  assert.deepEqual(read.rollouts.map((r) => r.text), [rolloutText(2, 0, 0)]);
  // rollouts loaded by the worker read back too
  assert.equal((await tailer.model.readRolloutGroup(1, 1)).rollouts.length, 4);
});

test('a folder named events.jsonl is an error, not a crash', async (t) => {
  const dir = tempDir();
  mkdirSync(join(dir, 'events.jsonl'));
  const { tailer } = manualTailer(dir);
  t.after(() => tailer.dispose());
  await tailer.start();
  assert.ok(tailer.lastError);
  assert.equal(tailer.model.status(), 'pending');
});

test('dispose leaves no timers or watchers and stops notifications', async () => {
  const dir = tempDir();
  const path = join(dir, 'events.jsonl');
  writeFileSync(path, `${runStart()}\n`);
  const before = await handles();

  const tailer = new RunTailer(dir, { pollMs: 10, batchMs: 10 });
  let calls = 0;
  tailer.onDidChange(() => calls++);
  await tailer.start();
  const during = await handles();
  assert.ok(during.Timeout > before.Timeout && during.FSEventWrap > before.FSEventWrap, 'it did start a poll timer and a watcher');
  tailer.dispose();
  tailer.dispose(); // idempotent
  assert.deepEqual(await handles(), before);

  appendFileSync(path, jsonl(stepLines(1).lines));
  await tailer.refresh();
  tailer.flush();
  assert.equal(tailer.model.step, 0, 'no reads after dispose');
  assert.equal(calls, 0, 'the pending first-load notification was dropped, none after');
  await tailer.start(); // no restart either
  assert.deepEqual(await handles(), before);
});

test('dispose during a worker load ends it cleanly', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'events.jsonl'), jsonl(finishedRun().lines));
  const before = await handles();
  const tailer = new RunTailer(dir, { worker: 'always', pollMs: 10 });
  const started = tailer.start();
  tailer.dispose();
  await started;
  assert.deepEqual(await handles(), before);
  assert.equal(tailer.model.status(), 'pending', 'the load was abandoned');
});

/** The model a fresh read of the file gives. */
async function freshState(path: string) {
  const model = new RunModel(path);
  await readRunFile(path, model);
  return model.toState();
}

/** Write `content` over `path` in place (same inode), making sure its mtime moves as a later save's would. */
async function rewriteInPlace(path: string, content: string | Buffer): Promise<void> {
  const before = statSync(path);
  for (;;) {
    writeFileSync(path, content);
    const after = statSync(path);
    assert.equal(after.ino, before.ino);
    if (after.mtimeMs !== before.mtimeMs) return;
    await new Promise((r) => setTimeout(r, 5)); // same coarse clock tick: save again a little later
  }
}

test('a file rewritten in place keeping its first 64 bytes is noticed and read again (same length, longer)', async (t) => {
  const original = jsonl(finishedRun().lines);
  const { tailer, changes, path } = await startedTailer(t, original);
  assert.equal(tailer.model.status(), 'finished');

  // Same length, a change in the middle only (far from both the first 64 bytes and the last 4 KiB).
  const middle = original.indexOf('starting step 0 of 3');
  assert.ok(middle > 64 && middle < original.length - 8192);
  const sameLength = original.replace('starting step 0 of 3', 'STARTING STEP 0 OF 3');
  assert.equal(Buffer.byteLength(sameLength), Buffer.byteLength(original));
  await rewriteInPlace(path, sameLength);
  await tailer.refresh();
  assert.equal(tailer.model.logs[0]?.message.slice(0, 20), 'STARTING STEP 0 OF 3');
  assert.deepStrictEqual(tailer.model.toState(), await freshState(path));
  tailer.flush();
  assert.equal(changes.at(-1)?.reset, true);

  // Same length, the last lines changed (a run_end that now says stopped).
  const stopped = sameLength.replace('"status":"finished","reason":"completed 3 steps"', '"status":"stopped", "reason":"completed 3 steps"');
  assert.equal(Buffer.byteLength(stopped), Buffer.byteLength(original));
  await rewriteInPlace(path, stopped);
  await tailer.refresh();
  assert.equal(tailer.model.status(), 'stopped');
  assert.deepStrictEqual(tailer.model.toState(), await freshState(path));

  // Longer: the same run_start line, then a line inserted before the rest (every later line moves
  // down one; reading on from the old offset would land mid-line with every line number off by one).
  const lines = finishedRun().lines;
  const inserted = [lines[0], line('log', 0, { level: 'warning', message: 'inserted 🚀' }), ...lines.slice(1),
    ...stepLines(4).lines];
  const longer = jsonl(inserted);
  assert.equal(longer.slice(0, 64), original.slice(0, 64));
  await rewriteInPlace(path, longer);
  await tailer.refresh();
  assert.equal(tailer.model.errorCount, 0);
  assert.equal(tailer.model.logs[0]?.message, 'inserted 🚀');
  assert.equal(tailer.model.rolloutGroup(1, 0)[0]?.line, 4);
  assert.deepStrictEqual(tailer.model.toState(), await freshState(path));
  assert.deepEqual((await tailer.model.readRolloutGroup(4, 1)).rollouts.map((r) => r.text), [0, 1, 2, 3].map((s) => rolloutText(4, 1, s)));
});

test('a file replaced by rename (new inode) with the same start is read again', async (t) => {
  const dir = tempDir();
  const path = join(dir, 'events.jsonl');
  const lines = [runStart(), ...stepLines(1).lines];
  writeFileSync(path, jsonl(lines));
  const { tailer } = manualTailer(dir);
  t.after(() => tailer.dispose());
  await tailer.start();
  assert.equal(tailer.model.step, 1);

  // The new file holds the old bytes plus more, but step 1's rollouts differ: only the inode tells.
  const other = join(dir, 'events.tmp');
  const replaced = [runStart(), ...stepLines(1, 5).lines.map((l) => l.replace('"answer":"4"', '"answer":"7"')), ...stepLines(2).lines];
  writeFileSync(other, jsonl(replaced));
  renameSync(other, path);
  await tailer.refresh();
  assert.equal(tailer.model.step, 2);
  assert.deepEqual(tailer.model.series('loss').values, [5.5, 0.25]);
  assert.deepStrictEqual(tailer.model.toState(), await freshState(path));
});

test('a file truncated and grown again past the read position between two reads is read again', async (t) => {
  const { tailer, changes, path } = await startedTailer(t, jsonl([runStart(), ...stepLines(1).lines]));

  // Between two reads: truncated, then the same run_start and a longer, different history.
  truncateSync(path, 0);
  appendFileSync(path, jsonl([runStart(), line('log', 0, { level: 'info', message: 'second attempt' }),
    ...stepLines(1, 2).lines, ...stepLines(2, 2).lines]));
  await tailer.refresh();
  assert.equal(tailer.model.errorCount, 0);
  assert.deepEqual(tailer.model.series('loss').values, [2.5, 2.25]);
  assert.equal(tailer.model.logs.at(-1)?.message, 'second attempt');
  assert.deepStrictEqual(tailer.model.toState(), await freshState(path));
  tailer.flush();
  assert.equal(changes.at(-1)?.reset, true);

  // And appends after that are read on as usual, with the right line numbers.
  appendFileSync(path, jsonl(stepLines(3, 2).lines));
  await tailer.refresh();
  assert.equal(tailer.model.step, 3);
  assert.deepStrictEqual(tailer.model.toState(), await freshState(path));
});

test('a rewrite after a worker load with a torn tail is noticed too', async (t) => {
  const dir = tempDir();
  const path = join(dir, 'events.jsonl');
  const lines = [runStart(), ...stepLines(1).lines];
  const next = `${stepLines(2).lines[0]}\n`;
  writeFileSync(path, jsonl(lines) + next.slice(0, 50));
  const { tailer } = manualTailer(dir, { workerThreshold: 1 });
  t.after(() => tailer.dispose());
  await tailer.start();
  assert.equal(tailer.loadedInWorker, true);
  // Rewritten: same start, the torn line's first bytes and what follows them differ.
  const rewritten = jsonl([runStart(), ...stepLines(1, 4).lines, ...stepLines(2, 4).lines]);
  await rewriteInPlace(path, rewritten);
  await tailer.refresh();
  assert.equal(tailer.model.errorCount, 0);
  assert.deepEqual(tailer.model.series('loss').values, [4.5, 4.25]);
  assert.deepStrictEqual(tailer.model.toState(), await freshState(path));
});
