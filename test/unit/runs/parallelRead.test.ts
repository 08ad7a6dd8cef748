// A big span read by several threads (parallelRead.ts) gives exactly the model and the read a single
// sequential read gives: the whole state (series, groups with their row numbers, offsets and line
// numbers, errors and their messages, error count, logs, evals, checkpoints, info, end, last event
// time) and where the read ended (offset, line, size, head, tail). Cut points are forced (`cuts`)
// and swept over every byte of small files, with segments parsed in this thread (`inThread`: the
// same code a worker runs, minus the transfer); a few loads go through real workers.
import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { PARALLEL_MIN_BYTES, type ParallelOptions } from '../../../extension/runs/parallelRead';
import { loadRunFile, readRunFile, type FileRead, type LoadedRun } from '../../../extension/runs/runFile';
import { MAX_ERRORS, MAX_LOG_LINES, RunModel } from '../../../extension/runs/runModel';
import { evalLines, finishedRun, line, runStart, stepLines, tempDir } from './fixtures';
import { baseLines, mutate, rng } from './fuzzLines';

function fileOf(content: string | Buffer): string {
  const path = join(tempDir(), 'events.jsonl');
  writeFileSync(path, content);
  return path;
}

const joinLines = (lines: string[]) => lines.map((l) => `${l}\n`).join('');

/** Everything the model holds (the live one: its groups' step order too) and the read. */
function observed(model: RunModel, read: FileRead) {
  const steps = model.rolloutSteps();
  // Bytes as plain Uint8Arrays: a sequential read's head and tail are Buffers or not depending on its chunks.
  const identity = read.identity && { ...read.identity, head: Uint8Array.from(read.identity.head), tail: Uint8Array.from(read.identity.tail) };
  return {
    read: { ...read, identity, index: undefined, ranges: undefined },
    state: model.toState(),
    lengths: steps.map((s) => [...model.lengthsByTier(s)]),
    queryIndices: steps.map((s) => model.queryIndices(s)),
    lastEventTime: model.lastEventTime,
  };
}

async function sequential(path: string) {
  const model = new RunModel(path);
  const read = await readRunFile(path, model, { index: false });
  return observed(model, read);
}

/** Reads that were really shared out (not read by one thread after all). */
let sharedReads = 0;

async function parallel(path: string, options: ParallelOptions) {
  const model = new RunModel(path);
  const read = await readRunFile(path, model, { index: false, parallel: { minBytes: 0, inThread: true, ...options } });
  if (read.ranges !== undefined) {
    assert.ok(read.ranges >= 2 && read.ranges <= (options.cuts ? options.cuts.length + 1 : options.workers!));
    sharedReads++;
  }
  return observed(model, read);
}

/**
 * Sequential, then parallel with a cut at each of `points` (two ranges; every other point also a
 * second cut further on: three ranges). Returns how many reads were compared.
 */
async function sweep(path: string, points: Iterable<number>): Promise<number> {
  const expected = await sequential(path);
  const size = expected.read.size;
  const sharedBefore = sharedReads;
  let n = 0;
  for (const p of points) {
    const cuts = n % 2 === 0 ? [p] : [p, 1 + ((p * 7919) % (size - 1))];
    assert.deepEqual(await parallel(path, { cuts }), expected, `cuts at ${cuts}`);
    n++;
  }
  // A cut after the start of the last complete line leaves one range; every other read was shared out.
  const bytes = readFileSync(path);
  const lastLineStart = expected.read.offset < 2 ? 0 : bytes.lastIndexOf(0x0a, expected.read.offset - 2) + 1;
  const cutBefore = [...points].filter((p) => p <= lastLineStart).length;
  assert.ok(sharedReads - sharedBefore >= cutBefore, `${sharedReads - sharedBefore} of ${n} reads shared out, ${cutBefore} expected`);
  return n;
}

/** Every byte offset from 1 to `size` - 1. */
const everyByte = (size: number) => Array.from({ length: Math.max(0, size - 1) }, (_, i) => i + 1);

/** Every byte within 2 of a newline, and every `stride`-th byte between. */
function nearNewlines(text: string, stride: number): number[] {
  const points = new Set<number>();
  for (let i = 1; i < text.length; i += stride) points.add(i);
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) for (let d = -2; d <= 2; d++) points.add(i + d);
  const size = Buffer.byteLength(text);
  return [...points].map((i) => Buffer.byteLength(text.slice(0, i))).filter((p) => p >= 1 && p < size).sort((x, y) => x - y);
}

test('the fixture run, cut at every line end and through its lines', async () => {
  const text = joinLines(finishedRun().lines);
  const path = fileOf(text);
  assert.ok((await sweep(path, nearNewlines(text, 23))) > 500);
});

