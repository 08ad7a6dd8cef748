// A seeded fuzzer of events.jsonl lines. Valid lines of a realistic run (several samples per tier,
// a natural-mode rollout, a resume, non-ASCII text) are mutated (huge, negative and fractional
// numbers, 2^53 + 1, NaN-ish strings, wrong types, deleted fields, duplicate keys, truncation, random
// bytes, BOM prefixes) and mixed into the run; each file then goes the run store's way: LineReader
// (random chunking) -> schema validation -> RunModel and its RolloutIndex, the whole-file read,
// RunIndex's summary, and reading rollout groups back by byte range.
//
// Asserted: nothing throws; every non-blank line is either an event or an error carrying its line
// number (exactly one of the two); every indexed rollout holds exactly the values of its line (each
// field compared with that line's own JSON, decoded again from the file's bytes).
//
//   HBPO_FUZZ_CASES=10000 node --import tsx --test test/unit/runs/eventFuzz.test.ts
//
// HBPO_FUZZ_CASES: mutated lines (default 400); HBPO_FUZZ_SEED: the seed (default 12).
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { LineReader, startsWithBom, type ParsedChunk, type ParsedLine } from '../../../extension/runs/lineReader';
import { readRunFile } from '../../../extension/runs/runFile';
import { RunIndex } from '../../../extension/runs/runIndex';
import { RunModel } from '../../../extension/runs/runModel';
import type { RolloutSummary } from '../../../extension/runs/rolloutIndex';
import { tempDir } from './fixtures';
import { baseLines, mutate, rng } from './fuzzLines';

const CASES = Math.max(1, Number(process.env.HBPO_FUZZ_CASES ?? 400) || 400);
const SEED = Number(process.env.HBPO_FUZZ_SEED ?? 12) || 12;
const MUTATIONS_PER_FILE = 40;

/** A line's own JSON, decoded again from the file's bytes (a BOM skipped only at offset 0). */
function lineJson(file: Buffer, offset: number, length: number): Record<string, any> {
  let bytes = file.subarray(offset, offset + length);
  if (bytes.at(-1) === 0x0d) bytes = bytes.subarray(0, -1);
  if (offset === 0 && startsWithBom(bytes)) bytes = bytes.subarray(3);
  return JSON.parse(bytes.toString('utf8')) as Record<string, any>;
}

interface Counts { lines: number; refused: number; indexed: number; crashes: number; wrong: number; notes: string[] }

function wrong(c: Counts, what: string): void {
  c.wrong++;
  if (c.notes.length < 12) c.notes.push(`wrong: ${what}`);
}

/** The fields a RolloutSummary holds, as the line says they should be (the other terms are read back whole). */
function expectedSummary(e: Record<string, any>, p: { offset: number; length: number; line: number }) {
  return {
    step: e.step, queryIndex: e.query_index, sample: e.sample, tier: e.tier, nGen: e.n_gen, correct: e.correct,
    truncated: e.truncated, reward: e.reward.reward, case: e.reward.case, offset: p.offset, length: p.length, line: p.line,
  };
}

function actualSummary(s: RolloutSummary) {
  return {
    step: s.step, queryIndex: s.queryIndex, sample: s.sample, tier: s.tier, nGen: s.nGen, correct: s.correct,
    truncated: s.truncated, reward: s.reward.reward, case: s.reward.case, offset: s.offset, length: s.length, line: s.line,
  };
}

