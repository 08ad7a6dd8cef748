// RolloutIndex.dropAfter (a resumed run supersedes later steps): whatever the order of the rows, the
// index afterwards is the one built from only the kept rows, and keeps working as rows come after.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RolloutEvent } from '../../../extension/events';
import { parseLines, type ParsedLine } from '../../../extension/runs/lineReader';
import { RolloutIndex } from '../../../extension/runs/rolloutIndex';
import { RunModel } from '../../../extension/runs/runModel';
import { jsonl, PER_TIER, QUERIES, rolloutLine, runStart, stepLines, TIERS } from './fixtures';

/** Parsed rollout lines of one group (step, query), at made-up but distinct file positions. */
function group(step: number, query: number): string[] {
  const lines: string[] = [];
  let sample = 0;
  for (const tier of TIERS) for (let j = 0; j < PER_TIER; j++) lines.push(rolloutLine(step, query, sample++, tier, j).text);
  return lines;
}

function parsed(lines: string[]): ParsedLine[] {
  const chunk = parseLines(Buffer.from(jsonl(lines)));
  assert.deepEqual(chunk.errors, []);
  return chunk.events;
}

function indexOf(rows: ParsedLine[]): RolloutIndex {
  const index = new RolloutIndex();
  for (const p of rows) index.add(p.event as RolloutEvent, p.offset, p.length, p.line);
  return index;
}

/** Everything the index answers, for every step and query index there could be. */
function view(index: RolloutIndex) {
  const steps = index.steps();
  const out: Record<string, unknown> = { count: index.count, steps, state: index.toState() };
  for (let step = 0; step <= 9; step++) {
    out[`q${step}`] = index.queryIndices(step);
    out[`l${step}`] = [...index.lengthsByTier(step)];
    for (let q = 0; q < 3; q++) out[`g${step}:${q}`] = index.group(step, q);
  }
  return out;
}

/** `index` after dropAfter(step) equals an index of only the rows it keeps; and stays so as rows come. */
function checkDrop(rows: ParsedLine[], step: number, later: ParsedLine[] = []): RolloutIndex {
  const index = indexOf(rows);
  index.dropAfter(step);
  const kept = rows.filter((p) => p.event.step <= step);
  assert.deepEqual(view(index), view(indexOf(kept)));
  for (const p of later) index.add(p.event as RolloutEvent, p.offset, p.length, p.line);
  assert.deepEqual(view(index), view(indexOf([...kept, ...later])));
  return index;
}

const steps = (...list: [number, number][]) => list.flatMap(([s, q]) => group(s, q));

test('dropAfter, rows in step order: the later steps go, the rest is as if never there', () => {
  const rows = parsed(steps([1, 0], [1, 1], [2, 1], [2, 0], [3, 0], [3, 1], [4, 0]));
  const index = checkDrop(rows, 2);
  assert.deepEqual(index.steps(), [1, 2]);
  assert.equal(index.count, 2 * 2 * TIERS.length * PER_TIER);
  assert.deepEqual(index.queryIndices(2), [0, 1]);
  assert.deepEqual(index.group(3, 0), []);
  assert.deepEqual(index.lengthsByTier(3), new Map());
  // The resumed attempt writes steps 3 and 4 again, after the dropped rows in the file.
  const again = parsed(steps([3, 1], [3, 0], [4, 0])).map((p) => ({
    ...p, offset: p.offset + 1_000_000, line: p.line + 1000,
  }));
  checkDrop(rows, 2, again);
});

test('dropAfter, rows out of step order: a step 5 row after step 7 rows', () => {
  const rows = parsed(steps([1, 0], [7, 0], [5, 1], [7, 1], [5, 0], [3, 2]));
  // The last rows are kept (step 3), yet step-7 rows are earlier: the kept rows move up.
  let index = checkDrop(rows, 5, parsed(steps([6, 0], [5, 2])));
  assert.deepEqual(index.steps(), [1, 3, 5, 6]);
  assert.deepEqual(index.queryIndices(5), [0, 1, 2]);
  // Dropped rows at the end and in the middle.
  index = checkDrop(rows, 4, parsed(steps([5, 0])));
  assert.deepEqual(index.steps(), [1, 3, 5]);
  checkDrop(rows, 6);
  checkDrop(rows, 2, parsed(steps([2, 0], [1, 1])));
  // A suffix of dropped rows as long as some but not all of the dropped ones.
  checkDrop(parsed(steps([9, 0], [1, 0], [9, 1])), 1, parsed(steps([2, 0])));
  // Many kept rows in few runs (moved as blocks), and steps interleaved row by row (moved one by one).
  const many = Array.from({ length: 20 }, (_, q) => [1, q] as [number, number]);
  checkDrop(parsed(steps(...many, [9, 0], [2, 0], [9, 1], [2, 1], [2, 2])), 2, parsed(steps([3, 0])));
  const [a, b] = [group(1, 0), group(9, 0)];
  checkDrop(parsed([...a.flatMap((l, i) => [l, b[i]]), ...steps(...many)]), 1, parsed(steps([2, 0])));
});

