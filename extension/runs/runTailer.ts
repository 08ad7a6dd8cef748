// Follows a live run's events.jsonl: reads only the bytes appended since the last read, feeds
// them to a RunModel, and tells listeners what changed at most once per `batchMs`, so a trainer
// writing a thousand rollout lines a step does not flood a webview with a thousand updates.
// fs.watch on the run folder gives prompt reads (watching the folder, not the file, survives the
// file being created late or replaced); a poll timer catches what fs.watch misses (network file
// systems, a folder that does not exist yet, inotify limits).
import { watch, type FSWatcher } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Rerun } from './rerun';
import type { RunEvent } from '../events';
import { LineReader } from './lineReader';
import { EVENTS_FILE, HEAD_BYTES, TAIL_BYTES, lastBytes, loadRunFile, type FileIdentity, type LoadOptions, type LoadProgress } from './runFile';
import { RunModel, type RunModelState } from './runModel';

export interface Disposable {
  dispose(): void;
}

/** What happened since the last notification. */
export interface RunChange {
  /** The model was (re)built from scratch: the first load, or the file was truncated, replaced or rewritten. */
  reset: boolean;
  /** New valid events and new bad lines. */
  events: number;
  errors: number;
  /** Types of the new events, e.g. to redraw only the charts that need it. */
  types: RunEvent['type'][];
  /**
   * Set while a full load of a big file is under way: the model holds what was read so far (step
   * metrics, evals, logs; no rollouts yet) and `bytes` of `total` are read. Absent once it is done.
   */
  loading?: LoadProgress;
}

export interface TailerOptions extends Omit<LoadOptions, 'signal' | 'onProgress'> {
  /** Poll interval in ms (default 1000); polling is the fallback, fs.watch the fast path. */
  pollMs?: number;
  /** Notifications are batched over this many ms (default 150). */
  batchMs?: number;
  /** Use fs.watch (default true). */
  watch?: boolean;
}

// Each appended chunk is parsed on the extension host's thread: a quarter MiB keeps one chunk's
// parse to a few ms, so a trainer flooding the file never holds the host for long.
const CHUNK = 256 * 1024;

export class RunTailer implements Disposable {
  readonly model: RunModel;
  readonly eventsPath: string;
  /** The last read failure (permissions, a folder named events.jsonl...), cleared by a good read. */
  lastError: Error | undefined;
  /** Whether the last full load ran in the worker thread. */
  loadedInWorker = false;

  private reader = new LineReader(0, 1, undefined, true);
  private loadProgress: LoadProgress | undefined;
  private first: Promise<void> | undefined;
  private position = 0; // bytes read from the file, torn tail included
  private identity: FileIdentity | undefined;
  /** The file's bytes [end - bytes.length, end) as last read: re-checked before reading on. */
  private tail: { end: number; bytes: Uint8Array } | undefined;
  private lastSize = -1;
  private lastMtime = -1;
  private watcher: FSWatcher | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private notifyTimer: NodeJS.Timeout | undefined;
  private pending: RunChange | undefined;
  private readonly listeners = new Set<(change: RunChange) => void>();
  private readonly reads = new Rerun(() => this.readOnce(), () => this.disposed);
  private started = false;
  private disposed = false;
  private readonly abort = new AbortController();

  constructor(readonly runDir: string, private readonly options: TailerOptions = {}) {
    this.eventsPath = join(runDir, EVENTS_FILE);
    this.model = new RunModel(this.eventsPath);
  }

  /**
   * Load what is there (in a worker when big) and start following. Resolves after the first read,
   * for every caller (a second caller waits for the same load).
   */
  start(): Promise<void> {
    if (this.disposed) return Promise.resolve();
    if (!this.first) {
      this.started = true;
      this.pollTimer = setInterval(() => void this.pump(), this.options.pollMs ?? 1000);
      this.ensureWatcher();
      this.first = this.pump();
    }
    return this.first;
  }

  /** How far the full load of a big file is, while one is under way (see RunChange.loading). */
  get loading(): LoadProgress | undefined {
    return this.loadProgress;
  }

