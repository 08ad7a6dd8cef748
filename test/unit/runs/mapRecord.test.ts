// A line map record read from its bytes (extension/runs/mapRecord.ts) is exactly what JSON.parse and
// the record's rules make of it: for records as the trainer writes them (any string, any float) and
// for every other form JSON allows or a damaged record takes. The oracle below is the rule as the
// format states it (docs/ARCHITECTURE.md, "line map"), written plainly.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crc32 } from 'node:zlib';
import { crc32Range, nearestDouble, parseRecord, type LineRecord } from '../../../extension/runs/mapRecord';
import { mapRecord } from '../../../scripts/genRun.mjs';
import { stepLines } from './fixtures';

const CASES = ['truncated', 'wrong', 'within', 'over', 'natural'];
const int = (v: unknown, min: number, max: number) => Number.isInteger(v) && (v as number) >= min && (v as number) <= max;

/** What a record's text means, by the format's rules, through JSON.parse of its UTF-8 bytes. */
function oracle(text: string): LineRecord | undefined {
  const bytes = Buffer.from(text); // a lone surrogate in `text` is U+FFFD in the bytes, as on disk
  let r: unknown[];
  try {
    r = JSON.parse(bytes.toString());
  } catch {
    return undefined;
  }
  if (!Array.isArray(r) || (r.length !== 4 && r.length !== 16)) return undefined;
  if (r[r.length - 1] !== crc32(bytes.subarray(0, bytes.lastIndexOf(',')))) return undefined;
  const [offset, length, crc] = r as number[];
  if (!int(offset, 0, Number.MAX_SAFE_INTEGER) || !int(length, 1, 256 * 1024 * 1024) || !int(crc, 0, 2 ** 32 - 1)) return undefined;
  if (r.length === 4) return { offset, length, crc };
  const [time, step, queryIndex, sample, tier, nGen, correct, truncated, reward, rewardCase, queryId, difficulty] = r.slice(3);
  const i32 = 2 ** 31 - 1;
  if (typeof time !== 'number' || !int(step, 0, i32) || !int(queryIndex, 0, i32) || !int(sample, 0, i32)) return undefined;
  if (!(tier === null || int(tier, 1, i32)) || !int(nGen, 0, i32) || typeof correct !== 'boolean' || typeof truncated !== 'boolean') return undefined;
  if (typeof reward !== 'number' || !CASES.includes(rewardCase as string) || typeof queryId !== 'string') return undefined;
  if (!(difficulty === null || typeof difficulty === 'string')) return undefined;
  const rollout = {
    v: 2, type: 'rollout', time, step, query_id: queryId, query_index: queryIndex, sample, tier, difficulty, n_gen: nGen,
    correct, truncated, reward: { reward, case: rewardCase },
  };
  return { offset, length, crc, rollout: rollout as unknown as LineRecord['rollout'] };
}

/** A seeded generator (mulberry32), so a failure reproduces. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const parse = (text: string, pad = '') => {
  // The record inside a bigger buffer, as a map chunk holds it: bytes around it must not matter.
  const bytes = Buffer.from(`${pad}${text}\n${pad}`);
  const start = Buffer.byteLength(pad);
  return parseRecord(bytes, start, start + Buffer.byteLength(text));
};

/** The record with its check made again for its new text, so the fields alone decide. */
function rechecked(body: string): string {
  return `${body},${crc32(Buffer.from(body))}]`;
}

const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];

/** A rollout record's fields as the trainer might write them: every kind of value a real run has. */
function randomFields(r: () => number): unknown[] {
  const strings = ['deepscaler-7919', 'aime/2024/II/15', 'ψ-Ωμέγα', '数学题 12', '🧮 sum', '', 'x'.repeat(300), 'a"b', 'tab\there', 'back\\slash', 'ctl\u0007'];
  const floats = [0, -0, 1.5, -0.503716, 1796033069.1299999, 1764523512.3456788, 1e-5, 3.2e-7, 1e21, 123456789012345.6, 0.1 + 0.2,
    Number.MIN_VALUE, -1e300, 4503599627370496.5, 2 ** 52 + 1, 1764523512 + r(), 1 + r(), -(2 ** 40 + r())];
  return [
    pick(r, [0, 638, 2 ** 32 + 5, 2 ** 53 - 1, Math.floor(r() * 1e12)]), pick(r, [1, 14680, 256 * 1024 * 1024]), Math.floor(r() * 2 ** 32),
    pick(r, floats), Math.floor(r() * 700), Math.floor(r() * 64), Math.floor(r() * 4), pick(r, [512, 2560, null]),
    Math.floor(r() * 4096), r() < 0.5, r() < 0.5, pick(r, floats), pick(r, CASES), pick(r, strings), pick(r, [...strings, null]),
  ];
}

