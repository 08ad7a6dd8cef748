// Reading a big span of an events.jsonl with several threads (issue 14: a paper-scale run is 8 GB
// and parsing is CPU-bound, ~150-200 MiB/s a core). readRunFile (runFile.ts) cuts the span it has
// to read into ranges at line starts; it reads the first range itself into its model, as it reads
// any file, while workers (runWorker.ts) parse the others into *segments*; then it merges the
// segments into the model in file order and reads on alone from the end of the last one (a torn
// last line, bytes appended meanwhile).
//
// A segment is what a range holds, in a form that replays exactly as a sequential read would have
// applied it: its rollouts as typed columns (transferred, not copied) and every other event in file
// order, each with how many of the segment's rollouts came before it, so the merge appends rollout
// rows up to an event, applies the event (a resume drops rows already merged, as it would have), and
// so on. A worker does not know how many lines precede its range: it numbers lines from 1 and the
// merge shifts them (rollout line numbers, and errors: their `line N` prefix is the only place a
// message holds its line number; a message not of that form fails the merge before it touches the
// model, and readRunFile then reads the ranges itself).
import { open, type FileHandle } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import type { RolloutEvent, RunEvent } from '../events';
import { LineReader, MAX_LINE_BYTES, type LineError, type ParsedChunk } from './lineReader';
import type { LineRecord } from './mapRecord';
import { RolloutIndex, type RolloutIndexState } from './rolloutIndex';
import { MAX_ERRORS, MAX_LOG_LINES, type RunModel } from './runModel';

/** Rows of a range read before its columns are sized for the whole range. */
const RESERVE_AFTER_ROWS = 256;

/** Spans shorter than this are read by one thread: starting workers costs more than it saves. */
export const PARALLEL_MIN_BYTES = 64 * 1024 * 1024;
/** At most this many ranges (threads) by default. */
export const MAX_PARALLEL = 8;
const CHUNK = 1024 * 1024;
const NEWLINE = 0x0a;

export interface ParallelOptions {
  /** Ranges in all, the reading thread's own included (default min(availableParallelism(), MAX_PARALLEL)); below 2: off. */
  workers?: number;
  /** Only for spans (after the persisted index) of at least this many bytes (default PARALLEL_MIN_BYTES). */
  minBytes?: number;
  /** The worker script (runWorker.ts/.js); default: the one beside runFile.ts. */
  workerPath?: string;
  /** Tests: cut at these byte offsets (each moved on to the next line start) instead of evenly. */
  cuts?: number[];
  /** Tests: parse the other ranges in this thread too (no workers); the result is the same. */
  inThread?: boolean;
}

/**
 * What a worker is asked: one range, [start, end), both line starts; of the events file, or with
 * `map`, of the trainer's line map (lineMap.ts), whose records are read against the events file as
 * it was when opened (`map.size` bytes).
 */
export interface SegmentJob {
  kind: 'segment';
  eventsPath: string;
  start: number;
  end: number;
  progressMs?: number;
  map?: { size: number };
}

/** How a range is parsed without a worker (tests, and a worker's own job). */
export type ParseRange = (job: SegmentJob, onBytes: (bytes: number) => void, signal: AbortSignal) => Promise<Segment>;

export type SegmentReply =
  | { kind: 'progress'; bytes: number }
  | { kind: 'done'; ok: true; segment: Segment }
  | { kind: 'done'; ok: false; error: string };

/** A non-rollout event of a segment, after `rowsBefore` of its rollouts; `line` counts from 1 in the segment. */
export interface SegmentEntry {
  rowsBefore: number;
  event: RunEvent;
  offset: number;
  length: number;
  line: number;
}

export interface Segment {
  start: number;
  end: number;
  /** Lines in the range (its last one ends with a newline). */
  lines: number;
  /** The rollouts, in file order; their line numbers count from 1 in the segment. Groups are not sent. */
  rollouts: RolloutIndexState;
  /** Query id and difficulty of each rollout row: labels[labelOf[row]]. */
  labels: { queryId: string; difficulty: string | null }[];
  labelOf: Int32Array;
  /** Every non-rollout event in file order, less log events that later ones of the segment push out of the model. */
  entries: SegmentEntry[];
  /** The last MAX_ERRORS bad lines (line numbers from 1 in the segment), and how many there were. */
  errors: LineError[];
  errorCount: number;
  /** The time of the segment's last event when that is a rollout (it sets the model's lastEventTime). */
  tailTime?: number;
  /** A line map range's records taken, and those to check against the file (lineMap.ts). */
  map?: { records: number; check: LineRecord[] };
}

