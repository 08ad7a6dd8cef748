// The notification a run's tailer shows while it first reads a big events.jsonl (RunChange.loading):
// one per tailer, moved on by the tailer's changes, closed by the first change without `loading`,
// by a load that ended without one (a failed read), or when the tailer goes.
import * as vscode from 'vscode';
import { loadedPercent, loadedSize, type LoadProgress } from '../../common/loading';

/** A load that failed sends no last change: look this often whether it is still going. */
const CHECK_MS = 2000;

export class LoadingNotice implements vscode.Disposable {
  private shown: { progress?: vscode.Progress<{ message?: string; increment?: number }>; percent: number; last: LoadProgress; close(): void } | undefined;

  constructor(private readonly title: string, private readonly current: () => LoadProgress | undefined) {}

  /** A change's `loading`: shows or moves the notification, or (undefined) closes it. */
  update(loading: LoadProgress | undefined): void {
    if (!loading) return this.dispose();
    if (this.shown) {
      this.shown.last = loading;
      this.report();
      return;
    }
    let close!: () => void;
    const done = new Promise<void>((resolve) => (close = resolve));
    const check = setInterval(() => {
      if (!this.current()) this.dispose();
    }, CHECK_MS);
    this.shown = { percent: 0, last: loading, close: () => { clearInterval(check); close(); } };
    const shown = this.shown;
    void vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: this.title }, (progress) => {
      shown.progress = progress;
      if (this.shown === shown) this.report();
      return done;
    });
  }

  dispose(): void {
    this.shown?.close();
    this.shown = undefined;
  }

  /** The latest numbers; `increment` is what the bar moved since the last report (VS Code adds them up). */
  private report(): void {
    const s = this.shown;
    if (!s?.progress) return; // withProgress has not handed over its progress yet: it reports then
    const percent = loadedPercent(s.last);
    s.progress.report({ message: loadedSize(s.last), increment: Math.max(0, percent - s.percent) });
    s.percent = Math.max(s.percent, percent);
  }
}
