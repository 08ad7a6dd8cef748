// A source folder another tool is still writing (verl adds `{step}.jsonl` as it trains, TRL a
// parquet per logging step): watched, and read again into the same run folder when it changes, so
// the run's tailer sees the new steps (only the new or changed files are read, and appended as a
// resumed run appends: see index.ts).
// No `vscode`.
import { watch, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import { openExternalRun, type OpenedExternal } from './index';
import type { ConvertOptions } from './convert';
import type { SourceKind } from './formats';

export interface FollowOptions extends ConvertOptions {
  kind: SourceKind;
  /** Quiet time after the last change before reading again (a dump is written in one go). */
  debounceMs?: number;
  /** Also poll every `pollMs` (file systems where fs.watch misses changes); 0: never. */
  pollMs?: number;
  onUpdate?: (opened: OpenedExternal) => void;
  onError?: (err: Error) => void;
}

export class SourceFollower {
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private poll: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private lastMtime = 0;
  private disposed = false;

  constructor(readonly source: string, readonly storage: string, private readonly options: FollowOptions) {
    try {
      this.watcher = watch(source, { recursive: false }, () => this.schedule());
      this.watcher.on('error', () => this.watcher?.close());
    } catch { /* a file, or no watch support: the poll covers it */ }
    if (options.pollMs) this.poll = setInterval(() => void this.checkMtime(), options.pollMs);
    void stat(source).then((s) => (this.lastMtime = s.mtimeMs), () => undefined);
  }

  private async checkMtime(): Promise<void> {
    try {
      const m = (await stat(this.source)).mtimeMs;
      if (m !== this.lastMtime) this.schedule();
    } catch { /* gone */ }
  }

  private schedule(): void {
    if (this.disposed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.running.then(() => this.update());
    }, this.options.debounceMs ?? 500);
  }

  /** Read the source again now (also what a change triggers). */
  update(): Promise<void> {
    if (this.disposed) return Promise.resolve();
    return stat(this.source).then(async (s) => {
      this.lastMtime = s.mtimeMs;
      const opened = await openExternalRun(this.source, this.storage, this.options);
      if (!this.disposed) this.options.onUpdate?.(opened);
    }).catch((err: Error) => this.options.onError?.(err));
  }

  /** Resolves once no read is pending (tests). */
  idle(): Promise<void> {
    return this.running;
  }

  dispose(): void {
    this.disposed = true;
    this.watcher?.close();
    if (this.timer) clearTimeout(this.timer);
    if (this.poll) clearInterval(this.poll);
  }
}