export function rangeCount(options: ParallelOptions): number {
  return Math.max(1, Math.floor(options.workers ?? Math.min(availableParallelism(), MAX_PARALLEL)));
}

/**
 * Where the ranges of [start, size) begin and end: [start, c1, ..., end], each a line start, `end`
 * the end of the last complete line (a torn last line is left to the reader), empty ranges left
 * out. Fewer than 3 bounds: nothing to share out.
 */
export async function planRanges(file: FileHandle, start: number, size: number, count: number, cuts?: number[]): Promise<number[]> {
  const end = await lastLineEnd(file, start, size);
  const points = cuts
    ? [...cuts].sort((a, b) => a - b)
    : Array.from({ length: count - 1 }, (_, i) => start + Math.floor(((end - start) * (i + 1)) / count));
  const bounds = [start];
  for (const p of points) {
    if (p <= bounds[bounds.length - 1] || p >= end) continue;
    const cut = await lineStartFrom(file, p, end);
    if (cut > bounds[bounds.length - 1] && cut < end) bounds.push(cut);
  }
  if (end > bounds[bounds.length - 1]) bounds.push(end);
  return bounds;
}

/** Just past the last newline in [start, size), or `start` when there is none. */
async function lastLineEnd(file: FileHandle, start: number, size: number): Promise<number> {
  const buf = Buffer.allocUnsafe(Math.min(CHUNK, size - start));
  for (let to = size; to > start; ) {
    const from = Math.max(start, to - CHUNK);
    const { bytesRead } = await file.read(buf, 0, to - from, from);
    const nl = buf.subarray(0, bytesRead).lastIndexOf(NEWLINE);
    if (nl !== -1) return from + nl + 1;
    to = from;
  }
  return start;
}

/** The first line start at or after `p` (p >= 1): just past the first newline at or after p - 1; `end` at most. */
async function lineStartFrom(file: FileHandle, p: number, end: number): Promise<number> {
  const buf = Buffer.allocUnsafe(Math.min(64 * 1024, end - p + 1));
  for (let at = p - 1; at < end; ) {
    const { bytesRead } = await file.read(buf, 0, Math.min(buf.length, end - at), at);
    if (bytesRead === 0) break;
    const nl = buf.subarray(0, bytesRead).indexOf(NEWLINE);
    if (nl !== -1) return at + nl + 1;
    at += bytesRead;
  }
  return end;
}

/**
 * A segment being built, line by line in file order: rollouts into columns (with their labels),
 * every other event as an entry after the rows before it, errors. Used by a file range read here and
 * by a range of the trainer's line map (lineMap.ts).
 */
export class SegmentBuilder {
  private readonly index = new RolloutIndex();
  private readonly labels: Segment['labels'] = [];
  private readonly labelIds = new Map<string, Map<string | null, number>>();
  private labelOf = new Int32Array(1024);
  private last: { queryId: string; difficulty: string | null; id: number } | undefined;
  private readonly entries: SegmentEntry[] = [];
  private logs = 0;
  private readonly errors: LineError[] = [];
  private errorCount = 0;
  private tailTime: number | undefined;
  rows = 0;

  /** Events and errors as a LineReader gives them. */
  take(chunk: ParsedChunk): void {
    for (const p of chunk.events) {
      if (p.event.type === 'rollout') this.rollout(p.event, p.offset, p.length, p.line);
      else this.other(p.event, p.offset, p.length, p.line);
    }
    for (const e of chunk.errors) {
      this.errorCount++;
      this.errors.push(e);
      if (this.errors.length > MAX_ERRORS) this.errors.shift();
    }
  }

  other(e: RunEvent, offset: number, length: number, line: number): void {
    this.entries.push({ rowsBefore: this.rows, event: e, offset, length, line });
    if (e.type === 'log') this.logs++;
    this.tailTime = undefined;
  }

