// Reading a whole events.jsonl into a RunModel: in a worker thread for big files, so a run of
// hundreds of megabytes does not stall the extension host, or in this thread (small files, or no
// worker script next to this code). The tailer continues from the returned offset and line.
import { existsSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { checkIndex, indexPathOf, readIndex, tryWriteIndex } from './indexFile';
import { LineReader, MAX_LINE_BYTES } from './lineReader';
import { readThroughLineMap, type LineMapReport } from './lineMap';
import { unpackRollouts, type PackedRolloutIndexState } from './rolloutIndex';
import { mergeSegments, planRanges, rangeCount, startSegments, PARALLEL_MIN_BYTES, type ParallelOptions, type SegmentJob, type SegmentRun } from './parallelRead';
import { RunModel, type RunModelState } from './runModel';

/** What identifies the file that was read, to notice it being replaced or rewritten later. */
export interface FileIdentity {
  dev: number;
  ino: number;
  /** The first HEAD_BYTES bytes (fewer for a shorter file). */
  head: Uint8Array;
  /** The last TAIL_BYTES bytes read (fewer for a shorter file): they end at `FileRead.size`. */
  tail: Uint8Array;
}

export interface FileRead {
  /** End of the last complete line (a torn last line starts here) and the number of the next line. */
  offset: number;
  line: number;
  /** Bytes read in all, torn tail included (from byte 0, or from where the persisted index ended). */
  size: number;
  identity?: FileIdentity; // undefined: the file does not exist
  /** Whether the persisted index (indexFile.ts) was used or written, and why not. */
  index?: IndexReport;
  /** Whether the trainer's line map (lineMap.ts) was read, and why not. */
  lineMap?: LineMapReport;
  /** How many ranges were read in parallel (parallelRead.ts); absent: one thread read it all. */
  ranges?: number;
}

export interface IndexReport {
  used: boolean;
  /** Why it was not used: no index, corrupt, the file shrank, was replaced or rewritten... */
  reason?: string;
  written: boolean;
  /** Why writing it failed (a read-only folder, a full disk). */
  writeError?: string;
}

/** How the persisted index is used: `auto` reads it and writes one after reading `indexMinBytes` or more. */
export interface IndexOptions {
  index?: boolean;
  indexMinBytes?: number;
  /** Read a first open through the trainer's line map when it checks out (default true). */
  lineMap?: boolean;
  /** How often progress is reported (default PROGRESS_MS). */
  progressMs?: number;
}

export interface LoadedRun extends FileRead {
  state: RunModelState;
  usedWorker: boolean;
}

export type WorkerMode = 'auto' | 'always' | 'never';

/** How far a full load is: `bytes` of `total` read. */
export interface LoadProgress {
  bytes: number;
  total: number;
}

export interface LoadOptions {
  /** `auto` (default): a worker for files of `workerThreshold` bytes or more. */
  worker?: WorkerMode;
  workerThreshold?: number;
  /** The worker script; default: runWorker.js (bundle) or runWorker.ts (tsx) beside this file. */
  workerPath?: string;
  signal?: AbortSignal;
  /** Use and write the persisted index `.events.index` next to the file (default true). */
  index?: boolean;
  /** Write an index only after reading at least this many bytes (default INDEX_MIN_BYTES). */
  indexMinBytes?: number;
  /** Read a first open through the trainer's line map `.events.lines` when it checks out (default true). */
  lineMap?: boolean;
  progressMs?: number;
  /**
   * Called while a big file loads (every PROGRESS_MS or so), with what the model holds so far minus
   * its rollouts (`partial`: run_start, step metrics, evals, checkpoints, logs), for a dashboard to
   * draw before the whole file is read. Only worker loads report partials.
   */
  onProgress?: (progress: LoadProgress, partial?: RunModelState) => void;
  /**
   * A worker load reads a big span (PARALLEL_MIN_BYTES or more after the persisted index) with
   * several threads (parallelRead.ts), unless `false`; an in-thread load only when this is given.
   */
  parallel?: ParallelOptions | false;
}

export const EVENTS_FILE = 'events.jsonl';
export const HEAD_BYTES = 64;
/** How many bytes before the read position a tailer re-checks before reading on (rewrite detection). */
export const TAIL_BYTES = 4096;
export const DEFAULT_WORKER_THRESHOLD = 2 * 1024 * 1024;
export const INDEX_MIN_BYTES = 32 * 1024 * 1024;
/** Rollouts read before the index is sized for the whole file from their average line length. */
const RESERVE_AFTER_ROWS = 256;
/** How often a load reports progress (and, from the worker, a partial model). */
export const PROGRESS_MS = 250;
const CHUNK = 1024 * 1024;

/** Where the worker script is: dist/runWorker.js when bundled, extension/runs/runWorker.ts under tsx. */
export function defaultWorkerPath(): string | undefined {
  return ['runWorker.js', 'runWorker.ts'].map((f) => join(__dirname, f)).find((p) => existsSync(p));
}

export interface ReadOptions extends IndexOptions {
  signal?: AbortSignal;
  /** Share a big span out to workers (parallelRead.ts); the result is the same. */
  parallel?: ParallelOptions;
  /** Every PROGRESS_MS or so; `partial()` gives the model's state so far minus its rollouts. */
  onProgress?: (progress: LoadProgress, partial: () => RunModelState) => void;
}

/**
 * Read `eventsPath` into `model`, in this thread, a chunk at a time: from where its persisted
 * index ends when that index checks out against the file (indexFile.ts), else from byte 0; then
 * write the index afresh if a lot was read. Rollouts are skimmed (skim.ts): the model indexes only
 * their small fields, and reads a rollout whole to show it.
 */
export async function readRunFile(eventsPath: string, model: RunModel, options: ReadOptions = {}): Promise<FileRead> {
  let file: FileHandle;
  try {
    file = await open(eventsPath, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { offset: 0, line: 1, size: 0 };
    throw err;
  }
  try {
    const { dev, ino, size: total, mtimeMs } = await file.stat();
    const useIndex = options.index !== false;
    const index: IndexReport = { used: false, written: false };
    let from: { offset: number; line: number; head: Uint8Array; tail: Uint8Array } = { offset: 0, line: 1, head: new Uint8Array(0), tail: new Uint8Array(0) };
    if (useIndex) {
      const saved = await readIndex(indexPathOf(eventsPath));
      const why = 'error' in saved ? saved.error : await checkIndex(file, eventsPath, saved, total, mtimeMs);
      if (why !== undefined || 'error' in saved) {
        index.reason = why;
      } else {
        model.load(saved.state);
        from = saved;
        index.used = true;
        options.onProgress?.({ bytes: saved.offset, total }, () => model.partialState());
      }
    }
    let lineMap: LineMapReport | undefined;
    if (!index.used && options.lineMap !== false) {
      const parallel = options.parallel;
      const workerPath = parallel && (parallel.workerPath ?? defaultWorkerPath());
      const sharing = parallel && (parallel.inThread || (workerPath && existsSync(workerPath))) ? {
        count: rangeCount(parallel), minBytes: parallel.minBytes, spawn: parallel.inThread ? undefined : (job: SegmentJob) => startWorker(workerPath!, job),
      } : undefined;
      const mapped = await readThroughLineMap(file, eventsPath, model, {
        size: total, mtimeMs, signal: options.signal, progressMs: options.progressMs ?? PROGRESS_MS, onProgress: options.onProgress, sharing,
      });
      lineMap = mapped.report;
      if (mapped.offset > 0) {
        const head = await bytesAt(file, 0, Math.min(HEAD_BYTES, mapped.offset));
        from = { offset: mapped.offset, line: mapped.line, head, tail: await bytesBefore(file, mapped.offset, TAIL_BYTES) };
      }
    }
    let reader = new LineReader(from.offset, from.line, MAX_LINE_BYTES, true);
    const buf = Buffer.alloc(CHUNK);
    let size = from.offset;
    let head = from.head;
    let tail = from.tail;
    let reported = Date.now();
    const rowsBefore = model.rolloutCount;
    let reserved = false;
    // A big span: this thread reads the first range, workers the others (bounds[2..]), merged at bounds[1].
    const shared = options.parallel && await shareOut(file, eventsPath, from.offset, total, options);
    let limit = shared ? shared.bounds[1] : Infinity;
    let ranges: number | undefined;
    try {
      for (;;) {
        options.signal?.throwIfAborted();
        if (shared && size === limit) {
          limit = Infinity;
          const end = shared.bounds[shared.bounds.length - 1];
          // While the workers finish, progress goes on (this thread's range is often done first).
          const onProgress = options.onProgress;
          const timer = onProgress && setInterval(() => {
            const bytesSoFar = size + shared.run.bytes();
            onProgress({ bytes: bytesSoFar, total: Math.max(total, bytesSoFar) }, () => model.partialState());
          }, options.progressMs ?? PROGRESS_MS);
          const line = await mergeShared(shared, model, reader, options.signal).finally(() => clearInterval(timer));
          if (line === undefined) continue; // the workers failed: read their ranges here
          ranges = shared.bounds.length - 1;
          if (size < HEAD_BYTES) head = concat(head, await bytesAt(file, size, Math.min(HEAD_BYTES, end)));
          tail = lastBytes(tail, await bytesAt(file, Math.max(size, end - TAIL_BYTES), end), TAIL_BYTES);
          size = end;
          reader = new LineReader(end, line, MAX_LINE_BYTES, true);
          continue;
        }
        const { bytesRead } = await file.read(buf, 0, Math.min(buf.length, limit - size), size);
        if (bytesRead === 0) break;
        const bytes = buf.subarray(0, bytesRead);
        if (size < HEAD_BYTES) head = concat(head, bytes.subarray(0, HEAD_BYTES - size));
        tail = lastBytes(tail, bytes, TAIL_BYTES);
        size += bytesRead;
        model.ingest(reader.push(bytes));
        if (!reserved && model.rolloutCount - rowsBefore >= RESERVE_AFTER_ROWS) {
          // Rollout lines of a run are much alike: size the index once for the whole file (+5 %).
          reserved = true;
          const bytesPerRow = (size - from.offset) / (model.rolloutCount - rowsBefore);
          model.reserveRollouts(Math.ceil(model.rolloutCount + (1.05 * (total - size)) / bytesPerRow));
        }
        if (options.onProgress && Date.now() - reported >= (options.progressMs ?? PROGRESS_MS)) {
          reported = Date.now();
          const bytesSoFar = size + (limit === Infinity || !shared ? 0 : shared.run.bytes());
          options.onProgress({ bytes: bytesSoFar, total: Math.max(total, bytesSoFar) }, () => model.partialState());
        }
      }
    } finally {
      shared?.run.stop();
    }
    // Bytes the index does not cover yet (a read through the line map counts: the next open reads
    // the index, a few MB, not the map again).
    const fresh = reader.offset - (index.used ? from.offset : 0);
    if (useIndex && fresh > 0 && fresh >= (options.indexMinBytes ?? INDEX_MIN_BYTES)) {
      // The index ends at the last complete line: its tail is the bytes before that, not the torn tail.
      const torn = size - reader.offset;
      const end = torn === 0 ? tail : await bytesBefore(file, reader.offset, TAIL_BYTES);
      const { mtimeMs: now } = await file.stat();
      const extent = { offset: reader.offset, line: reader.line, fileSize: size, mtimeMs: now, head, tail: end };
      const writeError = await tryWriteIndex(eventsPath, extent, model.toState({ copy: false }));
      if (writeError === undefined) index.written = true;
      else index.writeError = writeError;
    }
    const read: FileRead = { offset: reader.offset, line: reader.line, size, identity: { dev, ino, head, tail }, index: useIndex ? index : undefined };
    if (lineMap) read.lineMap = lineMap;
    if (ranges !== undefined) read.ranges = ranges;
    return read;
  } finally {
    await file.close();
  }
}

/** The ranges of a big span being parsed by workers: see parallelRead.ts. */
interface Shared {
  bounds: number[];
  run: SegmentRun;
}

/** Start workers on the ranges after the first of [start, total) when the span is big enough and cuts into several. */
async function shareOut(file: FileHandle, eventsPath: string, start: number, total: number, options: ReadOptions): Promise<Shared | undefined> {
  const parallel = options.parallel!;
  const count = rangeCount(parallel);
  if (count < 2 || total - start < (parallel.minBytes ?? PARALLEL_MIN_BYTES)) return undefined;
  const workerPath = parallel.workerPath ?? defaultWorkerPath();
  if (!parallel.inThread && !(workerPath && existsSync(workerPath))) return undefined;
  try {
    const bounds = await planRanges(file, start, total, count, parallel.cuts);
    if (bounds.length < 3) return undefined;
    const spawn = parallel.inThread ? undefined : (job: SegmentJob) => startWorker(workerPath!, job);
    const run = startSegments(eventsPath, bounds.slice(1), spawn, options.progressMs, options.signal);
    run.done.catch(() => {}); // handled when merged
    return { bounds, run };
  } catch {
    return undefined; // read it all here
  }
}

/**
 * This thread has read up to the first cut: merge the workers' segments into the model. Undefined
 * (the model untouched) when a worker failed or the reader is not where the segments begin: the
 * caller reads on alone. Rejects only when aborted.
 */
async function mergeShared(shared: Shared, model: RunModel, reader: LineReader, signal?: AbortSignal): Promise<number | undefined> {
  const start = shared.bounds[1];
  try {
    if (reader.offset !== start || reader.pendingBytes !== 0) throw new Error('the file changed while it was read');
    const segments = await shared.run.done;
    return mergeSegments(model, segments, start, reader.line);
  } catch (err) {
    signal?.throwIfAborted();
    void err; // the workers failed: nothing is lost, this thread reads their ranges
    shared.run.stop();
    return undefined;
  }
}

/** The bytes [from, to) of the file. */
async function bytesAt(file: FileHandle, from: number, to: number): Promise<Uint8Array> {
  const buf = Buffer.alloc(Math.max(0, to - from));
  let got = 0;
  while (got < buf.length) {
    const { bytesRead } = await file.read(buf, got, buf.length - got, from + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return buf.subarray(0, got);
}

async function bytesBefore(file: FileHandle, end: number, n: number): Promise<Uint8Array> {
  const buf = Buffer.alloc(Math.min(end, n));
  const { bytesRead } = await file.read(buf, 0, buf.length, end - buf.length);
  return buf.subarray(0, bytesRead);
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** The last `n` bytes of `a` followed by `b` (a copy: `b` may be a reused read buffer). */
export function lastBytes(a: Uint8Array, b: Uint8Array, n: number): Uint8Array {
  if (b.length >= n) return b.slice(b.length - n);
  return concat(a.subarray(Math.max(0, a.length - (n - b.length))), b);
}

/**
 * Parse a whole events.jsonl, off the main thread when it is big. Falls back to this thread when
 * the worker script is missing or the worker fails; rejects only when aborted or unreadable.
 */
export async function loadRunFile(eventsPath: string, options: LoadOptions = {}): Promise<LoadedRun> {
  const mode = options.worker ?? 'auto';
  const workerPath = options.workerPath ?? defaultWorkerPath();
  const indexOptions: IndexOptions = { index: options.index, indexMinBytes: options.indexMinBytes, lineMap: options.lineMap, progressMs: options.progressMs };
  if (mode !== 'never' && workerPath && existsSync(workerPath)) {
    const big = mode === 'always' || (await fileSize(eventsPath)) >= (options.workerThreshold ?? DEFAULT_WORKER_THRESHOLD);
    if (big) {
      try {
        const parallel = options.parallel === false ? undefined : { workerPath, ...options.parallel };
        return { ...(await parseInWorker(workerPath, eventsPath, { ...indexOptions, parallel }, options)), usedWorker: true };
      } catch (err) {
        options.signal?.throwIfAborted();
        void err; // a broken worker must not cost the user the run: parse here instead
      }
    }
  }
  const model = new RunModel(eventsPath);
  const onProgress = options.onProgress && ((p: LoadProgress) => options.onProgress!(p)); // no partials: same thread
  const parallel = options.parallel || undefined; // in this thread only when asked for
  const read = await readRunFile(eventsPath, model, { ...indexOptions, parallel, signal: options.signal, onProgress });
  return { ...read, state: model.toState({ copy: false }), usedWorker: false };
}

/** A run folder's events.jsonl read once into a model: a one-off lookup (live runs have a tailer). */
export async function loadRunModel(runDir: string, options: LoadOptions = {}): Promise<RunModel> {
  const eventsPath = join(runDir, EVENTS_FILE);
  const loaded = await loadRunFile(eventsPath, options);
  return new RunModel(eventsPath, loaded.state);
}

async function fileSize(path: string): Promise<number> {
  try {
    const file = await open(path, 'r');
    try {
      return (await file.stat()).size;
    } finally {
      await file.close();
    }
  } catch {
    return 0;
  }
}

/** What the worker is asked: a file to read, how to use its index, and whether to share it out (parallelRead.ts). */
export interface WorkerJob extends IndexOptions {
  kind?: 'run';
  eventsPath: string;
  parallel?: ParallelOptions;
}

/** A model's state with its rollout groups packed, as the worker hands it over (packRollouts). */
export type PackedRunModelState = Omit<RunModelState, 'rollouts'> & { rollouts: PackedRolloutIndexState };

/** Messages from runWorker.ts: progress (with a partial model) while reading, then the result. */
export type WorkerReply =
  | { kind: 'progress'; progress: LoadProgress; partial: RunModelState }
  | { kind: 'done'; ok: true; read: FileRead; state: PackedRunModelState }
  | { kind: 'done'; ok: false; error: string };

function parseInWorker(
  workerPath: string, eventsPath: string, index: IndexOptions & { parallel?: ParallelOptions }, options: Pick<LoadOptions, 'signal' | 'onProgress'>,
): Promise<FileRead & { state: RunModelState }> {
  const { signal, onProgress } = options;
  signal?.throwIfAborted();
  return new Promise((resolve, reject) => {
    const worker = startWorker(workerPath, { eventsPath, ...index });
    const done = (fn: () => void) => {
      signal?.removeEventListener('abort', onAbort);
      worker.removeAllListeners();
      worker.on('error', () => {}); // late errors of a worker being terminated
      void worker.terminate();
      fn();
    };
    const onAbort = () => done(() => reject(signal!.reason));
    signal?.addEventListener('abort', onAbort, { once: true });
    worker.on('message', (reply: WorkerReply) => {
      if (reply.kind === 'progress') return onProgress?.(reply.progress, reply.partial);
      done(() => (reply.ok
        ? resolve({ ...reply.read, state: { ...reply.state, rollouts: unpackRollouts(reply.state.rollouts) } })
        : reject(new Error(reply.error))));
    });
    worker.once('error', (err) => done(() => reject(err)));
    worker.once('exit', (code) => done(() => reject(new Error(`run worker exited with code ${code}`))));
  });
}

/**
 * The bundled worker is plain JS. Under tsx (tests) it is TypeScript, and Node 20 does not apply
 * `--import tsx` to a worker's entry script, so the worker registers tsx's require hook itself.
 */
function startWorker(workerPath: string, job: WorkerJob | SegmentJob): Worker {
  // No inherited flags: the extension host's (inspector ports and the like) may not suit a worker.
  const options = { workerData: job, execArgv: [] };
  if (!workerPath.endsWith('.ts')) return new Worker(workerPath, options);
  const tsx = createRequire(workerPath).resolve('tsx/cjs');
  const code = `require(${JSON.stringify(tsx)}); require(${JSON.stringify(workerPath)});`;
  return new Worker(code, { ...options, eval: true });
}