test('a resume whose superseded rows lie in an earlier range', async () => {
  const lines = [
    ...finishedRun().lines.slice(0, -1),
    ...stepLines(4).lines, ...evalLines(4),
    line('checkpoint', 4, { path: 'checkpoints/step-000004', reason: 'periodic' }),
    runStart(2, { resumed_from_step: 2 }),
    ...stepLines(3, 1).lines, ...stepLines(4, 1).lines, ...stepLines(5, 1).lines,
    line('run_end', 5, { status: 'finished', reason: 'completed', checkpoint: null }),
  ];
  const text = joinLines(lines);
  const path = fileOf(text);
  const resumeAt = text.indexOf('"resumed_from_step": 2') >= 0 ? text.indexOf('"resumed_from_step": 2') : text.indexOf('"resumed_from_step":2');
  assert.ok(resumeAt > 0);
  const expected = await sequential(path);
  assert.ok(expected.state.rollouts.size > 0);
  // The resume in the second or third range; the rows it drops in the first (and second).
  for (const cuts of [[resumeAt - 5000], [resumeAt - 100], [resumeAt - 9000, resumeAt - 3000], [resumeAt - 3000, resumeAt + 200], [1000, 2000, 3000, resumeAt]]) {
    assert.deepEqual(await parallel(path, { cuts }), expected, `cuts at ${cuts}`);
  }
  await sweep(path, nearNewlines(text, 97));
});

test('bad, blank and CRLF lines, a BOM at byte 0, a torn last line: cut at every byte', async () => {
  const r = finishedRun().lines;
  const parts = [
    '\ufeff' + r[0], '', r[1], 'not json at all', '{"v": 1, "type": "telemetry"}', '', '', r[2], '   ',
    `${r[3]}\r`, '\r', '{"v": 99, "type": "log"}', '\ufeff' + r[1], r[r.length - 1],
  ];
  const text = `${parts.join('\n')}\n{"v": 1, "type": "log", "ti`;
  const path = fileOf(text);
  const expected = await sequential(path);
  assert.ok(expected.state.errorCount >= 4);
  assert.ok(expected.read.offset < expected.read.size, 'a torn last line');
  await sweep(path, everyByte(Buffer.byteLength(text)));
});

test('more bad lines than the model keeps, more logs than it keeps, across ranges', async () => {
  const lines = [runStart()];
  for (let i = 0; i < 3 * MAX_ERRORS; i++) lines.push(`bad line ${i}`);
  for (let i = 0; i < 3 * MAX_LOG_LINES; i++) lines.push(line('log', 0, { level: 'info', message: `log ${i}` }, 1000 + i));
  for (let i = 0; i < MAX_ERRORS; i++) lines.push(`{"v": 1, "broken": ${i}`);
  lines.push(...stepLines(1).lines);
  const text = joinLines(lines);
  const path = fileOf(text);
  const expected = await sequential(path);
  assert.equal(expected.state.errorCount, 4 * MAX_ERRORS);
  const size = Buffer.byteLength(text);
  for (const cuts of [[size / 2], [size / 4, size / 2, (3 * size) / 4], [100, size - 3000], [text.indexOf('"log 700"')]]) {
    assert.deepEqual(await parallel(path, { cuts: cuts.map(Math.floor) }), expected, `cuts at ${cuts}`);
  }
  for (const workers of [2, 3, 4, 8]) assert.deepEqual(await parallel(path, { workers }), expected, `${workers} even ranges`);
});

test('a file smaller than the ranges, an empty file, one line, no newline at all', async () => {
  for (const text of ['', '\n', `${runStart()}\n`, runStart(), `${runStart()}\n\n`, `a\nb\n`, `\n\n\n`, joinLines(finishedRun().lines.slice(0, 3))]) {
    const path = fileOf(text);
    const expected = await sequential(path);
    for (const workers of [2, 3, 8]) assert.deepEqual(await parallel(path, { workers }), expected, `${JSON.stringify(text.slice(0, 20))}, ${workers} ranges`);
  }
});

test('event fuzz: mutated lines, cut at every byte of small files', async () => {
  const lines = baseLines();
  const base = lines.filter((l) => !l.includes('"rollout"') && l.length < 600).slice(0, 5); // short lines: small files
  const rollout = lines.find((l) => l.includes('"rollout"'))!;
  const r = rng(21);
  let cases = 0;
  for (let f = 0; f < 2; f++) {
    const parts: Buffer[] = [];
    for (const l of [...base.slice(0, 3), rollout, ...base.slice(3)]) {
      parts.push(Buffer.from(l));
      if (r() < 0.7) parts.push(mutate(r() < 0.3 ? rollout : l, r));
    }
    const file = Buffer.concat([...parts.flatMap((p) => [p, Buffer.from('\n')]), mutate(base[0]!, r)]); // a torn last line too
    cases += await sweep(fileOf(file), everyByte(file.length));
  }
  assert.ok(cases > 1000);
});

/** What a LoadedRun shows, for loads through loadRunFile. */
function loaded(run: LoadedRun) {
  const model = new RunModel('x', run.state);
  return observed(model, { offset: run.offset, line: run.line, size: run.size, identity: run.identity });
}