test('dropAfter of nothing, of everything, and on an empty index', () => {
  const rows = parsed(steps([1, 0], [2, 0], [2, 1]));
  const index = indexOf(rows);
  const before = view(index);
  index.dropAfter(2);
  index.dropAfter(9);
  assert.deepEqual(view(index), before);

  const empty = checkDrop(rows, 0, parsed(steps([1, 1])));
  assert.deepEqual(empty.steps(), [1]);
  const none = indexOf(rows);
  none.dropAfter(0);
  assert.equal(none.count, 0);
  assert.deepEqual(none.steps(), []);
  assert.deepEqual(none.group(1, 0), []);
  assert.deepEqual(view(none), view(new RolloutIndex()));

  const fresh = new RolloutIndex();
  fresh.dropAfter(0);
  assert.deepEqual(view(fresh), view(new RolloutIndex()));
  checkDrop(parsed(steps([3, 0], [1, 0])), -1, parsed(steps([1, 1])));
});

test('dropAfter on an index loaded from a state (the worker\'s), in and out of order', () => {
  for (const order of [[[1, 0], [2, 0], [3, 0]], [[3, 0], [1, 0], [2, 0]]] as [number, number][][]) {
    const rows = parsed(steps(...order));
    const index = new RolloutIndex(indexOf(rows).toState());
    index.dropAfter(1);
    assert.deepEqual(view(index), view(indexOf(rows.filter((p) => p.event.step <= 1))));
    const later = parsed(steps([2, 1]));
    for (const p of later) index.add(p.event as RolloutEvent, p.offset, p.length, p.line);
    assert.deepEqual(view(index), view(indexOf([...rows.filter((p) => p.event.step <= 1), ...later])));
  }
});

test('a resumed model equals a model of only what the resume keeps', () => {
  const first = [runStart(), ...[1, 2, 3, 4].flatMap((s) => stepLines(s, 10 * s).lines)];
  const second = [runStart(2, { resumed_from_step: 2 }), ...[3, 4].flatMap((s) => stepLines(s).lines)];
  const resumed = new RunModel('unused');
  resumed.ingest(parseLines(Buffer.from(jsonl([...first, ...second]))));
  // The same lines at the same positions, less the superseded ones: a model built afresh.
  const keep = (p: ParsedLine) => p.line > first.length || p.event.step <= 2;
  const all = parseLines(Buffer.from(jsonl([...first, ...second])));
  const fresh = new RunModel('unused');
  fresh.ingest({ events: all.events.filter(keep), errors: [] });
  assert.deepEqual(resumed.metricKeys(), fresh.metricKeys());
  for (const k of fresh.metricKeys()) assert.deepEqual(resumed.series(k), fresh.series(k), k);
  assert.deepEqual(resumed.series('loss').steps, [1, 2, 3, 4]);
  assert.deepEqual(resumed.lastMetrics, fresh.lastMetrics);
  assert.deepEqual(resumed.toState().rollouts, fresh.toState().rollouts);
  assert.equal(resumed.rolloutCount, 4 * QUERIES * TIERS.length * PER_TIER);

  // Resume from step 2 again, with nothing after it: lastMetrics is step 2's (the second attempt's
  // step 2 is the first one's: it was kept), and a resume past every step drops nothing.
  resumed.ingest(parseLines(Buffer.from(`${runStart(2, { resumed_from_step: 2 })}\n`)));
  assert.equal(resumed.lastMetrics?.loss, 0.25 + 20);
  assert.deepEqual(resumed.rolloutSteps(), [1, 2]);
  resumed.ingest(parseLines(Buffer.from(`${runStart(2, { resumed_from_step: 9 })}\n`)));
  assert.deepEqual(resumed.rolloutSteps(), [1, 2]);
  assert.equal(resumed.lastMetrics?.loss, 0.25 + 20);
  // From before the first step: no metrics left at all.
  resumed.ingest(parseLines(Buffer.from(`${runStart(0, { resumed_from_step: 0 })}\n`)));
  assert.equal(resumed.lastMetrics, undefined);
  assert.deepEqual(resumed.metricKeys(), []);
  assert.equal(resumed.rolloutCount, 0);
});

test('lastMetrics after a resume: the last step at or before it that any series has, series out of order too', () => {
  const model = new RunModel('unused');
  const lines = [runStart(), ...stepLines(3).lines.slice(-1), ...stepLines(1).lines.slice(-1), ...stepLines(5).lines.slice(-1),
    ...stepLines(2, 7).lines.slice(-1)];
  model.ingest(parseLines(Buffer.from(jsonl(lines))));
  model.ingest(parseLines(Buffer.from(`${runStart(4, { resumed_from_step: 4 })}\n`)));
  assert.deepEqual(model.series('loss'), { steps: [3, 1, 2], values: [0.5 / 3, 0.5, 7.25] });
  assert.equal(model.lastMetrics?.loss, 0.5 / 3);
});
