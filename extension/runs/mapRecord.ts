// One record of the trainer's line map (lineMap.ts; format: docs/ARCHITECTURE.md, "line map") from
// its bytes. A first open reads one for every rollout of the run (644 K at the paper's size), so the
// record the trainer writes (json.dumps with separators ",", ":") is read straight from the bytes:
// no string for the line, no JSON.parse, no Buffer for the CRC. Anything else JSON allows (spaces, an
// exponent, an escape in a string, a long number) goes through JSON.parse, and both ways give the
// same fields: test/unit/runs/mapRecord.test.ts compares them on generated and mutated records.
import type { RolloutEvent } from '../events';
import { MAX_LINE_BYTES } from './lineReader';
import { CASES } from './rolloutIndex';

/** A line of events.jsonl as the map describes it; a rollout's fields when it is one. */
export interface LineRecord {
  offset: number;
  length: number;
  crc: number;
  rollout?: RolloutEvent;
}

const MAX_INT32 = 2147483647;
const COMMA = 0x2c;
const [OPEN, CLOSE, QUOTE, BACKSLASH, MINUS, DOT, ZERO, NINE] = [0x5b, 0x5d, 0x22, 0x5c, 0x2d, 0x2e, 0x30, 0x39];
/** 10^k for k <= 15: exact doubles, so digits / 10^k is one correctly rounded division (Clinger's fast path). */
const POW10 = Float64Array.from({ length: 16 }, (_, k) => 10 ** k);
/** 2^s for s <= 52. */
const POW2 = Float64Array.from({ length: 53 }, (_, s) => 2 ** s);