  rollout(e: RolloutEvent, offset: number, length: number, line: number): void {
    this.index.add(e, offset, length, line);
    const difficulty = e.difficulty ?? null;
    let last = this.last;
    if (last === undefined || last.queryId !== e.query_id || last.difficulty !== difficulty) {
      let byDifficulty = this.labelIds.get(e.query_id);
      if (!byDifficulty) this.labelIds.set(e.query_id, (byDifficulty = new Map()));
      let id = byDifficulty.get(difficulty);
      if (id === undefined) {
        byDifficulty.set(difficulty, (id = this.labels.length));
        this.labels.push({ queryId: e.query_id, difficulty });
      }
      this.last = last = { queryId: e.query_id, difficulty, id };
    }
    if (this.rows === this.labelOf.length) this.reserve(Math.ceil(this.rows * 1.5));
    this.labelOf[this.rows++] = last.id;
    this.tailTime = e.time;
  }

  /** Size the columns once for `total` rows. */
  reserve(total: number): void {
    this.index.reserve(total);
    const grown = new Int32Array(Math.max(total, this.labelOf.length));
    grown.set(this.labelOf.subarray(0, this.rows));
    this.labelOf = grown;
  }

  /** The segment of [start, end), `lines` lines. */
  finish(start: number, end: number, lines: number): Segment {
    // Log events that later ones of this segment push out of the model's last MAX_LOG_LINES: not sent.
    // (Each sets the model's last event time, but a later event of the segment sets it again.)
    let drop = this.logs - MAX_LOG_LINES;
    const kept = drop > 0 ? this.entries.filter((x) => x.event.type !== 'log' || drop-- <= 0) : this.entries;
    const rollouts = this.index.toState({ copy: false }); // this index goes with the segment
    rollouts.groups = new Map();
    return {
      start, end, lines, rollouts, labels: this.labels, labelOf: this.labelOf.subarray(0, this.rows), entries: kept,
      errors: this.errors, errorCount: this.errorCount, tailTime: this.tailTime,
    };
  }
}

/** Parse the lines of [start, end) (line starts) of `eventsPath` into a segment. */
export async function parseSegment(
  eventsPath: string, start: number, end: number, onBytes?: (bytes: number) => void, signal?: AbortSignal,
): Promise<Segment> {
  const file = await open(eventsPath, 'r');
  try {
    const reader = new LineReader(start, 1, MAX_LINE_BYTES, true);
    const builder = new SegmentBuilder();
    const buf = Buffer.allocUnsafe(Math.min(CHUNK, end - start));
    let reserved = false;
    for (let at = start; at < end; ) {
      signal?.throwIfAborted();
      const { bytesRead } = await file.read(buf, 0, Math.min(buf.length, end - at), at);
      if (bytesRead === 0) break;
      at += bytesRead;
      builder.take(reader.push(buf.subarray(0, bytesRead)));
      onBytes?.(at - start);
      if (!reserved && builder.rows >= RESERVE_AFTER_ROWS) {
        // Size the columns once for the whole range, as readRunFile does for the file (+5 %).
        reserved = true;
        builder.reserve(Math.ceil(builder.rows + (1.05 * (end - at) * builder.rows) / (at - start)));
      }
    }
    if (reader.offset !== end || reader.pendingBytes !== 0) throw new Error(`the file changed while its bytes ${start}-${end} were read`);
    return builder.finish(start, end, reader.line - 1);
  } finally {
    await file.close();
  }
}

/** The buffers of a segment, to pass as postMessage's transfer list. */
export function segmentTransferables(segment: Segment): ArrayBuffer[] {
  return [...RolloutIndex.transferables(segment.rollouts), segment.labelOf.buffer as ArrayBuffer];
}

/** The ranges other than the reading thread's own, being parsed. */
export interface SegmentRun {
  /** Every segment, in order; rejects when one fails (the others are stopped). */
  done: Promise<Segment[]>;
  /** Bytes parsed so far, all ranges together. */
  bytes(): number;
  /** Stop the workers (after a failure, an abort, or when the reader gives up on them). */
  stop(): void;
}

/**
 * Parse the ranges [bounds[i], bounds[i+1]) in workers (`spawn`), or in this thread (`inThread`).
 */