test('crc32Range is zlib crc32 over any range of any bytes', () => {
  const r = rng(7);
  const bytes = Buffer.from(Array.from({ length: 4096 }, () => Math.floor(r() * 256)));
  for (let i = 0; i < 500; i++) {
    const start = Math.floor(r() * 4096);
    const end = start + Math.floor(r() * (4096 - start));
    assert.equal(crc32Range(bytes, start, end), crc32(bytes.subarray(start, end)), `bytes [${start}, ${end})`);
  }
});

test('nearestDouble is the double JSON.parse gives: random decimals, around powers of two, exact ties', () => {
  const r = rng(3);
  const cases: [number, number, number][] = [];
  for (let i = 0; i < 100_000; i++) {
    const digits = 1 + Math.floor(r() * 16);
    const whole = r() < 0.2 ? 2 ** Math.floor(r() * 53) + Math.floor(r() * 3) - 1 : Math.max(1, Math.floor(r() * 10 ** digits));
    const k = 1 + Math.floor(r() * 15);
    cases.push([whole, Math.floor(r() * 10 ** k), k]);
  }
  // Halfway between two doubles: whole + (2j + 1) / 2^(s + 1), written out exactly in decimal.
  for (let e = 40; e <= 52; e++) {
    for (const whole of [2 ** e, 2 ** e + 1, 2 ** e + 2, 2 ** (e + 1) - 1]) {
      const s = 52 - e;
      for (const j of [0, 1, 2, 2 ** s - 1].filter((x) => x >= 0 && x < 2 ** s || s === 0)) {
        const k = s + 1;
        const frac = ((2 * j + 1) * 5 ** k) % 10 ** k; // (2j + 1) / 2^k = (2j + 1) * 5^k / 10^k
        if (k <= 15 && whole < 2 ** 53) cases.push([whole, frac, k]);
      }
    }
  }
  let exact = 0;
  for (const [whole, frac, k] of cases) {
    if (whole >= 2 ** 53) continue;
    const text = `${whole}.${String(frac).padStart(k, '0')}`;
    const got = nearestDouble(whole, frac, k);
    if (Number.isNaN(got)) continue; // left to Number() of the text
    exact++;
    assert.equal(got, JSON.parse(text), text);
  }
  assert.ok(exact > 50_000, `most cases are worked out, not left to Number() (${exact})`);
  assert.equal(nearestDouble(1796033069, 1299999, 7), 1796033069.1299999);
});

test('records written as the trainer writes them read as JSON.parse reads them: strings, floats, nulls', () => {
  const r = rng(1);
  for (let i = 0; i < 3000; i++) {
    // Python's json.dumps(separators=(",", ":"), ensure_ascii=False) and JSON.stringify agree but for
    // float spelling (1e-05 against 1e-5): both forms are JSON, both are read.
    const body = JSON.stringify(randomFields(r)).slice(0, -1).replace(/e-(\d)\b/g, (_m, d) => (r() < 0.5 ? `e-0${d}` : `e-${d}`));
    const text = rechecked(body);
    const got = parse(text, r() < 0.5 ? '' : ']["x",1,'.repeat(3));
    assert.ok(got, `a sound record is taken: ${text}`);
    assert.deepEqual(got, oracle(text), text);
    assert.ok(Object.is(got.rollout!.reward.reward, oracle(text)!.rollout!.reward.reward), `-0 stays -0: ${text}`);
  }
});