/** CRC-32 (IEEE, zlib's) tables for slicing by 4: T[k][b] is the CRC of byte b followed by k zero bytes. */
const CRC_TABLES = (() => {
  const t = new Int32Array(4 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  for (let n = 0; n < 256; n++) for (let k = 1; k < 4; k++) t[k * 256 + n] = t[(k - 1) * 256 + n] >>> 8 ^ t[t[(k - 1) * 256 + n] & 0xff];
  return t;
})();

/** CRC-32 of bytes [start, end), as zlib.crc32(bytes.subarray(start, end)), with no Buffer made for it. */
export function crc32Range(bytes: Uint8Array, start: number, end: number): number {
  const t = CRC_TABLES;
  let c = -1;
  let i = start;
  for (; i + 4 <= end; i += 4) {
    c ^= bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24);
    c = t[768 + (c & 0xff)] ^ t[512 + ((c >>> 8) & 0xff)] ^ t[256 + ((c >>> 16) & 0xff)] ^ t[c >>> 24];
  }
  for (; i < end; i++) c = t[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

/**
 * The double nearest to whole + frac / 10^k (ties to even), as JSON.parse gives, for 1 <= whole < 2^53,
 * frac < 10^k and k <= 15; NaN where the integers below would not be exact (then the caller parses
 * the text). Between 2^e and 2^(e+1) doubles are 2^-s apart, s = 52 - e, so the answer is whole +
 * a / 2^s with a = frac * 2^s / 10^k rounded: integers below 2^53, so every step is exact.
 */
export function nearestDouble(whole: number, frac: number, k: number): number {
  if (!(whole >= 1 && whole < 2 ** 53) || k > 15) return NaN;
  const e = whole >= 4294967296 ? 63 - Math.clz32(whole / 4294967296) : 31 - Math.clz32(whole);
  const s = 52 - e;
  const scale = POW2[s];
  const p = POW10[k];
  if (frac * scale >= 2 ** 53 - p) return NaN; // frac * 2^s (exact: a power of two) + p must stay below 2^53
  const q = frac * scale;
  let a = Math.floor(q / p);
  let rem = q - a * p;
  if (rem < 0) { // the division rounded up to an integer: a was one too many
    a--;
    rem += p;
  } else if (rem >= p) {
    a++;
    rem -= p;
  }
  const odd = (s === 0 ? whole + a : a) % 2 === 1; // the last bit of the double whole + a / 2^s
  if (2 * rem > p || (2 * rem === p && odd)) a++;
  return whole + a / scale;
}

// The fields of the record being read, in typed arrays reused from record to record: a field's kind,
// its value when a number, its text when a string. Nothing is allocated for a record but its result.
const [NUM, TRUE_, FALSE_, NULL_, STR, OTHER] = [0, 1, 2, 3, 4, 5];
const MAX_FIELDS = 16;
const kind = new Uint8Array(MAX_FIELDS);
const num = new Float64Array(MAX_FIELDS);
const str: string[] = new Array<string>(MAX_FIELDS).fill('');
/** How many fields the record has. */
let count = 0;
/**
 * A copy of the bytes of the string last read at each field: a run's records repeat a query's id and
 * difficulty 16 times in a row, so most strings are the one before, compared rather than decoded.
 */
const CACHE_BYTES = 256;
const cached = new Uint8Array(MAX_FIELDS * CACHE_BYTES);
const cachedLength = new Int32Array(MAX_FIELDS).fill(-1);

/** Is bytes [s, e) of `b` the copy cached for field `n`? */
function sameAsCached(b: Buffer, s: number, e: number, n: number): boolean {
  if (cachedLength[n] !== e - s) return false;
  for (let i = s, c = n * CACHE_BYTES; i < e; i++, c++) if (b[i] !== cached[c]) return false;
  return true;
}

/**
 * Read a record written as the trainer writes it into the fields: returns the position of the comma
 * before the last field (the check covers the bytes before it), 0 when the record has another form
 * (JSON.parse reads it), or -1 when it has one field.
 */
function readCanonical(b: Buffer, start: number, end: number): number {
  if (b[start] !== OPEN || b[end - 1] !== CLOSE) return 0;
  let i = start + 1;
  let n = 0;
  let lastComma = -1;
  for (;;) {
    if (n === MAX_FIELDS) return 0;
    const c = b[i];
    if (c === QUOTE) {
      const s = i + 1;
      let j = s;
      for (let x = b[j]; x !== QUOTE; x = b[++j]) {
        if (j >= end || x === BACKSLASH || x < 0x20) return 0; // an escape, a raw control character: JSON.parse says
      }
      if (!sameAsCached(b, s, j, n)) {
        str[n] = b.toString('utf8', s, j);
        if (j - s <= CACHE_BYTES) {
          for (let x = s, y = n * CACHE_BYTES; x < j; x++, y++) cached[y] = b[x];
          cachedLength[n] = j - s;
        } else cachedLength[n] = -1;
      }
      kind[n++] = STR;
      i = j + 1;
    } else if (c === MINUS || (c >= ZERO && c <= NINE)) {
      const neg = c === MINUS;
      let j = neg ? i + 1 : i;
      const first = j;
      let whole = 0;
      for (let d = b[j] - ZERO; d >= 0 && d <= 9; d = b[++j] - ZERO) whole = whole * 10 + d;
      const digits = j - first;
      if (digits === 0 || (digits > 1 && b[first] === ZERO)) return 0; // JSON has no leading zeros
      let frac = 0;
      let k = 0;
      if (b[j] === DOT) {
        const f = ++j;
        for (let d = b[j] - ZERO; d >= 0 && d <= 9; d = b[++j] - ZERO) frac = frac * 10 + d;
        k = j - f;
        if (k === 0) return 0;
      }
      let exponent = false;
      if (b[j] === 0x65 || b[j] === 0x45) { // e, E
        exponent = true;
        if (b[++j] === 0x2b || b[j] === MINUS) j++;
        const e = j;
        while (b[j] >= ZERO && b[j] <= NINE) j++;
        if (j === e) return 0;
      }
      // Up to 15 digits: exact integers, one correctly rounded division (Clinger's fast path). More (a
      // Unix time is 17): the nearest double worked out in exact integers. Else the text, checked as a
      // JSON number above, through Number(), as JSON.parse would.
      let v = exponent ? NaN : digits + k <= 15 ? (whole * POW10[k] + frac) / POW10[k] : nearestDouble(whole, frac, k);
      if (Number.isNaN(v)) v = Number((b as unknown as { latin1Slice(s: number, e: number): string }).latin1Slice(first, j)); // unsigned
      num[n] = neg ? -v : v;
      kind[n++] = NUM;
      i = j;
    } else if (c === 0x74 && b[i + 1] === 0x72 && b[i + 2] === 0x75 && b[i + 3] === 0x65) { // true
      kind[n++] = TRUE_;
      i += 4;
    } else if (c === 0x66 && b[i + 1] === 0x61 && b[i + 2] === 0x6c && b[i + 3] === 0x73 && b[i + 4] === 0x65) { // false
      kind[n++] = FALSE_;
      i += 5;
    } else if (c === 0x6e && b[i + 1] === 0x75 && b[i + 2] === 0x6c && b[i + 3] === 0x6c) { // null
      kind[n++] = NULL_;
      i += 4;
    } else return 0;
    if (i === end - 1) break;
    if (i >= end || b[i] !== COMMA) return 0;
    lastComma = i++;
  }
  count = n;
  return lastComma;
}

/** The record's fields through JSON.parse; the comma before its last field, or -1. */
function readAnyJson(b: Buffer, start: number, end: number): number {
  let r: unknown;
  try {
    r = JSON.parse(b.toString('utf8', start, end));
  } catch {
    return -1;
  }
  if (!Array.isArray(r) || r.length > MAX_FIELDS) return -1;
  count = r.length;
  r.forEach((v: unknown, n) => {
    kind[n] = typeof v === 'number' ? NUM : v === true ? TRUE_ : v === false ? FALSE_ : v === null ? NULL_ : typeof v === 'string' ? STR : OTHER;
    if (typeof v === 'number') num[n] = v;
    if (typeof v === 'string') str[n] = v;
  });
  cachedLength.fill(-1); // str[] no longer holds what the cache's bytes decode to
  return b.lastIndexOf(COMMA, end - 1);
}

/** Field n is an integer in [min, max]. */
const int = (n: number, min: number, max: number): boolean => kind[n] === NUM && Number.isInteger(num[n]) && num[n] >= min && num[n] <= max;

/**
 * One record from its line's bytes [start, end), or undefined when it is not a sound record: its own
 * `check` (the CRC-32 of its bytes before the last comma) differs, or a wrong arity, or a field of the
 * wrong type or out of the schema's bounds. Such a record is treated as missing.
 */
export function parseRecord(bytes: Buffer, start: number, end: number): LineRecord | undefined {
  let comma = readCanonical(bytes, start, end);
  if (comma === 0) comma = readAnyJson(bytes, start, end);
  if (comma <= start || (count !== 4 && count !== 16) || !int(count - 1, 0, 0xffffffff) || num[count - 1] !== crc32Range(bytes, start, comma)) return undefined;
  if (!int(0, 0, Number.MAX_SAFE_INTEGER) || !int(1, 1, MAX_LINE_BYTES) || !int(2, 0, 0xffffffff)) return undefined;
  const offset = num[0], length = num[1], crc = num[2]; // not destructured: no array a record
  if (count === 4) return { offset, length, crc };
  // 3 time, 4 step, 5 query_index, 6 sample, 7 tier, 8 n_gen, 9 correct, 10 truncated, 11 reward, 12 case, 13 query_id, 14 difficulty
  if (kind[3] !== NUM || !int(4, 0, MAX_INT32) || !int(5, 0, MAX_INT32) || !int(6, 0, MAX_INT32)) return undefined;
  if (!(kind[7] === NULL_ || int(7, 1, MAX_INT32)) || !int(8, 0, MAX_INT32)) return undefined;
  if ((kind[9] !== TRUE_ && kind[9] !== FALSE_) || (kind[10] !== TRUE_ && kind[10] !== FALSE_) || kind[11] !== NUM) return undefined;
  const rewardCase = kind[12] === STR ? CASES[CASES.indexOf(str[12] as RolloutEvent['reward']['case'])] : undefined;
  if (rewardCase === undefined || kind[13] !== STR || (kind[14] !== NULL_ && kind[14] !== STR)) return undefined;
  return {
    offset, length, crc,
    rollout: liteRollout(num[3], num[4], str[13], num[5], num[6], kind[7] === NULL_ ? null : num[7], kind[14] === NULL_ ? null : str[14],
      num[8], kind[9] === TRUE_, kind[10] === TRUE_, num[11], rewardCase),
  };
}

/** A rollout event with only what the model keeps of it (RolloutIndex.add); the rest is read back when shown. */
function liteRollout(
  time: number, step: number, queryId: string, queryIndex: number, sample: number, tier: number | null,
  difficulty: string | null, nGen: number, correct: boolean, truncated: boolean, reward: number, rewardCase: RolloutEvent['reward']['case'],
): RolloutEvent {
  return {
    v: 2, type: 'rollout', time, step, query_id: queryId, query_index: queryIndex, sample, tier, difficulty, n_gen: nGen,
    correct, truncated, reward: { reward, case: rewardCase },
  } as unknown as RolloutEvent;
}

/** The map's fields of a rollout that differ from the rollout's own line, by name; empty when they agree. */
export function recordMismatch(record: RolloutEvent, event: RolloutEvent): string[] {
  const own = liteRollout(
    event.time, event.step, event.query_id, event.query_index, event.sample, event.tier, event.difficulty ?? null, event.n_gen,
    event.correct, event.truncated, event.reward.reward, event.reward.case,
  ) as unknown as Record<string, unknown>;
  const mapped = record as unknown as Record<string, unknown>;
  const differ = Object.keys(own).filter((k) => k !== 'reward' && !Object.is(own[k], mapped[k]));
  if (!Object.is(event.reward.reward, record.reward.reward)) differ.push('reward');
  if (event.reward.case !== record.reward.case) differ.push('case');
  return differ;
}
