// The persisted index (.events.index): a run opened from it is the run a full scan gives, after the
// file grew (or its torn last line was completed); an index that no longer describes the file (the
// file shrank, was replaced or rewritten in place, a rollout changed under it) or that is torn or
// corrupt is never used, and the run is read from byte 0 instead.
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, readFileSync, statSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { INDEX_FILE } from '../../../extension/runs/indexFile';
import { loadRunFile, type LoadedRun, type LoadOptions } from '../../../extension/runs/runFile';
import { RunModel } from '../../../extension/runs/runModel';
import { modelView as view } from './modelView';
import { generate, PAPER_SHAPE } from '../../../scripts/genRun.mjs';
import { evalLines, finishedRun, jsonl, runStart, stepLines, tempDir, writeRun } from './fixtures';

/** Load with the index, and check the result against a full scan of the same file. */
async function loadChecked(path: string, options: LoadOptions = {}): Promise<LoadedRun> {
  const run = await loadRunFile(path, { indexMinBytes: 0, ...options });
  const scan = await loadRunFile(path, { index: false, worker: 'never' });
  assert.deepEqual(view(run), view(scan), 'a load through the index shows what a full scan shows');
  return run;
}

/** Where the first digit of the n-th `"n_gen"` value is (negative n: from the end). */
function nGenAt(text: string, n: number): number {
  const all = [...text.matchAll(/"n_gen":\s*(?=\d)/g)].map((m) => m.index! + m[0].length);
  assert.ok(all.length > 2);
  return all.at(n)!;
}

function newRun(lines = finishedRun().lines): string {
  const dir = tempDir();
  writeRun(dir, lines);
  return join(dir, 'events.jsonl');
}

for (const worker of ['never', 'always'] as const) {
  test(`a second open reads the index, not the file (${worker === 'never' ? 'in this thread' : 'in the worker'})`, async () => {
    const path = newRun([...finishedRun().lines, ...evalLines(3)]);
    const first = await loadChecked(path, { worker });
    assert.deepEqual({ ...first.index }, { used: false, reason: 'no index', written: true });
    const second = await loadChecked(path, { worker });
    assert.deepEqual(second.index, { used: true, written: false }, 'nothing new was read, so nothing is rewritten');
  });
}

test('an index stays below a size threshold: small runs are not worth one', async () => {
  const path = newRun();
  const run = await loadRunFile(path, { indexMinBytes: statSync(path).size + 1 });
  assert.equal(run.index?.written, false);
  assert.equal((await loadRunFile(path)).index?.reason, 'no index');
});

test('a run that grew is read from where the index ends, and the index is rewritten', async () => {
  const { lines } = finishedRun();
  const cut = lines.findIndex((l) => l.includes('"type": "step"') || l.includes('"type":"step"')) + 1;
  const path = newRun(lines.slice(0, cut));
  await loadChecked(path);
  appendFileSync(path, jsonl(lines.slice(cut)));
  const grown = await loadChecked(path);
  assert.equal(grown.index?.used, true);
  assert.equal(grown.index?.written, true);
  assert.equal((await loadChecked(path)).index?.used, true);
});

test('a torn last line left out of the index is read once it is complete', async () => {
  const { lines } = finishedRun();
  const last = lines[lines.length - 1];
  const path = newRun(lines.slice(0, -1));
  appendFileSync(path, last.slice(0, 20));
  const torn = await loadChecked(path);
  assert.equal(torn.index?.written, true);
  appendFileSync(path, `${last.slice(20)}\n`);
  const done = await loadChecked(path);
  assert.equal(done.index?.used, true);
  assert.ok(new RunModel('x', done.state).end, 'the completed run_end line is read');
});

test('a file that shrank, was replaced or was rewritten in place is read from byte 0', async () => {
  const path = newRun();
  await loadChecked(path);
  const full = readFileSync(path);

  truncateSync(path, full.length - 10);
  let run = await loadChecked(path);
  assert.equal(run.index?.used, false);
  assert.match(run.index?.reason ?? '', /shrank/);

  // Another run in its place, longer than the first: different first bytes.
  writeFileSync(path, full);
  await loadChecked(path);
  writeFileSync(path, jsonl([runStart(0, { run_id: 'hbpo-other' }), ...stepLines(1, 0.5).lines, ...stepLines(2, 0.5).lines, ...stepLines(3, 0.5).lines, ...stepLines(4).lines]));
  run = await loadChecked(path);
  assert.equal(run.index?.used, false);
  assert.match(run.index?.reason ?? '', /starts differently|differ/);

  // The same length, one value changed in the middle: the mtime tells.
  const text = readFileSync(path, 'utf8');
  await loadChecked(path);
  const at = nGenAt(text, 0);
  const digit = text[at];
  writeFileSync(path, text.slice(0, at) + (digit === '9' ? '8' : String(Number(digit) + 1)) + text.slice(at + 1));
  const later = new Date(Date.now() + 5000);
  utimesSync(path, later, later);
  run = await loadChecked(path);
  assert.equal(run.index?.used, false);
  assert.match(run.index?.reason ?? '', /rewritten in place/);
});

