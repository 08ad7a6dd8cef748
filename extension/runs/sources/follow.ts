// A source folder another tool is still writing (verl adds `{step}.jsonl` as it trains, TRL a
// parquet per logging step): watched, and read again into the same run folder when it changes, so
// the run's tailer sees the new steps (only the new or changed files are read, and appended as a
// resumed run appends: see index.ts).
// No `vscode`.
import { watch, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import { openExternalRun, type OpenedExternal } from './index';
import type { ConvertOptions } from './convert';
import { sourceFiles, sourceFilesDir, type SourceKind } from './formats';

export interface FollowOptions extends ConvertOptions {
  kind: SourceKind;
  /** Quiet time after the last change before reading again (a dump is written in one go). */
  debounceMs?: number;
  /** Also poll every `pollMs` (file systems where fs.watch misses changes); 0: never. */
  pollMs?: number;
  onUpdate?: (opened: OpenedExternal) => void;
  onError?: (err: Error) => void;
}

/** Each step file's name, size and mtime: what a new step, a file still growing or a rewrite changes
 * (a folder's own mtime misses the last two, and TRL's files sit one folder down). */
async function fingerprint(source: string, kind: SourceKind): Promise<string> {
  try {
    const parts: string[] = [];
    for (const f of await sourceFiles(source, kind)) {
      const s = await stat(f);
      parts.push(`${f}\0${s.size}\0${s.mtimeMs}`);
    }
    return parts.join('\n');
  } catch {
    return ''; // no files (yet), or the folder is gone
  }
}

export class SourceFollower {
  private watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | undefined;
  private poll: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  /** The files as last read; none yet, so the first poll reads once (a no-op when nothing changed
   * since the caller's own read, and it catches a file that came in between). */
  private seen: string | undefined;
  private disposed = false;

  constructor(readonly source: string, readonly storage: string, private readonly options: FollowOptions) {
    void sourceFilesDir(source, options.kind).then((dir) => {
      for (const d of new Set([source, dir])) {
        if (this.disposed) return;
        try {
          const w = watch(d, { recursive: false }, () => this.schedule());
          w.on('error', () => w.close());
          this.watchers.push(w);
        } catch { /* a file, not there yet, or no watch support: the poll covers it */ }
      }
    }, () => undefined);
    if (options.pollMs) this.poll = setInterval(() => void this.checkFiles(), options.pollMs);
  }

  private async checkFiles(): Promise<void> {
    if ((await fingerprint(this.source, this.options.kind)) !== this.seen) this.schedule();
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
  async update(): Promise<void> {
    if (this.disposed) return;
    try {
      this.seen = await fingerprint(this.source, this.options.kind); // before the read: a change during it reads again
      const opened = await openExternalRun(this.source, this.storage, this.options);
      if (!this.disposed) this.options.onUpdate?.(opened);
    } catch (err) {
      this.options.onError?.(err as Error);
    }
  }

  /** Resolves once no read is pending (tests). */
  idle(): Promise<void> {
    return this.running;
  }

  dispose(): void {
    this.disposed = true;
    for (const w of this.watchers) w.close();
    if (this.timer) clearTimeout(this.timer);
    if (this.poll) clearInterval(this.poll);
  }
}