  onDidChange(listener: (change: RunChange) => void): Disposable {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  /** Read now (what a watcher event does); resolves when everything written so far is in the model. */
  refresh(): Promise<void> {
    return this.pump();
  }

  /** Deliver a batched notification now instead of at the end of the batch window. */
  flush(): void {
    if (this.notifyTimer) clearTimeout(this.notifyTimer);
    this.notifyTimer = undefined;
    const change = this.pending;
    this.pending = undefined;
    if (!change || this.disposed) return;
    for (const listener of [...this.listeners]) {
      try {
        listener(change);
      } catch {
        // one bad listener must not stop the others or the tailer
      }
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.abort.abort();
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.notifyTimer) clearTimeout(this.notifyTimer);
    this.pollTimer = this.notifyTimer = undefined;
    this.watcher?.close();
    this.watcher = undefined;
    this.listeners.clear();
    this.pending = undefined;
  }

  private ensureWatcher(): void {
    if (this.watcher || !this.started || this.disposed || this.options.watch === false) return;
    try {
      const watcher = watch(this.runDir, (_event, filename) => {
        if (!filename || filename === EVENTS_FILE) void this.pump();
      });
      watcher.on('error', () => {
        // e.g. the run folder was deleted: drop the watcher, the poll recreates it when it can
        watcher.close();
        if (this.watcher === watcher) this.watcher = undefined;
      });
      this.watcher = watcher;
    } catch {
      // no folder yet, or no inotify watches left: polling covers it
    }
  }

  /** One read at a time; a request during a read makes that read go round once more. */
  private pump(): Promise<void> {
    return this.reads.request();
  }

  private async readOnce(): Promise<void> {
    this.ensureWatcher();
    let file: FileHandle | undefined;
    try {
      file = await open(this.eventsPath, 'r');
      const stat = await file.stat();
      if (stat.size === this.lastSize && stat.mtimeMs === this.lastMtime && this.sameFile(stat)) return;
      if (this.identity && (!this.sameFile(stat) || stat.size < this.position || this.modifiedInPlace(stat)
          || !(await this.sameHead(file)) || !(await this.sameTail(file)))) {
        this.resetModel();
      }
      if (!this.identity && stat.size > 0) {
        await this.loadAll();
        this.reads.repeat(); // reopen: read the torn tail and whatever came during the load
        return;
      }
      await this.readAppended(file);
      this.lastSize = stat.size;
      this.lastMtime = stat.mtimeMs;
      this.lastError = undefined;
    } catch (err) {
      if (this.disposed) return;
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        if (this.identity) this.resetModel(); // deleted: it may come back
        this.lastSize = this.lastMtime = -1;
      } else {
        this.lastError = err as Error;
      }
    } finally {
      await file?.close().catch(() => {});
    }
  }

  private sameFile(stat: { dev: number; ino: number }): boolean {
    return !this.identity || (this.identity.dev === stat.dev && this.identity.ino === stat.ino);
  }

  /**
   * Modified but not grown since the last read: the trainer only appends, so this is a rewrite in
   * place of the same length (an editor's save, a copy over it), wherever it changed.
   */
  private modifiedInPlace(stat: { size: number; mtimeMs: number }): boolean {
    return this.lastSize >= 0 && stat.size === this.lastSize && stat.mtimeMs !== this.lastMtime;
  }

  /**
   * The bytes just before the read position are still those read: a file rewritten in place and
   * longer, keeping its first bytes (its run_start), would otherwise be read on from the old offset,
   * mid-line, every later line number off. A file now shorter than them fails here too.
   */
  private async sameTail(file: FileHandle): Promise<boolean> {
    const t = this.tail;
    if (!t || t.bytes.length === 0) return true;
    const buf = Buffer.alloc(t.bytes.length);
    const { bytesRead } = await file.read(buf, 0, buf.length, t.end - t.bytes.length);
    return bytesRead === t.bytes.length && buf.equals(t.bytes);
  }

  /** A file rewritten in place (same inode, as long or longer) starts differently: the run_start line. */
  private async sameHead(file: FileHandle): Promise<boolean> {
    const expected = this.identity?.head;
    if (!expected || expected.length === 0) return true;
    const buf = Buffer.alloc(expected.length);
    const { bytesRead } = await file.read(buf, 0, buf.length, 0);
    return bytesRead === expected.length && buf.equals(expected);
  }