test('every other form JSON allows, and every damage, reads as the oracle says', () => {
  const r = rng(2);
  const inserts = [' ', '\n', '\\u0041', '\\"', 'e5', 'E+2', '.0', '0', '-', '+', ',', '"', ']', '[', 'null', 'true', 'NaN', '1e400', '\u00e9', '\ud83d\ude00'];
  let taken = 0;
  for (let i = 0; i < 6000; i++) {
    const good = JSON.stringify(randomFields(r)).slice(0, -1);
    const at = Math.floor(r() * good.length);
    const body = r() < 0.5
      ? good.slice(0, at) + pick(r, inserts) + good.slice(at) // an insertion
      : good.slice(0, at) + good.slice(at + 1 + Math.floor(r() * 3)); // a deletion
    for (const text of [rechecked(body), `${body},${Math.floor(r() * 2 ** 32)}]`, `${body}]`, body]) {
      const want = oracle(text);
      assert.deepEqual(parse(text), want, text);
      if (want) taken++;
    }
  }
  assert.ok(taken > 500, `the cases reach the field checks (${taken} sound records among them)`);
});

test('a record of another line (4 fields) and the cached strings do not leak from one record to the next', () => {
  const a = rechecked(JSON.stringify([5, 10, 99]).slice(0, -1));
  assert.deepEqual(parse(a), { offset: 5, length: 10, crc: 99 });
  const q1 = rechecked(JSON.stringify([0, 5, 1, 1.5, 1, 0, 0, 512, 10, true, false, 1, 'over', 'query-aaa', 'easy']).slice(0, -1));
  const q2 = rechecked(JSON.stringify([6, 5, 1, 1.5, 1, 0, 0, 512, 10, true, false, 1, 'over', 'query-aab', 'hard']).slice(0, -1));
  // The same bytes at the same place in a reused buffer, then other bytes there: each read as written.
  const buf = Buffer.alloc(200);
  for (const [text, id, difficulty] of [[q1, 'query-aaa', 'easy'], [q2, 'query-aab', 'hard'], [q1, 'query-aaa', 'easy']] as const) {
    buf.fill(0x20);
    const end = buf.write(text, 0);
    const got = parseRecord(buf, 0, end)?.rollout;
    assert.equal(got?.query_id, id);
    assert.equal(got?.difficulty, difficulty);
  }
});

test('parseRecord takes only sound records: arity, types, bounds and its own check', () => {
  const event = JSON.parse(stepLines(1).lines[0]);
  const good = mapRecord(10, Buffer.from('x'.repeat(20)), event);
  const parse = (s: string) => parseRecord(Buffer.from(s), 0, Buffer.byteLength(s));
  assert.equal(parse(good)?.rollout?.n_gen, event.n_gen);
  assert.equal(parse(good)?.offset, 10);
  const redo = (mutate: (f: unknown[]) => void) => {
    const f = JSON.parse(good).slice(0, -1) as unknown[];
    mutate(f);
    const text = JSON.stringify(f).slice(0, -1);
    // A fresh check, so only the field's own test can refuse it.
    return parse(`${text},${crc32(text)}]`);
  };
  assert.ok(redo(() => {}), 'a record rebuilt unchanged is taken');
  assert.equal(redo((f) => (f[7] = 0)), undefined, 'tier 0');
  assert.equal(redo((f) => (f[4] = 2 ** 31)), undefined, 'step past int32');
  assert.equal(redo((f) => (f[12] = 'bogus')), undefined, 'an unknown case');
  assert.equal(redo((f) => (f[9] = 1)), undefined, 'correct not a boolean');
  assert.equal(redo((f) => (f[14] = 3)), undefined, 'difficulty not a string');
  assert.equal(redo((f) => f.pop()), undefined, 'wrong arity');
  assert.equal(redo((f) => (f[1] = 0)), undefined, 'an empty line');
  assert.equal(parse(good.replace(/,(\d+)\]$/, (_m, c) => `,${(Number(c) + 1) % 2 ** 32}]`)), undefined, 'its check');
  assert.equal(parse('[1,2,3]'), undefined);
  assert.equal(parse('not json,1]'), undefined);
});