/** Check one file's parse against its bytes; count lines, refusals, events, mismatches. */
async function checkFile(file: Buffer, dir: string, r: () => number, c: Counts): Promise<void> {
  // 1. LineReader in random chunks, into a model.
  const reader = new LineReader();
  const model = new RunModel(join(dir, 'events.jsonl'));
  const got: ParsedChunk = { events: [], errors: [] };
  for (let at = 0; at < file.length;) {
    const size = r() < 0.3 ? 1 + Math.floor(r() * 8) : 1 + Math.floor(r() * 4000);
    const chunk = reader.push(file.subarray(at, at + size));
    model.ingest(chunk);
    got.events.push(...chunk.events);
    got.errors.push(...chunk.errors);
    at += size;
  }
  const last = reader.flush();
  model.ingest(last);
  got.events.push(...last.events);
  got.errors.push(...last.errors);

  // 2. Every non-blank line is exactly one event or one error, by line number.
  const byLine = new Map<number, 'event' | 'error'>();
  for (const p of got.events) {
    if (byLine.has(p.line)) wrong(c, `line ${p.line} reported twice`);
    byLine.set(p.line, 'event');
  }
  for (const e of got.errors) {
    if (!e.message.startsWith(`line ${e.line}`)) wrong(c, `error without its line number: ${e.message.slice(0, 80)}`);
    if (byLine.has(e.line)) wrong(c, `line ${e.line} reported twice`);
    byLine.set(e.line, 'error');
  }
  let lineNo = 0;
  for (let start = 0; start < file.length; lineNo++) {
    const nl = file.indexOf(0x0a, start);
    const end = nl === -1 ? file.length : nl;
    let bytes = file.subarray(start, end);
    if (bytes.at(-1) === 0x0d) bytes = bytes.subarray(0, -1);
    if (start === 0 && startsWithBom(bytes)) bytes = bytes.subarray(3);
    const blank = bytes.toString('utf8').trim() === '';
    const seen = byLine.get(lineNo + 1);
    if (blank && seen) wrong(c, `blank line ${lineNo + 1} reported as ${seen}`);
    if (!blank) {
      c.lines++;
      if (!seen) wrong(c, `line ${lineNo + 1} neither indexed nor refused`);
      else if (seen === 'error') c.refused++;
      else c.indexed++;
    }
    if (nl === -1) break;
    start = nl + 1;
  }

  // 3. Every accepted event is its line's JSON; every indexed rollout holds its line's values.
  const expected: { p: ParsedLine; e: Record<string, any> }[] = [];
  for (const p of got.events) {
    const e = lineJson(file, p.offset, p.length);
    try {
      assert.deepStrictEqual(p.event, e);
    } catch {
      wrong(c, `line ${p.line}: the event differs from its line`);
    }
    if (e.type === 'run_start' && e.resumed_from_step !== null) {
      for (let i = expected.length - 1; i >= 0; i--) if (expected[i]!.e.step > e.resumed_from_step) expected.splice(i, 1);
    }
    if (e.type === 'rollout') expected.push({ p, e });
  }
  const rows = new Map<number, RolloutSummary>();
  for (const step of model.rolloutSteps()) {
    for (const qi of model.queryIndices(step)) for (const s of model.rolloutGroup(step, qi)) rows.set(s.line, s);
  }
  if (rows.size !== expected.length || model.rolloutCount !== expected.length) {
    wrong(c, `${model.rolloutCount} rollouts indexed (${rows.size} reachable), ${expected.length} expected`);
  }
  const firstOfGroup = new Map<string, Record<string, any>>();
  for (const { p, e } of expected) {
    const s = rows.get(p.line);
    if (!s) {
      wrong(c, `line ${p.line}: rollout not indexed`);
      continue;
    }
    const want = expectedSummary(e, p);
    const have = actualSummary(s);
    for (const k of Object.keys(want) as (keyof typeof want)[]) {
      if (want[k] !== have[k]) wrong(c, `line ${p.line}: ${k} indexed as ${JSON.stringify(have[k])}, the line says ${JSON.stringify(want[k])}`);
    }
    // query_id and difficulty are kept per (step, query_index) group: those of its first line.
    const g = `${e.step}:${e.query_index}`;
    if (!firstOfGroup.has(g)) firstOfGroup.set(g, e);
    const first = firstOfGroup.get(g)!;
    if (s.queryId !== first.query_id || s.difficulty !== (first.difficulty ?? null)) wrong(c, `line ${p.line}: group query_id/difficulty`);
  }

  // 4. The whole-file read, the folder summary and rollout reads by range agree, and do not throw.
  writeFileSync(join(dir, 'events.jsonl'), file);
  const fresh = new RunModel(join(dir, 'events.jsonl'));
  await readRunFile(join(dir, 'events.jsonl'), fresh);
  const tail = new RunModel(join(dir, 'events.jsonl'));
  tail.ingest(new LineReader().push(file)); // the same bytes, one chunk, no flush: a torn last line is held
  try {
    assert.deepStrictEqual(fresh.toState(), tail.toState());
  } catch {
    wrong(c, 'a whole-file read differs from a chunked read');
  }
  const summary = await new RunIndex(join(dir, '..'), { isAlive: () => false }).summarize('run');
  // RunIndex reads a last line without its newline as complete, as the flushed reader does.
  const lastEvent = got.events.at(-1);
  if (!summary || (lastEvent && summary.step !== lastEvent.event.step)) {
    wrong(c, `RunIndex step ${summary?.step}, last event's step ${lastEvent?.event.step}`);
  }
  const steps = model.rolloutSteps();
  for (let i = 0; i < 3 && steps.length > 0; i++) {
    const step = steps[Math.floor(r() * steps.length)]!;
    const qis = model.queryIndices(step);
    const qi = qis[Math.floor(r() * qis.length)]!;
    const read = await model.readRolloutGroup(step, qi);
    const group = model.rolloutGroup(step, qi);
    if (read.errors.length > 0 || read.rollouts.length !== group.length) {
      wrong(c, `reading group ${step}:${qi} back: ${read.errors[0] ?? `${read.rollouts.length} of ${group.length}`}`);
      continue;
    }
    group.forEach((s, j) => {
      try {
        assert.deepStrictEqual(read.rollouts[j], lineJson(file, s.offset, s.length));
      } catch {
        wrong(c, `line ${s.line}: read back differs from its line`);
      }
    });
  }
}