test('a rollout changed under the index with the mtime put back is caught by reading rollouts back', async () => {
  const steps = Array.from({ length: 12 }, (_, i) => stepLines(i + 1).lines).flat();
  const path = newRun([runStart(), ...steps]);
  await loadChecked(path);
  const before = statSync(path);
  const text = readFileSync(path, 'utf8');
  // The second rollout of the first step: past the head, far before the tail; the read-back checks it.
  assert.ok(text.length > 4 * 4096);
  const at = nGenAt(text, 1);
  const digit = text[at];
  writeFileSync(path, text.slice(0, at) + (digit === '9' ? '8' : String(Number(digit) + 1)) + text.slice(at + 1));
  utimesSync(path, before.atimeMs / 1000, before.mtimeMs / 1000);
  const run = await loadChecked(path);
  assert.equal(run.index?.used, false);
  assert.match(run.index?.reason ?? '', /differs from the file|not the indexed rollout/);
});

test('a torn, corrupt or foreign index file is ignored', async () => {
  const path = newRun();
  const indexPath = join(path, '..', INDEX_FILE);
  await loadChecked(path);
  const good = readFileSync(indexPath);
  const cases: [string, Buffer, RegExp][] = [
    ['torn', good.subarray(0, Math.floor(good.length / 2)), /corrupt/],
    ['one byte flipped in the body', Buffer.from(good.map((b, i) => (i === good.length - 3 ? b ^ 0x10 : b))), /digest/],
    ['one byte flipped in the header', Buffer.from(good.map((b, i) => (i === 40 ? b ^ 0x01 : b))), /corrupt/],
    ['empty', Buffer.alloc(0), /corrupt/],
    ['not an index', Buffer.from('{"hello": 1}\n'), /not an index/],
  ];
  for (const [what, bytes, reason] of cases) {
    writeFileSync(indexPath, bytes);
    const run = await loadChecked(path, { indexMinBytes: Infinity });
    assert.equal(run.index?.used, false, what);
    assert.match(run.index?.reason ?? '', reason, what);
  }
});

test('a folder that cannot hold an index still opens', async () => {
  const path = newRun();
  mkdirSync(join(path, '..', INDEX_FILE)); // a folder where the index would go: reading and renaming fail
  const run = await loadChecked(path);
  assert.equal(run.index?.used, false);
  assert.equal(run.index?.written, false);
  assert.ok(run.index?.writeError, 'the write error is reported');
});

test('a worker load reports progress with the step metrics read so far, before the rollouts, and the status of the whole file', async () => {
  // Several read chunks (1 MiB each), so partials come before the run_end line is read.
  const path = join(tempDir(), 'events.jsonl');
  await generate(path, { ...PAPER_SHAPE, steps: 60, queries: 8, rollouts: 4, meanTokens: 300, seed: 5 });
  assert.ok(statSync(path).size > 3 * 1024 * 1024);
  const seen: { bytes: number; total: number; steps: number; rollouts: number; end?: string }[] = [];
  const run = await loadRunFile(path, {
    worker: 'always', index: false, progressMs: 0,
    onProgress: (p, partial) => {
      const m = new RunModel('x', partial);
      seen.push({ ...p, steps: m.series('loss').steps.length, rollouts: m.rolloutCount, end: m.end?.status });
    },
  });
  assert.ok(seen.length > 0, 'progress was reported');
  assert.ok(seen.every((p) => p.rollouts === 0 && p.bytes <= p.total), JSON.stringify(seen));
  assert.ok(seen.some((p) => p.steps > 0 && p.steps < 60), 'a partial model has some step metrics');
  assert.equal(seen[seen.length - 1].total, statSync(path).size);
  const whole = new RunModel('x', run.state);
  assert.ok(whole.rolloutCount > 0);
  // The file's end (its run_end, read from the end) stands in for the status: finished, not stale.
  assert.ok(whole.end, 'the fixture run ends with run_end');
  assert.ok(seen.every((p) => p.end === whole.end!.status), JSON.stringify(seen));
});
