// Reading a whole events.jsonl into a RunModel: in a worker thread for big files, so a run of
// hundreds of megabytes does not stall the extension host, or in this thread (small files, or no
// worker script next to this code). The tailer continues from the returned offset and line.
import { existsSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
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
  /** Bytes read in all, torn tail included. */
  size: number;
  identity?: FileIdentity; // undefined: the file does not exist
}

export interface LoadedRun extends FileRead {
  state: RunModelState;
  usedWorker: boolean;
}

export type WorkerMode = 'auto' | 'always' | 'never';

export interface LoadOptions {
  /** `auto` (default): a worker for files of `workerThreshold` bytes or more. */
  worker?: WorkerMode;
  workerThreshold?: number;
  /** The worker script; default: runWorker.js (bundle) or runWorker.ts (tsx) beside this file. */
  workerPath?: string;
  signal?: AbortSignal;
}

export const EVENTS_FILE = 'events.jsonl';
export const HEAD_BYTES = 64;
/** How many bytes before the read position a tailer re-checks before reading on (rewrite detection). */
export const TAIL_BYTES = 4096;
export const DEFAULT_WORKER_THRESHOLD = 2 * 1024 * 1024;
const CHUNK = 1024 * 1024;

/** Where the worker script is: dist/runWorker.js when bundled, extension/runs/runWorker.ts under tsx. */
export function defaultWorkerPath(): string | undefined {
  return ['runWorker.js', 'runWorker.ts'].map((f) => join(__dirname, f)).find((p) => existsSync(p));
}

/**
 * Read `eventsPath` from byte 0 into `model`, in this thread, a chunk at a time. Rollouts are
 * skimmed (skim.ts): the model indexes only their small fields, and reads a rollout whole to show it.
 */
export async function readRunFile(eventsPath: string, model: RunModel, signal?: AbortSignal): Promise<FileRead> {
  let file: FileHandle;
  try {
    file = await open(eventsPath, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { offset: 0, line: 1, size: 0 };
    throw err;
  }
  try {
    const { dev, ino } = await file.stat();
    const reader = new LineReader(0, 1, MAX_LINE_BYTES, true);
    const buf = Buffer.alloc(CHUNK);
    let size = 0;
    let head: Uint8Array = new Uint8Array(0);
    let tail: Uint8Array = new Uint8Array(0);
    for (;;) {
      signal?.throwIfAborted();
      const { bytesRead } = await file.read(buf, 0, buf.length, size);
      if (bytesRead === 0) break;
      const bytes = buf.subarray(0, bytesRead);
      if (size < HEAD_BYTES) head = concat(head, bytes.subarray(0, HEAD_BYTES - size));
      tail = lastBytes(tail, bytes, TAIL_BYTES);
      size += bytesRead;
      model.ingest(reader.push(bytes));
    }
    return { offset: reader.offset, line: reader.line, size, identity: { dev, ino, head, tail } };
  } finally {
    await file.close();
  }
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
  if (mode !== 'never' && workerPath && existsSync(workerPath)) {
    const big = mode === 'always' || (await fileSize(eventsPath)) >= (options.workerThreshold ?? DEFAULT_WORKER_THRESHOLD);
    if (big) {
      try {
        return { ...(await parseInWorker(workerPath, eventsPath, options.signal)), usedWorker: true };
      } catch (err) {
        options.signal?.throwIfAborted();
        void err; // a broken worker must not cost the user the run: parse here instead
      }
    }
  }
  const model = new RunModel(eventsPath);
  const read = await readRunFile(eventsPath, model, options.signal);
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

/** Messages from runWorker.ts. */
export type WorkerReply = { ok: true; read: FileRead; state: RunModelState } | { ok: false; error: string };

function parseInWorker(workerPath: string, eventsPath: string, signal?: AbortSignal): Promise<FileRead & { state: RunModelState }> {
  signal?.throwIfAborted();
  return new Promise((resolve, reject) => {
    const worker = startWorker(workerPath, eventsPath);
    const done = (fn: () => void) => {
      signal?.removeEventListener('abort', onAbort);
      worker.removeAllListeners();
      worker.on('error', () => {}); // late errors of a worker being terminated
      void worker.terminate();
      fn();
    };
    const onAbort = () => done(() => reject(signal!.reason));
    signal?.addEventListener('abort', onAbort, { once: true });
    worker.once('message', (reply: WorkerReply) =>
      done(() => (reply.ok ? resolve({ ...reply.read, state: reply.state }) : reject(new Error(reply.error)))));
    worker.once('error', (err) => done(() => reject(err)));
    worker.once('exit', (code) => done(() => reject(new Error(`run worker exited with code ${code}`))));
  });
}

/**
 * The bundled worker is plain JS. Under tsx (tests) it is TypeScript, and Node 20 does not apply
 * `--import tsx` to a worker's entry script, so the worker registers tsx's require hook itself.
 */
function startWorker(workerPath: string, eventsPath: string): Worker {
  // No inherited flags: the extension host's (inspector ports and the like) may not suit a worker.
  const options = { workerData: { eventsPath }, execArgv: [] };
  if (!workerPath.endsWith('.ts')) return new Worker(workerPath, options);
  const tsx = createRequire(workerPath).resolve('tsx/cjs');
  const code = `require(${JSON.stringify(tsx)}); require(${JSON.stringify(workerPath)});`;
  return new Worker(code, { ...options, eval: true });
}