test('through real workers: in a worker that shares out to more, and from this thread', async () => {
  const lines = [...finishedRun().lines.slice(0, -1), ...stepLines(4).lines, runStart(2, { resumed_from_step: 2 }), ...stepLines(3, 1).lines, 'oops'];
  const path = fileOf(`\ufeff${joinLines(lines)}{"torn`);
  const expected = loaded(await loadRunFile(path, { worker: 'never', index: false }));
  for (const workers of [2, 3, 4]) {
    const inWorker = await loadRunFile(path, { worker: 'always', index: false, parallel: { workers, minBytes: 0 } });
    assert.equal(inWorker.usedWorker, true);
    assert.equal(inWorker.ranges, workers, 'shared out');
    assert.deepEqual(loaded(inWorker), expected, `a worker and ${workers - 1} more`);
    const here = await loadRunFile(path, { worker: 'never', index: false, parallel: { workers, minBytes: 0 } });
    assert.equal(here.ranges, workers, 'shared out');
    assert.deepEqual(loaded(here), expected, `this thread and ${workers - 1} workers`);
  }
});

test('workers that fail cost nothing: the reading thread reads their ranges', async () => {
  const path = fileOf(joinLines(finishedRun().lines));
  const expected = loaded(await loadRunFile(path, { worker: 'never', index: false }));
  const broken = join(tempDir(), 'broken.js');
  writeFileSync(broken, 'throw new Error("boom")\n');
  const run = await loadRunFile(path, { worker: 'never', index: false, parallel: { workers: 3, minBytes: 0, workerPath: broken } });
  assert.equal(run.ranges, undefined, 'read by one thread after all');
  assert.deepEqual(loaded(run), expected);
});

test('small spans are read by one thread; the default threshold is 64 MiB', async () => {
  assert.equal(PARALLEL_MIN_BYTES, 64 * 1024 * 1024);
  const path = fileOf(joinLines(finishedRun().lines));
  const broken = join(tempDir(), 'broken.js');
  writeFileSync(broken, 'throw new Error("boom")\n');
  // Below the threshold no worker is started (a broken script would not matter either way: the model is the same).
  const run = await loadRunFile(path, { worker: 'never', index: false, parallel: { workers: 3, workerPath: broken } });
  assert.equal(run.ranges, undefined);
  assert.deepEqual(loaded(run), loaded(await loadRunFile(path, { worker: 'never', index: false })));
});

test('with the persisted index: a parallel first open writes the index a sequential one would, and reads on from it in parallel', async () => {
  const { lines } = finishedRun();
  const half = Math.floor(lines.length / 2);
  const dir = tempDir();
  const path = join(dir, 'events.jsonl');
  writeFileSync(path, joinLines(lines.slice(0, half)));
  const first = await loadRunFile(path, { worker: 'never', indexMinBytes: 0, parallel: { workers: 3, minBytes: 0, inThread: true } });
  assert.equal(first.index?.written, true);
  appendFileSync(path, `${joinLines(lines.slice(half))}{"to`);
  const grown = await loadRunFile(path, { worker: 'always', indexMinBytes: 0, parallel: { workers: 3, minBytes: 0 } });
  assert.equal(grown.index?.used, true);
  assert.equal(grown.ranges, 3);
  const scan = await loadRunFile(path, { worker: 'never', index: false });
  assert.deepEqual(loaded(grown), loaded(scan));
  const again = await loadRunFile(path, { worker: 'never' });
  assert.equal(again.index?.used, true);
  assert.deepEqual(loaded(again), loaded(scan));
});

test('progress counts the workers\' bytes and ends at the file size', async () => {
  const lines: string[] = [runStart()];
  for (let s = 1; s <= 40; s++) lines.push(...stepLines(s).lines);
  const path = fileOf(joinLines(lines));
  const seen: number[] = [];
  const run = await loadRunFile(path, {
    worker: 'always', index: false, progressMs: 0, parallel: { workers: 3, minBytes: 0 },
    onProgress: (p, partial) => {
      assert.ok(partial, 'a worker load reports partials');
      assert.ok(p.bytes <= p.total);
      seen.push(p.bytes);
    },
  });
  assert.ok(seen.length > 0);
  assert.ok(seen.every((b) => b <= run.size));
  assert.deepEqual(loaded(run), loaded(await loadRunFile(path, { worker: 'never', index: false })));
});

test('an aborted parallel load rejects, in this thread or in the worker', async () => {
  const lines: string[] = [runStart()];
  for (let s = 1; s <= 20; s++) lines.push(...stepLines(s).lines);
  const path = fileOf(joinLines(lines));
  for (const worker of ['never', 'always'] as const) {
    const abort = new AbortController();
    const pending = loadRunFile(path, { worker, index: false, signal: abort.signal, parallel: { workers: 3, minBytes: 0 } });
    setTimeout(() => abort.abort(), 5);
    await assert.rejects(pending);
  }
  const model = new RunModel(path);
  const abort = new AbortController();
  abort.abort();
  await assert.rejects(readRunFile(path, model, { index: false, signal: abort.signal, parallel: { workers: 3, minBytes: 0, inThread: true } }));
});
