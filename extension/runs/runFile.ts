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
  progressMs?: number;
  /**
   * Called while a big file loads (every PROGRESS_MS or so), with what the model holds so far minus
   * its rollouts (`partial`: run_start, step metrics, evals, checkpoints, logs), for a dashboard to
   * draw before the whole file is read. Only worker loads report partials.
   */
  onProgress?: (progress: LoadProgress, partial?: RunModelState) => void;
}

export const EVENTS_FILE = 'events.jsonl';
export const HEAD_BYTES = 64;
/** How many bytes before the read position a tailer re-checks before reading on (rewrite detection). */
export const TAIL_BYTES = 4096;
export const DEFAULT_WORKER_THRESHOLD = 2 * 1024 * 1024;
export const INDEX_MIN_BYTES = 32 * 1024 * 1024;
/** How often a load reports progress (and, from the worker, a partial model). */
export const PROGRESS_MS = 250;
const CHUNK = 1024 * 1024;

/** Where the worker script is: dist/runWorker.js when bundled, extension/runs/runWorker.ts under tsx. */
export function defaultWorkerPath(): string | undefined {
  return ['runWorker.js', 'runWorker.ts'].map((f) => join(__dirname, f)).find((p) => existsSync(p));
}

export interface ReadOptions extends IndexOptions {
  signal?: AbortSignal;
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
    const reader = new LineReader(from.offset, from.line, MAX_LINE_BYTES, true);
    const buf = Buffer.alloc(CHUNK);
    let size = from.offset;
    let head = from.head;
    let tail = from.tail;
    let reported = Date.now();
    for (;;) {
      options.signal?.throwIfAborted();
      const { bytesRead } = await file.read(buf, 0, buf.length, size);
      if (bytesRead === 0) break;
      const bytes = buf.subarray(0, bytesRead);
      if (size < HEAD_BYTES) head = concat(head, bytes.subarray(0, HEAD_BYTES - size));
      tail = lastBytes(tail, bytes, TAIL_BYTES);
      size += bytesRead;
      model.ingest(reader.push(bytes));
      if (options.onProgress && Date.now() - reported >= (options.progressMs ?? PROGRESS_MS)) {
        reported = Date.now();
        options.onProgress({ bytes: size, total: Math.max(total, size) }, () => model.partialState());
      }
    }
    const fresh = reader.offset - from.offset; // bytes the index does not cover yet
    if (useIndex && fresh > 0 && fresh >= (options.indexMinBytes ?? INDEX_MIN_BYTES)) {
      // The index ends at the last complete line: its tail is the bytes before that, not the torn tail.
      const torn = size - reader.offset;
      const end = torn === 0 ? tail : await bytesBefore(file, reader.offset, TAIL_BYTES);
      const { mtimeMs: now } = await file.stat();
      const extent = { offset: reader.offset, line: reader.line, fileSize: size, mtimeMs: now, head, tail: end };
      const writeError = await tryWriteIndex(eventsPath, extent, model.toState());
      if (writeError === undefined) index.written = true;
      else index.writeError = writeError;
    }
    return { offset: reader.offset, line: reader.line, size, identity: { dev, ino, head, tail }, index: useIndex ? index : undefined };
  } finally {
    await file.close();
  }
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
  const indexOptions: IndexOptions = { index: options.index, indexMinBytes: options.indexMinBytes, progressMs: options.progressMs };
  if (mode !== 'never' && workerPath && existsSync(workerPath)) {
    const big = mode === 'always' || (await fileSize(eventsPath)) >= (options.workerThreshold ?? DEFAULT_WORKER_THRESHOLD);
    if (big) {
      try {
        return { ...(await parseInWorker(workerPath, eventsPath, indexOptions, options)), usedWorker: true };
      } catch (err) {
        options.signal?.throwIfAborted();
        void err; // a broken worker must not cost the user the run: parse here instead
      }
    }
  }
  const model = new RunModel(eventsPath);
  const onProgress = options.onProgress && ((p: LoadProgress) => options.onProgress!(p)); // no partials: same thread
  const read = await readRunFile(eventsPath, model, { ...indexOptions, signal: options.signal, onProgress });
  return { ...read, state: model.toState(), usedWorker: false };
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

/** What the worker is asked: a file to read, and how to use its index. */
export interface WorkerJob extends IndexOptions {
  eventsPath: string;
}

/** Messages from runWorker.ts: progress (with a partial model) while reading, then the result. */
export type WorkerReply =
  | { kind: 'progress'; progress: LoadProgress; partial: RunModelState }
  | { kind: 'done'; ok: true; read: FileRead; state: RunModelState }
  | { kind: 'done'; ok: false; error: string };

function parseInWorker(
  workerPath: string, eventsPath: string, index: IndexOptions, options: Pick<LoadOptions, 'signal' | 'onProgress'>,
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
      done(() => (reply.ok ? resolve({ ...reply.read, state: reply.state }) : reject(new Error(reply.error))));
    });
    worker.once('error', (err) => done(() => reject(err)));
    worker.once('exit', (code) => done(() => reject(new Error(`run worker exited with code ${code}`))));
  });
}

/**
 * The bundled worker is plain JS. Under tsx (tests) it is TypeScript, and Node 20 does not apply
 * `--import tsx` to a worker's entry script, so the worker registers tsx's require hook itself.
 */
function startWorker(workerPath: string, job: WorkerJob): Worker {
  // No inherited flags: the extension host's (inspector ports and the like) may not suit a worker.
  const options = { workerData: job, execArgv: [] };
  if (!workerPath.endsWith('.ts')) return new Worker(workerPath, options);
  const tsx = createRequire(workerPath).resolve('tsx/cjs');
  const code = `require(${JSON.stringify(tsx)}); require(${JSON.stringify(workerPath)});`;
  return new Worker(code, { ...options, eval: true });
}
