// The trainer's line map (.events.lines): a first open through it shows exactly what a full scan
// shows, whatever the map misses (records missing, damaged, out of order, behind the file, a torn
// event line between them); a map that does not describe the file (stale, from another file, wrong
// fields, another version) is not used, and the run is read as usual.
import assert from 'node:assert/strict';
import { readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { LINES_FILE, SAMPLE_RECORDS } from '../../../extension/runs/lineMap';
import { parseRecord } from '../../../extension/runs/mapRecord';
import { loadRunFile, type LoadedRun, type LoadOptions } from '../../../extension/runs/runFile';
import { modelView as view } from './modelView';
import { LINE_MAP_HEADER, mapRecord } from '../../../scripts/genRun.mjs';
import { finishedRun, runStart, stepLines, tempDir, writeRun } from './fixtures';

interface Written {
  dir: string;
  path: string;
  /** The map's records, one per event line (in file order), without the header. */
  records: string[];
}

/** A run as the trainer leaves it: events.jsonl and, written after it, its line map. */
function trainerRun(lines: string[], { torn = new Set<number>() }: { torn?: Set<number> } = {}): Written {
  const dir = tempDir();
  writeRun(dir, []);
  const path = join(dir, 'events.jsonl');
  const records: string[] = [];
  let offset = 0;
  const chunks: Buffer[] = [];
  lines.forEach((text, i) => {
    const bytes = Buffer.from(text);
    if (torn.has(i)) {
      // A line cut by a crash: no newline, no record; the next line starts on a fresh line.
      const cut = bytes.subarray(0, Math.floor(bytes.length / 2));
      chunks.push(cut, Buffer.from('\n'));
      offset += cut.length + 1;
      return;
    }
    records.push(mapRecord(offset, bytes, JSON.parse(text)));
    chunks.push(bytes, Buffer.from('\n'));
    offset += bytes.length + 1;
  });
  writeFileSync(path, Buffer.concat(chunks));
  writeMap(dir, records);
  return { dir, path, records };
}

function writeMap(dir: string, records: string[], header = LINE_MAP_HEADER): void {
  writeFileSync(join(dir, LINES_FILE), [header, ...records].map((l) => `${l}\n`).join(''));
}

/** A run with what real runs have: non-ASCII query ids, a resume that supersedes a step, evals. */
function richLines(): string[] {
  const { lines } = finishedRun();
  const resumed = runStart(2, { resumed_from_step: 2 });
  const redo = stepLines(3, 0.5).lines.map((l) => l.replace(/testbed-train-(\d+)/, 'задача-ü-数-$1 \\"q\\"'));
  return [...lines.slice(0, -1), resumed, ...redo, lines.at(-1)!];
}

/** Load (no persisted index: a first open) and check it against a full scan that ignores the map. */
async function loadChecked(path: string, options: LoadOptions = {}): Promise<LoadedRun> {
  const run = await loadRunFile(path, { index: false, ...options });
  const scan = await loadRunFile(path, { index: false, lineMap: false, worker: 'never' });
  assert.equal(scan.lineMap, undefined);
  assert.deepEqual(view(run), view(scan), 'a load through the line map shows what a full scan shows');
  return run;
}

for (const worker of ['never', 'always'] as const) {
  test(`a first open reads the line map, not every rollout line (${worker === 'never' ? 'in this thread' : 'in the worker'})`, async () => {
    const lines = richLines();
    const { path } = trainerRun(lines);
    const run = await loadChecked(path, { worker });
    assert.deepEqual(run.lineMap, { used: true, records: lines.length });
    assert.equal(run.usedWorker, worker === 'always');
    assert.ok(run.state.rollouts.size > SAMPLE_RECORDS, 'more rollouts than the sample: most are taken from the map unread');
  });
}

test('a map behind the file (a live run, a crash between the two writes): the rest is read from the file', async () => {
  const lines = richLines();
  const { dir, path, records } = trainerRun(lines);
  writeMap(dir, records.slice(0, -5));
  const run = await loadChecked(path);
  assert.deepEqual(run.lineMap, { used: true, records: lines.length - 5 });
});

test('records missing, damaged or out of order: their lines are read from the file', async () => {
  const lines = richLines();
  const { dir, path, records } = trainerRun(lines);
  const damaged = [...records];
  const rollout = damaged.findIndex((r, i) => i > 10 && JSON.parse(r).length === 16);
  // A digit of its reward changed: the record's own check no longer holds, so it is not believed.
  damaged[rollout] = damaged[rollout].replace(/,(true|false),(true|false),(\d)/, (_m, a, b, d) => `,${a},${b},${(Number(d) + 1) % 10}`);
  assert.notEqual(damaged[rollout], records[rollout]);
  assert.equal(parseRecord(Buffer.from(damaged[rollout]), 0, Buffer.byteLength(damaged[rollout])), undefined);
  damaged.splice(20, 3); // lost
  [damaged[30], damaged[31]] = [damaged[31], damaged[30]]; // two writers' records interleaved
  damaged.splice(35, 0, '[1,2,3'); // torn
  writeMap(dir, damaged);
  const run = await loadChecked(path);
  assert.equal(run.lineMap?.used, true);
  assert.ok(run.lineMap!.records! < lines.length - 4, `${run.lineMap!.records} records taken`);
});

test('a torn event line between records is read from the file and reported, as a scan reports it', async () => {
  const lines = richLines();
  const { path } = trainerRun(lines, { torn: new Set([7, 30]) });
  const run = await loadChecked(path);
  assert.equal(run.lineMap?.used, true);
  assert.equal(run.state.errorCount, 2);
});

test('a map older than the file (edited, or appended to by a tool that writes no map) is not used', async () => {
  const { path } = trainerRun(richLines());
  const { mtime } = statSync(path);
  utimesSync(path, mtime, new Date(mtime.getTime() + 5000));
  const run = await loadChecked(path);
  assert.equal(run.lineMap?.used, false);
  assert.match(run.lineMap!.reason!, /modified after its line map/);
});

test('an event line changed under its record (mtime put back) is caught by its CRC and the run read as usual', async () => {
  const { dir, path } = trainerRun(richLines());
  const mapTime = statSync(join(dir, LINES_FILE)).mtime;
  const text = readFileSync(path, 'utf8');
  const edited = text.replace('"accuracy":0.27,', '"accuracy":0.97,'); // an eval's: same length, still valid
  assert.notEqual(edited, text, 'the fixture has an eval with accuracy 0.27');
  writeFileSync(path, edited);
  // Put back to a second before the map was written (a Date holds milliseconds, rounded: setting the
  // map's own time could land a fraction of a millisecond after it).
  const before = new Date(mapTime.getTime() - 1000);
  utimesSync(path, before, before);
  const run = await loadChecked(path);
  assert.equal(run.lineMap?.used, false);
  assert.match(run.lineMap!.reason!, /does not match line \d+/);
});

test('a map of another file, or whose fields disagree with the lines, or of another version, is not used', async (t) => {
  const lines = richLines();
  await t.test('another run\'s map', async () => {
    const other = trainerRun(lines.map((l) => l.replace('Compute 2 + 2.', 'Compute 2 + 3.')));
    const { dir, path } = trainerRun(lines);
    writeFileSync(join(dir, LINES_FILE), readFileSync(join(other.dir, LINES_FILE)));
    const run = await loadChecked(path);
    assert.equal(run.lineMap?.used, false);
    assert.match(run.lineMap!.reason!, /CRC-32 differs|no line of/);
  });
  await t.test('a writer that got a field wrong (its check recomputed)', async () => {
    // A run small enough that the sample covers every record: the wrong one is always among them.
    const small = [runStart(), ...stepLines(1).lines.slice(0, SAMPLE_RECORDS - 2)];
    const { dir, path, records } = trainerRun(small);
    const at = 3;
    const fields = JSON.parse(records[at]).slice(0, -1);
    fields[8] += 1; // n_gen
    const event = JSON.parse(small[at]);
    const wrong = mapRecord(fields[0], Buffer.from(small[at]), { ...event, n_gen: event.n_gen + 1 });
    writeMap(dir, records.map((r, i) => (i === at ? wrong : r)));
    const run = await loadChecked(path);
    assert.equal(run.lineMap?.used, false);
    assert.match(run.lineMap!.reason!, /n_gen differ from the line's/);
  });
  await t.test('another version', async () => {
    const { dir, path, records } = trainerRun(lines);
    writeMap(dir, records, JSON.stringify({ hbpo_lines: 2 }));
    const run = await loadChecked(path);
    assert.equal(run.lineMap?.used, false);
    assert.match(run.lineMap!.reason!, /not a line map of version 1/);
  });
});

test('no map: the run is read as usual and nothing is said about a map', async () => {
  const dir = tempDir();
  writeRun(dir, richLines());
  const run = await loadChecked(join(dir, 'events.jsonl'));
  assert.deepEqual(run.lineMap, { used: false, reason: undefined });
});

test('a read through the map leaves the persisted index, and the next open reads that', async () => {
  const { path } = trainerRun(richLines());
  const first = await loadRunFile(path, { indexMinBytes: 0 });
  assert.equal(first.lineMap?.used, true);
  assert.equal(first.index?.written, true, JSON.stringify(first.index));
  const second = await loadChecked(path, { index: true, indexMinBytes: 0 });
  assert.equal(second.index?.used, true);
  assert.equal(second.lineMap, undefined, 'the map is for a first open');
});

test('a big map is shared out: its ranges read by workers, merged in file order, are the run a scan shows', async (t) => {
  const lines = [...richLines(), ...stepLines(4).lines, ...stepLines(5).lines];
  const cases: [string, (w: Written) => void][] = [
    ['a sound map', () => {}],
    ['records lost, damaged and torn, some where the map is cut', ({ dir, records }) => {
      const third = Math.floor(records.length / 3);
      const damaged = [...records];
      damaged[third] = damaged[third].replace(/,(\d+)\]$/, (_m, c) => `,${(Number(c) + 7) % 2 ** 32}]`);
      damaged.splice(2 * third, 2);
      damaged.splice(third + 5, 0, '[1,2,3');
      writeMap(dir, damaged);
    }],
    ['a torn event line', () => {}],
  ];
  for (const [name, spoil] of cases) {
    for (const parallel of [{ workers: 3, minBytes: 0, inThread: true }, { workers: 3, minBytes: 0 }]) {
      await t.test(`${name}, ${parallel.inThread ? 'in this thread' : 'in workers'}`, async () => {
        const written = trainerRun(lines, name === 'a torn event line' ? { torn: new Set([lines.length / 2 | 0]) } : {});
        spoil(written);
        const run = await loadChecked(written.path, { worker: 'never', parallel });
        assert.equal(run.lineMap?.used, true, JSON.stringify(run.lineMap));
        assert.equal(run.lineMap?.ranges, 3);
      });
    }
  }
});
