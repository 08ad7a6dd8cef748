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
import type { RolloutEvent } from '../events';
import { LineReader, MAX_LINE_BYTES, parseLineBytes, type ParsedChunk } from './lineReader';
import { crc32Range, parseRecord, recordMismatch, type LineRecord } from './mapRecord';
import { mergeSegments, planRanges, SegmentBuilder, startSegments, type Segment, type SegmentJob, type SegmentRun } from './parallelRead';
import type { Worker } from 'node:worker_threads';
import type { RunModel, RunModelState } from './runModel';

export const LINES_FILE = '.events.lines';
export const LINES_VERSION = 1;
/** Records compared with their lines before a map is used. */
export const SAMPLE_RECORDS = 16;
const CHUNK = 1024 * 1024;
const NEWLINE = 0x0a;
/** How long to wait for the writer's map line when the file looks newer than its map (a live run). */
const SETTLE_MS = 50;
/** Records read before the rollout index is sized for the whole map. */
const RESERVE_AFTER = 256;

export function linesPathOf(eventsPath: string): string {
  return join(dirname(eventsPath), LINES_FILE);
}

export interface LineMapReport {
  used: boolean;
  /** Why it was not used (absent when there is no map at all). */
  reason?: string;
  /** Records the model took from the map (rollouts and other events). */
  records?: number;
  /** Ranges of the map read in parallel (workers and this thread); absent: one thread. */
  ranges?: number;
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

/**
 * Call `visit` with each complete line of the map in [from, to) as bytes [start, end) of `bytes`,
 * reading a chunk at a time; `visit` returns a promise only when it has to wait (reading the events
 * file), and `false` (or a promise of it) to stop. A last line without its newline is torn: no record.
 */
async function eachMapLine(
  path: string, from: number, to: number, signal: AbortSignal | undefined,
  visit: (bytes: Buffer, start: number, end: number) => boolean | Promise<boolean>,
): Promise<void> {
  const file = await open(path, 'r');
  try {
    const buf = Buffer.alloc(CHUNK);
    let carry = Buffer.alloc(0);
    for (let at = from; at < to; ) {
      signal?.throwIfAborted();
      const { bytesRead } = await file.read(buf, 0, Math.min(buf.length, to - at), at);
      if (bytesRead === 0) return;
      at += bytesRead;
      const bytes = carry.length > 0 ? Buffer.concat([carry, buf.subarray(0, bytesRead)]) : buf.subarray(0, bytesRead);
      let start = 0;
      for (let nl = bytes.indexOf(NEWLINE); nl !== -1; nl = bytes.indexOf(NEWLINE, start)) {
        let go = visit(bytes, start, nl);
        if (go instanceof Promise) go = await go;
        if (go === false) return;
        start = nl + 1;
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
  if (crc32Range(line, 0, line.length) !== record.crc) return `${where}: CRC-32 differs from the line's`;
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

/** Where a range's records go: the model (this thread) or a segment (a worker). */
interface Sink {
  rollout(e: RolloutEvent, offset: number, length: number, line: number): void;
  take(chunk: ParsedChunk): void;
}

interface RangeRead {
  /** Where the next line starts, its number, and records taken. */
  expected: number;
  line: number;
  records: number;
  /** The offset of the first record taken (a segment starts there). */
  first?: number;
  check: LineRecord[];
  /** The map is not to be used at all: a record of an event other than a rollout is wrong. */
  fail?: string;
  /** A stretch between records did not end at a line start: the map is left there. */
  left?: true;
}

/**
 * Take the records of map bytes [from, to) into `sink`, reading `file` for the lines that are not
 * rollouts and for stretches no sound record describes. `at`: where the range's first line is
 * expected and its number (a stretch before the first record is read); without it the range starts
 * at its first sound record, numbered 1 (a worker's segment).
 */
async function readMapRange(
  file: FileHandle, mapPath: string, from: number, to: number, size: number, at: { offset: number; line: number } | undefined,
  sink: Sink, signal: AbortSignal | undefined, { onProgress, reserve }: {
    onProgress?: (expected: number, records: number, first: number | undefined) => void;
    /** Once RESERVE_AFTER records are read: `rows(n)` with the rows that `bytes` of the map hold at that rate (+5 %). */
    reserve?: { bytes: number; rows: (n: number) => void };
  } = {},
): Promise<RangeRead> {
  const sample = new Reservoir<LineRecord>(SAMPLE_RECORDS);
  const r: RangeRead = { expected: at?.offset ?? -1, line: at?.line ?? 1, records: 0, check: [] };
  let last: LineRecord | undefined;
  let consumed = 0; // map bytes read
  const take = (record: LineRecord) => {
    r.first ??= record.offset;
    r.records++;
    r.line++;
    r.expected = record.offset + record.length + 1;
    last = record;
    if (sample.next()) sample.keep(record);
    if (r.records === RESERVE_AFTER) reserve?.rows(Math.ceil((1.05 * r.records * reserve.bytes) / consumed)); // records are much alike
    if ((r.records & 1023) === 0) onProgress?.(r.expected, r.records, r.first);
  };
  const fromFile = async (record: LineRecord): Promise<boolean> => {
    if (record.offset > r.expected) {
      const gap = await readGap(file, sink, r.expected, r.line, record.offset);
      if (gap.offset !== record.offset) {
        [r.expected, r.line, r.left] = [gap.offset, gap.line, true];
        return false;
      }
      r.line = gap.line;
    }
    if (record.rollout) sink.rollout(record.rollout, record.offset, record.length, r.line);
    else {
      const bytes = await lineBytes(file, record.offset, record.length);
      const lineText = bytes?.subarray(0, record.length);
      if (!bytes || bytes[record.length] !== NEWLINE || crc32Range(bytes, 0, record.length) !== record.crc) {
        r.fail = `${mapPath}: the record of byte ${record.offset} does not match line ${r.line} of the events file`;
        return false;
      }
      const out: ParsedChunk = { events: [], errors: [] };
      parseLineBytes(lineText!, r.line, record.offset, out);
      sink.take(out);
    }
    take(record);
    return true;
  };
  await eachMapLine(mapPath, from, to, signal, (bytes, start, end) => {
    consumed += end - start + 1;
    const record = parseRecord(bytes, start, end);
    if (!record || record.offset < r.expected) return true; // missing or out of order: its line is read from the file
    if (record.offset + record.length >= size) return false; // past what the file held when opened
    if (r.expected < 0) r.expected = record.offset; // a segment starts at its first record
    if (record.offset > r.expected || !record.rollout) return fromFile(record);
    sink.rollout(record.rollout, record.offset, record.length, r.line);
    take(record);
    return true;
  });
  r.check = [...new Set([...sample.items, ...(last ? [last] : [])])];
  return r;
}

/**
 * A worker's part of a first open through the map: the records of map bytes [job.start, job.end) as
 * a segment (parallelRead.ts) of the events file, from its first record on. Rejects when the range
 * cannot be taken as it is (a wrong record, a stretch that ends mid-line): the reading thread then
 * takes the range itself, and sees why.
 */
export async function parseMapSegment(job: SegmentJob, onBytes: (bytes: number) => void, signal: AbortSignal): Promise<Segment> {
  const file = await open(job.eventsPath, 'r');
  try {
    const builder = new SegmentBuilder();
    const sink: Sink = { rollout: (e, o, l, n) => builder.rollout(e, o, l, n), take: (c) => builder.take(c) };
    const r = await readMapRange(file, linesPathOf(job.eventsPath), job.start, job.end, job.map!.size, undefined, sink, signal, {
      onProgress: (expected, _records, first) => onBytes(expected - (first ?? expected)),
      reserve: { bytes: job.end - job.start, rows: (n) => builder.reserve(n) },
    });
    if (r.fail || r.left) throw new Error(r.fail ?? 'a stretch of the file without records does not end at a line start');
    const start = r.first ?? 0;
    const segment = builder.finish(start, r.first === undefined ? 0 : r.expected, r.line - 1);
    segment.map = { records: r.records, check: r.check };
    return segment;
  } finally {
    await file.close();
  }
}

/** How a first open may share the map out to workers (runFile.ts decides). */
export interface MapSharing {
  /** Ranges in all, this thread's first one included. */
  count: number;
  /** Start a worker on a job; undefined: parse the other ranges in this thread (tests). */
  spawn?: (job: SegmentJob) => Worker;
  /** Only for maps of at least this many bytes (default MAP_PARALLEL_MIN_BYTES). */
  minBytes?: number;
}

/**
 * Maps shorter than this (~260 K records, ~0.3 s of one thread) are read by one thread: a second
 * range costs a worker's start, its JIT warm-up and the merge. Measured on 2 cores: a 20 MiB map
 * (161 K rollouts) took 0.66-0.70 s in one range against 0.76-0.99 s in two; an 80 MiB map (644 K)
 * 3.4 s in one against 2.6 s in two.
 */
export const MAP_PARALLEL_MIN_BYTES = 32 * 1024 * 1024;

/**
 * Read `file` (`eventsPath`, of `size` bytes) from byte 0 into the empty `model` through its line map.
 * Returns where it stopped: the caller reads on from there (the map's last record is usually the
 * file's last line). When the map is absent or does not check out, returns offset 0 with the reason,
 * and the model is left empty.
 *
 * A big map is cut into ranges at line starts: this thread takes the first into the model while
 * workers make segments of the others, merged in file order (parallelRead.ts). The sample of records
 * is checked against the file at the end, before the caller sees the model. Progress partials before
 * that are safe: they hold no rollouts, and every other event was read from the file, its CRC checked.
 */
export async function readThroughLineMap(
  file: FileHandle, eventsPath: string, model: RunModel, options: LineMapOptions & { sharing?: MapSharing },
): Promise<LineMapRead> {
  const mapPath = linesPathOf(eventsPath);
  const none = (reason?: string): LineMapRead => {
    model.load();
    return { offset: 0, line: 1, report: { used: false, reason } };
  };
  const isFresh = await fresh(mapPath, eventsPath, options.mtimeMs);
  if (isFresh === undefined) return none();
  if (!isFresh) return none(`${eventsPath} was modified after its line map`);
  const { size: mapSize } = await stat(mapPath);
  const headerEnd = await mapHeaderEnd(mapPath);
  if (headerEnd === undefined) return none(`${mapPath}: not a line map of version ${LINES_VERSION}`);

  // Ranges of the map: [bounds[0], bounds[1]) here, the others in workers.
  let bounds = [headerEnd, mapSize];
  let run: SegmentRun | undefined;
  const sharing = options.sharing;
  if (sharing && sharing.count > 1 && mapSize - headerEnd >= (sharing.minBytes ?? MAP_PARALLEL_MIN_BYTES)) {
    const mapFile = await open(mapPath, 'r');
    try {
      bounds = await planRanges(mapFile, headerEnd, mapSize, sharing.count);
    } finally {
      await mapFile.close();
    }
    if (bounds.length > 2) {
      run = startSegments(eventsPath, bounds.slice(1), sharing.spawn, options.progressMs, options.signal, { map: { size: options.size }, parse: parseMapSegment });
      run.done.catch(() => {}); // each range is waited for below
    }
  }
  try {
    let reported = Date.now();
    const progress = (expected: number) => {
      if (!options.onProgress || Date.now() - reported < options.progressMs) return;
      reported = Date.now();
      options.onProgress({ bytes: expected + (run?.bytes() ?? 0), total: options.size }, () => model.partialState());
    };
    const sink: Sink = { rollout: (e, o, l, n) => model.apply(e, o, l, n), take: (c) => model.ingest(c) };
    let at = { offset: 0, line: 1 };
    let records = 0;
    const check: LineRecord[] = [];
    let reserve: { bytes: number; rows: (n: number) => void } | undefined = { bytes: mapSize - headerEnd, rows: (n) => model.reserveRollouts(n) };
    const here = async (from: number, to: number): Promise<LineMapRead | undefined> => {
      const r = await readMapRange(file, mapPath, from, to, options.size, at, sink, options.signal, { onProgress: progress, reserve });
      reserve = undefined; // once, for the whole map
      if (r.fail) return none(r.fail);
      records += r.records;
      check.push(...r.check);
      at = { offset: r.expected, line: r.line };
      return r.left ? { ...at, report: { used: true, records } } : undefined;
    };
    let stopped = await here(bounds[0], bounds[1]);
    const segments = run ? await run.done.catch(() => undefined) : [];
    for (let i = 0; !stopped && i + 2 < bounds.length; i++) {
      const seg = segments?.[i];
      if (!seg?.map) {
        stopped = await here(bounds[i + 1], bounds[i + 2]); // the worker failed: this range here
        continue;
      }
      if (seg.map.records === 0) continue;
      if (seg.start < at.offset) return { ...at, report: { used: true, records } }; // records out of order across the cut
      if (seg.start > at.offset) {
        const gap = await readGap(file, sink, at.offset, at.line, seg.start);
        at = gap;
        if (gap.offset !== seg.start) return { ...at, report: { used: true, records } };
      }
      at = { offset: seg.end, line: mergeSegments(model, [seg], seg.start, at.line) };
      progress(at.offset);
      records += seg.map.records;
      check.push(...seg.map.check);
    }
    if (stopped && !stopped.report.used) return stopped;
    for (const record of check) {
      const why = await checkRecord(file, record);
      if (why) return none(why);
    }
    const read = stopped ?? { ...at, report: { used: true, records } };
    if (run) read.report.ranges = bounds.length - 1;
    return read;
  } finally {
    run?.stop();
  }
}

/** Where the map's header line ends (its records begin), or undefined when it is not a map of this version. */
async function mapHeaderEnd(mapPath: string): Promise<number | undefined> {
  let end: number | undefined;
  await eachMapLine(mapPath, 0, 4096, undefined, (bytes, start, nl) => {
    if (sameHeader(bytes.toString('utf8', start, nl))) end = nl + 1;
    return false;
  });
  return end;
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
async function readGap(file: FileHandle, sink: Sink, from: number, line: number, to: number): Promise<{ offset: number; line: number }> {
  const reader = new LineReader(from, line, MAX_LINE_BYTES, true);
  const buf = Buffer.alloc(CHUNK);
  for (let at = from; at < to; ) {
    const { bytesRead } = await file.read(buf, 0, Math.min(buf.length, to - at), at);
    if (bytesRead === 0) break;
    at += bytesRead;
    sink.take(reader.push(buf.subarray(0, bytesRead)));
  }
  return { offset: reader.offset, line: reader.line };
}