  /** Parse the whole file (in the worker when big) into a fresh model. */
  private async loadAll(): Promise<void> {
    let partials = 0;
    const onProgress = (p: LoadProgress, partial?: RunModelState) => {
      if (this.disposed) return;
      this.loadProgress = p;
      if (partial) this.model.load(partial);
      // The first partial replaces the empty model (a reset); later ones grow the same series.
      this.note({ reset: partial !== undefined && partials++ === 0, events: 0, errors: 0, types: partial ? ['step'] : [], loading: p });
    };
    let loaded;
    try {
      loaded = await loadRunFile(this.eventsPath, { ...this.options, signal: this.abort.signal, onProgress });
    } finally {
      this.loadProgress = undefined;
    }
    if (this.disposed) return;
    this.model.load(loaded.state);
    this.loadedInWorker = loaded.usedWorker;
    this.reader = new LineReader(loaded.offset, loaded.line, undefined, true);
    this.position = loaded.offset;
    this.identity = loaded.identity;
    this.tail = loaded.identity ? { end: loaded.size, bytes: loaded.identity.tail } : undefined;
    this.lastSize = this.lastMtime = -1;
    this.note({ reset: true, events: 0, errors: loaded.state.errorCount, types: [] });
  }

  /** Read from `position` to the end of the file, a chunk at a time. */
  private async readAppended(file: FileHandle): Promise<void> {
    const buf = Buffer.alloc(CHUNK);
    for (;;) {
      const { bytesRead } = await file.read(buf, 0, buf.length, this.position);
      if (bytesRead === 0 || this.disposed) return;
      const bytes = buf.subarray(0, bytesRead);
      this.growHead(bytes, this.position);
      this.slideTail(bytes, this.position);
      this.position += bytesRead;
      const chunk = this.reader.push(bytes);
      this.model.ingest(chunk);
      if (chunk.events.length > 0 || chunk.errors.length > 0) {
        this.note({
          reset: false, events: chunk.events.length, errors: chunk.errors.length,
          types: [...new Set(chunk.events.map((p) => p.event.type))],
        });
      }
    }
  }

  /** Keep the first HEAD_BYTES of the file once they exist (the file may start out shorter). */
  private growHead(bytes: Uint8Array, at: number): void {
    const id = this.identity;
    if (!id || id.head.length >= HEAD_BYTES || at > id.head.length || at + bytes.length <= id.head.length) return;
    const extra = bytes.subarray(id.head.length - at, HEAD_BYTES - at);
    const head = new Uint8Array(id.head.length + extra.length);
    head.set(id.head);
    head.set(extra, id.head.length);
    this.identity = { ...id, head };
  }

  /** `bytes` were read at `at`: the last TAIL_BYTES read now end at `at + bytes.length`. */
  private slideTail(bytes: Uint8Array, at: number): void {
    const t = this.tail;
    const start = t ? t.end - t.bytes.length : 0;
    const before = t && at >= start && at <= t.end ? t.bytes.subarray(0, at - start) : new Uint8Array(0);
    this.tail = { end: at + bytes.length, bytes: lastBytes(before, bytes, TAIL_BYTES) };
  }

  private resetModel(): void {
    this.model.load();
    this.reader = new LineReader(0, 1, undefined, true);
    this.position = 0;
    this.identity = undefined;
    this.tail = undefined;
    this.note({ reset: true, events: 0, errors: 0, types: [] });
  }

  /** Merge into the pending notification; the first change of a batch starts the batch timer. */
  private note(change: RunChange): void {
    if (this.disposed) return;
    const p = this.pending;
    this.pending = p
      ? { reset: p.reset || change.reset, events: p.events + change.events, errors: p.errors + change.errors,
          types: [...new Set([...p.types, ...change.types])], ...(change.loading && { loading: change.loading }) }
      : change;
    this.notifyTimer ??= setTimeout(() => this.flush(), this.options.batchMs ?? 150);
  }
}