export function startSegments(
  eventsPath: string, bounds: number[], spawn: ((job: SegmentJob) => Worker) | undefined, progressMs: number | undefined,
  signal?: AbortSignal, { map, parse = (job, onBytes, s) => parseSegment(job.eventsPath, job.start, job.end, onBytes, s) }: {
    map?: SegmentJob['map']; parse?: ParseRange;
  } = {},
): SegmentRun {
  const n = bounds.length - 1;
  const bytes = new Array<number>(n).fill(0);
  const workers: Worker[] = [];
  const stopInThread = new AbortController();
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    stopInThread.abort(new Error('stopped'));
    for (const w of workers) {
      w.removeAllListeners();
      w.on('error', () => {}); // late errors of a worker being terminated
      void w.terminate();
    }
  };
  const one = (i: number): Promise<Segment> => {
    const [start, end] = [bounds[i], bounds[i + 1]];
    const job: SegmentJob = { kind: 'segment', eventsPath, start, end, progressMs, map };
    if (!spawn) {
      const s = AbortSignal.any([stopInThread.signal, ...(signal ? [signal] : [])]);
      return parse(job, (b) => (bytes[i] = b), s);
    }
    return new Promise<Segment>((resolve, reject) => {
      const worker = spawn(job);
      workers.push(worker);
      worker.on('message', (reply: SegmentReply) => {
        if (reply.kind === 'progress') bytes[i] = reply.bytes;
        else if (reply.ok) {
          if (!map) bytes[i] = end - start;
          resolve(reply.segment);
        } else reject(new Error(reply.error));
      });
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`segment worker exited with code ${code}`)));
    });
  };
  const onAbort = () => stop();
  signal?.addEventListener('abort', onAbort, { once: true });
  const all = Promise.all(Array.from({ length: n }, (_, i) => one(i)));
  const aborted = new Promise<never>((_, reject) => {
    if (signal?.aborted) reject(signal.reason);
    signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
  const done = Promise.race([all, aborted]).then(
    (segments) => {
      signal?.removeEventListener('abort', onAbort);
      return segments; // each worker has posted its segment and exits
    },
    (err) => {
      signal?.removeEventListener('abort', onAbort);
      stop();
      throw err;
    },
  );
  aborted.catch(() => {}); // the race above reports it
  return { done, bytes: () => bytes.reduce((a, b) => a + b, 0), stop };
}

/** `line N...` of a message numbered in its segment, numbered in the file; undefined when not of that form. */
function renumber(message: string, line: number, to: number): string | undefined {
  const prefix = `line ${line}`;
  if (!message.startsWith(prefix)) return undefined;
  const next = message[prefix.length];
  if (next !== ':' && next !== ' ') return undefined;
  return `line ${to}${message.slice(prefix.length)}`;
}

/**
 * Apply `segments` (consecutive ranges, the first starting at the model's read position, where line
 * `firstLine` starts) to `model` as a sequential read of their bytes would have. Checks everything
 * first: when it throws, the model is untouched. Returns the number of the next line.
 */
export function mergeSegments(model: RunModel, segments: Segment[], start: number, firstLine: number): number {
  let line = firstLine;
  let at = start;
  const plan = segments.map((seg) => {
    if (seg.start !== at) throw new Error(`segment at ${seg.start}, expected ${at}`);
    at = seg.end;
    const shift = line - 1;
    const errors = seg.errors.map((e) => {
      const message = renumber(e.message, e.line, e.line + shift);
      if (message === undefined) throw new Error(`an error message without its line number: ${e.message.slice(0, 80)}`);
      return { ...e, line: e.line + shift, message };
    });
    line += seg.lines;
    return { seg, shift, errors };
  });
  for (const { seg, shift, errors } of plan) {
    const label = (row: number) => seg.labels[seg.labelOf[row]];
    let done = 0;
    for (const e of seg.entries) {
      model.appendRollouts(seg.rollouts, done, e.rowsBefore, shift, label);
      done = e.rowsBefore;
      model.apply(e.event, e.offset, e.length, e.line + shift);
    }
    model.appendRollouts(seg.rollouts, done, seg.rollouts.size, shift, label);
    model.ingest({ events: [], errors });
    model.noteRange(seg.errorCount - errors.length, seg.tailTime);
  }
  return line;
}
