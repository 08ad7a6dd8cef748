// The trainer's line map of a run, `<run>/.events.lines` (format: docs/ARCHITECTURE.md, "line map";
// writer: trainer/hbpo/events.py): one short record per line of events.jsonl, with its byte range,
// its CRC-32 and, for a rollout, the fields the rollout index keeps. A first open reads the map
// (about 1/100 of the file) instead of skimming every rollout line, and the file only for the events
// that are not rollouts.
//
// It is trusted only as far as it checks out: the map must have been written no earlier than the file
// was last modified, and a random sample of its records must describe their lines exactly (CRC, the
// newline after, every field of a rollout against the line parsed whole). Every event that is not a
// rollout is read from the file and its CRC checked; a stretch the map does not describe (a record
// missing, malformed or out of order) is read from the file as usual. Anything else that fails leaves
// the model empty and the caller reads from byte 0. No `vscode` import.
import { open, stat, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import * as zlib from 'node:zlib';
import type { RolloutEvent } from '../events';
import { LineReader, MAX_LINE_BYTES, parseLineBytes, type ParsedChunk } from './lineReader';
import { CASES } from './rolloutIndex';
import type { RunModel, RunModelState } from './runModel';

export const LINES_FILE = '.events.lines';
export const LINES_VERSION = 1;
/** Records compared with their lines before a map is used. */
export const SAMPLE_RECORDS = 16;
const CHUNK = 1024 * 1024;
const MAX_INT32 = 2147483647;
const NEWLINE = 0x0a;
/** How long to wait for the writer's map line when the file looks newer than its map (a live run). */
const SETTLE_MS = 50;
/** Records read before the rollout index is sized for the whole map. */
const RESERVE_AFTER = 256;

type Crc32 = (data: Uint8Array, value?: number) => number;
/** zlib.crc32 came with Node 20.15 / 22.2: without it there is no map reading (the file is read as usual). */
const crc32: Crc32 | undefined = (zlib as { crc32?: Crc32 }).crc32;

export function linesPathOf(eventsPath: string): string {
  return join(dirname(eventsPath), LINES_FILE);
}

/** A line of events.jsonl as the map describes it; a rollout's fields when it is one. */
export interface LineRecord {
  offset: number;
  length: number;
  crc: number;
  rollout?: RolloutEvent; // only the fields the index keeps (see liteRollout)
}

export interface LineMapReport {
  used: boolean;
  /** Why it was not used (absent when there is no map at all). */
  reason?: string;
  /** Records the model took from the map (rollouts and other events). */
  records?: number;
}

export interface LineMapOptions {
  size: number;
  mtimeMs: number;
  signal?: AbortSignal;
  progressMs: number;
  onProgress?: (progress: { bytes: number; total: number }, partial: () => RunModelState) => void;
}

/** Where a read through the map stopped: the model holds every line before `offset` (line `line` next). */
export interface LineMapRead {
  offset: number;
  line: number;
  report: LineMapReport;
}

const isInt = (v: unknown, min: number, max: number): v is number => Number.isInteger(v) && (v as number) >= min && (v as number) <= max;

const COMMA = 0x2c;
/**
 * One record from its line's bytes [start, end), or undefined when it is not a sound record: its own
 * `check` (the CRC-32 of its bytes before the last comma) differs, or a wrong arity, or a field of the
 * wrong type or out of the schema's bounds. Such a record is treated as missing.
 */
export function parseRecord(bytes: Buffer, start: number, end: number): LineRecord | undefined {
  const comma = bytes.lastIndexOf(COMMA, end - 1);
  if (!crc32 || comma <= start) return undefined;
  // Loosely typed, as JSON.parse's result is: every field's type is checked below before it is used.
  let r: any[] | undefined; // eslint-disable-line @typescript-eslint/no-explicit-any
  try {
    r = JSON.parse(bytes.toString('utf8', start, end));
  } catch {
    return undefined;
  }
  if (!Array.isArray(r) || (r.length !== 4 && r.length !== 16) || r[r.length - 1] !== crc32(bytes.subarray(start, comma))) return undefined;
  const offset = r[0], length = r[1], crc = r[2]; // indexed, not destructured: this runs once a rollout
  if (!isInt(offset, 0, Number.MAX_SAFE_INTEGER) || !isInt(length, 1, MAX_LINE_BYTES) || !isInt(crc, 0, 0xffffffff)) return undefined;
  if (r.length === 4) return { offset, length, crc };
  const time = r[3], step = r[4], queryIndex = r[5], sample = r[6], tier = r[7], nGen = r[8];
  const correct = r[9], truncated = r[10], reward = r[11], rewardCase = r[12], queryId = r[13], difficulty = r[14];
  if (typeof time !== 'number' || !isInt(step, 0, MAX_INT32) || !isInt(queryIndex, 0, MAX_INT32) || !isInt(sample, 0, MAX_INT32)) return undefined;
  if (!(tier === null || isInt(tier, 1, MAX_INT32)) || !isInt(nGen, 0, MAX_INT32)) return undefined;
  if (typeof correct !== 'boolean' || typeof truncated !== 'boolean' || typeof reward !== 'number' || !CASES.includes(rewardCase)) return undefined;
  if (typeof queryId !== 'string' || !(difficulty === null || typeof difficulty === 'string')) return undefined;
  return { offset, length, crc, rollout: liteRollout(time, step, queryId, queryIndex, sample, tier, difficulty, nGen, correct, truncated, reward, rewardCase) };
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

/**
 * Call `visit` with each complete line of the map (the header first) as bytes [start, end) of `bytes`,
 * reading a chunk at a time; `visit` returns a promise only when it has to wait (reading the events
 * file), and `false` (or a promise of it) to stop. `lastInChunk`: the bytes are reused after this line.
 * A last line without its newline is torn: no record.
 */
async function eachMapLine(
  path: string, signal: AbortSignal | undefined,
  visit: (bytes: Buffer, start: number, end: number, lastInChunk: boolean) => boolean | void | Promise<boolean | void>,
): Promise<void> {
  const file = await open(path, 'r');
  try {
    const buf = Buffer.alloc(CHUNK);
    let carry = Buffer.alloc(0);
    for (;;) {
      signal?.throwIfAborted();
      const { bytesRead } = await file.read(buf, 0, buf.length, null);
      if (bytesRead === 0) return;
      const bytes = carry.length > 0 ? Buffer.concat([carry, buf.subarray(0, bytesRead)]) : buf.subarray(0, bytesRead);
      let start = 0;
      for (let nl = bytes.indexOf(NEWLINE); nl !== -1; ) {
        const next = bytes.indexOf(NEWLINE, nl + 1);
        let go = visit(bytes, start, nl, next === -1);
        if (go instanceof Promise) go = await go;
        if (go === false) return;
        start = nl + 1;
        nl = next;
      }
      carry = Buffer.from(bytes.subarray(start)); // a copy: buf is reused
    }
  } finally {
    await file.close();
  }
}

/** A line's bytes plus the byte after it, which must be its newline; undefined when the file ends first. */
async function lineBytes(file: FileHandle, offset: number, length: number): Promise<Buffer | undefined> {
  const buf = Buffer.alloc(length + 1);
  let got = 0;
  while (got < buf.length) {
    const { bytesRead } = await file.read(buf, got, buf.length - got, offset + got);
    if (bytesRead === 0) return undefined;
    got += bytesRead;
  }
  return buf;
}

/** Why `record` does not describe the file's line at its offset, or undefined when it does. */
async function checkRecord(file: FileHandle, record: LineRecord): Promise<string | undefined> {
  const where = `the line map's record of byte ${record.offset}`;
  const bytes = await lineBytes(file, record.offset, record.length);
  if (!bytes || bytes[record.length] !== NEWLINE) return `${where}: no line of ${record.length} bytes there`;
  const line = bytes.subarray(0, record.length);
  if (crc32!(line) !== record.crc) return `${where}: CRC-32 differs from the line's`;
  if (!record.rollout) return undefined;
  const out: ParsedChunk = { events: [], errors: [] };
  parseLineBytes(line, 0, record.offset, out);
  const event = out.events[0]?.event;
  if (event?.type !== 'rollout') return `${where}: not a valid rollout line`;
  const differ = recordMismatch(record.rollout, event);
  return differ.length ? `${where}: ${differ.join(', ')} differ from the line's` : undefined;
}

/** A uniform random sample of `k` items of a stream (reservoir sampling), deciding before an item is made. */
class Reservoir<T> {
  readonly items: T[] = [];
  private seen = 0;
  private slot = 0;
  constructor(private readonly k: number) {}
  /** Count one more item: true when it is to be kept (then `keep` it). */
  next(): boolean {
    this.seen++;
    this.slot = this.items.length < this.k ? this.items.length : Math.floor(Math.random() * this.seen);
    return this.slot < this.k;
  }
  keep(item: T): void {
    this.items[this.slot] = item;
  }
}

/** Is the map at least as new as the file? A live run writes the file then the map: wait a moment once. */
async function fresh(mapPath: string, eventsPath: string, mtimeMs: number): Promise<boolean | undefined> {
  let mapTime: number;
  try {
    mapTime = (await stat(mapPath)).mtimeMs;
  } catch {
    return undefined; // no map
  }
  if (mapTime >= mtimeMs) return true;
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  const [m, e] = await Promise.all([stat(mapPath), stat(eventsPath)]);
  return m.mtimeMs >= e.mtimeMs;
}

/**
 * Read `file` (`eventsPath`, of `size` bytes) from byte 0 into the empty `model` through its line map.
 * Returns where it stopped: the caller reads on from there (the map's last record is usually the
 * file's last line). When the map is absent or does not check out, returns offset 0 with the reason,
 * and the model is left empty.
 *
 * One pass over the map; the sample of records is checked against the file at the end, before the
 * caller sees the model. Progress partials before that are safe: they hold no rollouts, and every other
 * event in them was read from the file and its CRC checked.
 */
export async function readThroughLineMap(file: FileHandle, eventsPath: string, model: RunModel, options: LineMapOptions): Promise<LineMapRead> {
  const mapPath = linesPathOf(eventsPath);
  const none = (reason?: string): LineMapRead => {
    model.load();
    return { offset: 0, line: 1, report: { used: false, reason } };
  };
  const isFresh = await fresh(mapPath, eventsPath, options.mtimeMs);
  if (isFresh === undefined) return none();
  if (!crc32) return none('this Node has no zlib.crc32');
  if (!isFresh) return none(`${eventsPath} was modified after its line map`);
  const mapBytes = (await stat(mapPath)).size;

  const sample = new Reservoir<LineRecord>(SAMPLE_RECORDS);
  let last: LineRecord | undefined;
  let header: boolean | undefined; // the first line is the header
  let expected = 0; // the next line of the file starts here
  let line = 1;
  let records = 0;
  let mapRead = 0;
  let reported = Date.now();
  let stop: LineMapRead | undefined;
  const take = (record: LineRecord) => {
    records++;
    line++;
    expected = record.offset + record.length + 1;
    last = record;
    if (sample.next()) sample.keep(record);
    if (records === RESERVE_AFTER) model.reserveRollouts(Math.ceil((1.05 * records * mapBytes) / mapRead)); // records are much alike
    if ((records & 1023) === 0 && options.onProgress && Date.now() - reported >= options.progressMs) {
      reported = Date.now();
      options.onProgress({ bytes: expected, total: options.size }, () => model.partialState());
    }
  };
  const fromFile = async (record: LineRecord): Promise<boolean> => {
    if (record.offset > expected) {
      const gap = await readGap(file, model, expected, line, record.offset);
      if (gap.offset !== record.offset) {
        stop = { offset: gap.offset, line: gap.line, report: { used: true, records } };
        return false;
      }
      line = gap.line;
    }
    if (!record.rollout) {
      const bytes = await lineBytes(file, record.offset, record.length);
      const lineText = bytes?.subarray(0, record.length);
      if (!bytes || bytes[record.length] !== NEWLINE || crc32!(lineText!) !== record.crc) {
        stop = none(`the line map's record of byte ${record.offset} does not match line ${line} of ${eventsPath}`);
        return false;
      }
      const out: ParsedChunk = { events: [], errors: [] };
      parseLineBytes(lineText!, line, record.offset, out);
      model.ingest(out);
    } else model.apply(record.rollout, record.offset, record.length, line);
    take(record);
    return true;
  };
  await eachMapLine(mapPath, options.signal, (bytes, start, end) => {
    mapRead += end - start + 1;
    if (header === undefined) return (header = sameHeader(bytes.toString('utf8', start, end)));
    const record = parseRecord(bytes, start, end);
    if (!record || record.offset < expected) return true; // missing or out of order: its line is read from the file
    if (record.offset + record.length >= options.size) return false; // past what the file held when opened
    if (record.offset > expected || !record.rollout) return fromFile(record);
    model.apply(record.rollout, record.offset, record.length, line);
    take(record);
    return true;
  });
  if (!header) return none(`${mapPath}: not a line map of version ${LINES_VERSION}`);
  if (stop && !stop.report.used) return stop;
  for (const record of new Set([...sample.items, last])) {
    const why = record && (await checkRecord(file, record));
    if (why) return none(why);
  }
  return stop ?? { offset: expected, line, report: { used: true, records } };
}

function sameHeader(text: string): boolean {
  try {
    const h = JSON.parse(text) as unknown;
    return typeof h === 'object' && h !== null && (h as { hbpo_lines?: unknown }).hbpo_lines === LINES_VERSION;
  } catch {
    return false;
  }
}

/**
 * Read the lines of [from, to) from the file as a first read would (a stretch the map does not
 * describe). Returns where the lines ended: `to` unless `to` is not a line start, when the caller
 * stops using the map and reads on from the returned offset.
 */
async function readGap(file: FileHandle, model: RunModel, from: number, line: number, to: number): Promise<{ offset: number; line: number }> {
  const reader = new LineReader(from, line, MAX_LINE_BYTES, true);
  const buf = Buffer.alloc(CHUNK);
  for (let at = from; at < to; ) {
    const { bytesRead } = await file.read(buf, 0, Math.min(buf.length, to - at), at);
    if (bytesRead === 0) break;
    at += bytesRead;
    model.ingest(reader.push(buf.subarray(0, bytesRead)));
  }
  return { offset: reader.offset, line: reader.line };
}
