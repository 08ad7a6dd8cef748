// Host of the run dashboard: one panel per run folder. Sends the full state on `ready`, then, on
// the shared tailer's (already batched) change notifications, only what is new, merged once more
// over UPDATE_MS so a burst of notifications becomes one message.
import * as vscode from 'vscode';
import type { RunTailer } from '../runs/runTailer';
import { parseDashboardRequest, type DashboardRequest, type DashboardToWebview } from '../../common/protocol/dashboard';
import { DashboardFeed } from './dashboardData';
import { Channel, createPanel, loadPage } from './webviewHost';

export const DASHBOARD_VIEW_TYPE = 'hbpo.dashboard';
const UPDATE_MS = 100;
/** Status can change with no new event (the trainer process died: `stale`), so look now and then. */
const HEADER_POLL_MS = 5000;

export interface DashboardRun {
  runDir: string;
  label: string;
  tailer: RunTailer;
}

export interface DashboardActions {
  openInspector(step?: number): void;
  openRewardExplorer(): void;
}

export class DashboardPanel {
  private static readonly open = new Map<string, DashboardPanel>();

  static show(ctx: vscode.ExtensionContext, run: DashboardRun, actions: DashboardActions): void {
    const existing = DashboardPanel.open.get(run.runDir);
    if (existing) existing.panel.reveal();
    else DashboardPanel.open.set(run.runDir, new DashboardPanel(ctx, run, actions));
  }

  /** A dashboard VS Code restored after a reload, for the run its page had on show. */
  static revive(ctx: vscode.ExtensionContext, panel: vscode.WebviewPanel, run: DashboardRun, actions: DashboardActions): void {
    loadPage(ctx, panel, 'dashboard', `HBPO: ${run.label}`);
    DashboardPanel.open.get(run.runDir)?.panel.dispose();
    DashboardPanel.open.set(run.runDir, new DashboardPanel(ctx, run, actions, panel));
  }

  private readonly panel: vscode.WebviewPanel;
  private readonly channel: Channel<DashboardRequest, DashboardToWebview>;
  private readonly feed: DashboardFeed;
  private readonly subs: { dispose(): void }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private needFull = false;

  private constructor(
    ctx: vscode.ExtensionContext, private readonly run: DashboardRun, private readonly actions: DashboardActions,
    restored?: vscode.WebviewPanel,
  ) {
    this.panel = restored ?? createPanel(ctx, DASHBOARD_VIEW_TYPE, `HBPO: ${run.label}`, 'dashboard');
    this.feed = new DashboardFeed(run.tailer.model, run.label, run.runDir, undefined, () => run.tailer.loading);
    this.channel = new Channel(this.panel, parseDashboardRequest, (req) => this.handle(req));
    this.subs.push(this.channel, run.tailer.onDidChange((change) => {
      if (change.reset) this.needFull = true;
      this.schedule();
    }));
    const poll = setInterval(() => this.schedule(), HEADER_POLL_MS);
    this.subs.push({ dispose: () => clearInterval(poll) });
    this.panel.onDidDispose(() => this.dispose());
    void run.tailer.start(); // a no-op when the run store started it already
  }

  private handle(req: DashboardRequest): void {
    switch (req.type) {
      case 'ready':
        this.needFull = false;
        this.channel.post({ type: 'state', state: this.feed.full() });
        break;
      case 'lengths':
        this.channel.send({ type: 'lengths', id: req.id, step: req.step, lengths: Object.fromEntries(this.run.tailer.model.lengthsByTier(req.step)) });
        break;
      case 'openInspector':
        this.actions.openInspector(req.step);
        break;
      case 'openRewardExplorer':
        this.actions.openRewardExplorer();
        break;
    }
  }

  private schedule(): void {
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, UPDATE_MS);
  }

  private flush(): void {
    if (!this.channel.ready) return; // the page sends `ready` when it is back, and gets everything then
    const msg: DashboardToWebview | undefined = this.needFull ? { type: 'state', state: this.feed.full() } : this.feed.next();
    this.needFull = false;
    if (msg) this.channel.post(msg);
  }

  private dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    for (const s of this.subs) s.dispose();
    DashboardPanel.open.delete(this.run.runDir);
  }
}