test(`event fuzz: ${CASES} mutated lines through the run store's path`, async () => {
  const r = rng(SEED);
  const base = baseLines();
  const root = tempDir();
  const dir = join(root, 'run');
  mkdirSync(dir);
  const c: Counts = { lines: 0, refused: 0, indexed: 0, crashes: 0, wrong: 0, notes: [] };
  for (let done = 0; done < CASES;) {
    const n = Math.min(MUTATIONS_PER_FILE, CASES - done);
    const parts: Buffer[] = base.map((l) => Buffer.from(l));
    for (let i = 0; i < n; i++) {
      const at = 1 + Math.floor(r() * parts.length);
      const bad = mutate(base[Math.floor(r() * base.length)]!, r);
      if (r() < 0.3) parts.splice(at, 0, bad);
      else parts[Math.min(at, parts.length - 1)] = bad; // in place of a valid line
    }
    let file = Buffer.concat(parts.flatMap((p) => [p, Buffer.from('\n')]));
    if (r() < 0.1) file = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), file]); // saved with a BOM
    if (r() < 0.1) file = file.subarray(0, file.length - 1 - Math.floor(r() * 40)); // torn at the end
    try {
      await checkFile(file, dir, r, c);
    } catch (err) {
      c.crashes++;
      if (c.notes.length < 12) c.notes.push(`crash: ${(err as Error).stack?.split('\n').slice(0, 3).join(' | ')}`);
    }
    done += n;
  }
  for (const note of c.notes) console.log(note);
  console.log(`event fuzz: ${c.lines} lines, ${c.refused} refused, ${c.indexed} indexed, ${c.crashes} crashes, ${c.wrong} wrong`);
  assert.equal(c.lines, c.refused + c.indexed);
  assert.ok(c.refused > 0 && c.indexed > 0, 'the fuzz both refuses and indexes lines');
  assert.equal(c.crashes, 0, 'no exception escapes');
  assert.equal(c.wrong, 0, 'every indexed line holds exactly its values; every refused line has its number');
});
