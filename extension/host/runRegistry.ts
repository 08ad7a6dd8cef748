// The runs of the runs folder as the extension shows them: RunIndex summaries, made live by a shared
// RunTailer per run that is (or may become) active, and by what this window knows about the trainer
// processes it started (a process that died without run_end is marked failed). The status of each is
// the run store's judgeRun over those facts; nothing here decides one.
// Nothing here blocks the extension host: listing reads only the head and tail of each events.jsonl,
// and a tailer's first full parse of a big file runs in the run store's worker thread.
import { watch, type FSWatcher } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import * as vscode from 'vscode';
import type { RunHandle } from '../panels';
import { RunIndex, RunTailer, type RunSummary } from '../runs';
import { judgeRun, latestOfModel, type ChildFacts } from '../runs/judge';
import { Rerun } from '../runs/rerun';
import type { RunModel } from '../runs/runModel';
import { loadedModel } from '../runs/sharedModels';
import { runStartConfig, sourceLabel } from '../runs/sources';
import { LoadingNotice } from './loadingNotice';
import type { DisplayStatus } from './pure';

export interface RunEntry {
  id: string;
  dir: string;
  status: DisplayStatus;
  step: number;
  totalSteps?: number;
  stepsPerSecond: number | null;
  method?: string;
  tiers?: number[];
  maxResponseTokens?: number;
  config?: Record<string, unknown>;
  pid?: number;
  /** Unix seconds. */
  startTime: number;
  endReason?: string;
  /** A read problem, or why the run failed when no run_end says (its trainer's exit, or a mark). */
  error?: string;
  /** Why it has this status, in words (judgeRun's reason). */
  reason: string;
  /** Started (or resumed) from this window: its output is captured and Stop goes through the process. */
  owned: boolean;
  /** The tool a run opened from elsewhere came from (verl, TRL, lm-eval, SkyThought), for its badge. */
  source?: string;
  /** Opened with Open Run... from outside the runs folder. */
  external?: boolean;
}

export interface RegistryOptions {
  /** dist/runWorker.js of the installed extension. */
  workerPath?: string;
  /** Where the failed marks survive a reload (workspaceState). */
  memento?: vscode.Memento;
}

const FAILED_KEY = 'hbpo.failedRuns';
const EXTERNAL_KEY = 'hbpo.openedRuns';
const WATCH_DEBOUNCE_MS = 300;
const CHANGE_DEBOUNCE_MS = 200;
const LIVENESS_MS = 3000;
const POLL_MS = 10_000;
const POLL_NO_WATCHER_MS = 3000;

export class RunRegistry implements vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<void>();
  /** Fires (debounced) when the list, a status or a run's progress changed. */
  readonly onDidChange = this.changed.event;

  private runsDir: string | undefined;
  private index: RunIndex | undefined;
  private summaries = new Map<string, RunSummary>(); // by dir
  /** Run folders opened from outside the runs folder (Open Run...), with their source's label. */
  private externals = new Map<string, { summary: RunSummary; source?: string }>();
  private readonly tailers = new Map<string, { tailer: RunTailer; pinned: boolean; sub: { dispose(): void } }>();
  /** Runs a trainer process of this window writes: what the judge needs to know about it. */
  private readonly owned = new Map<string, () => ChildFacts | undefined>();
  /** The status each run had when the views last asked (a change nobody was told of is refreshed). */
  private readonly shown = new Map<string, DisplayStatus>();
  private failed: Record<string, string>;
  private watcher: FSWatcher | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private livenessTimer: NodeJS.Timeout | undefined;
  private watchTimer: NodeJS.Timeout | undefined;
  private changeTimer: NodeJS.Timeout | undefined;
  private lastNames = '';
  private readonly listing = new Rerun(() => this.listOnce(), () => this.disposed);
  private disposed = false;

  constructor(private readonly options: RegistryOptions = {}) {
    this.failed = { ...(options.memento?.get<Record<string, string>>(FAILED_KEY) ?? {}) };
    this.livenessTimer = setInterval(() => this.checkLiveness(), LIVENESS_MS);
    for (const d of options.memento?.get<string[]>(EXTERNAL_KEY) ?? []) if (existsSync(d)) void this.addExternal(d, { remember: false });
  }

  /**
   * Show a run folder from outside the runs folder (a native run from elsewhere, or one a source
   * adapter wrote into the extension's storage) in the list, remembered across reloads.
   */
  async addExternal(dir: string, { remember = true }: { remember?: boolean } = {}): Promise<RunEntry | undefined> {
    const d = resolve(dir);
    if (this.runsDir && resolve(d, '..') === this.runsDir) {
      await this.refresh();
      return this.get(d);
    }
    const summary = await new RunIndex(dirname(d)).summarize(basename(d));
    if (!summary || this.disposed) return undefined;
    const config = await runStartConfig(d);
    const source = sourceLabel(config);
    const src = config?.source as { path?: unknown; tokens?: unknown } | undefined;
    if (source && typeof src?.path === 'string') {
      // The name every panel shows: the folder the user opened, its tool, and whether counts are estimates.
      summary.id = `${basename(src.path)} · ${source}${src.tokens === 'estimate' ? ' · token counts estimated' : ''}`;
    }
    this.externals.set(d, { summary, source });
    if (remember) void this.options.memento?.update(EXTERNAL_KEY, [...this.externals.keys()]);
    this.scheduleChange();
    return this.entry(summary);
  }

  /** The run folders added by addExternal that this workspace remembers (those of earlier windows too). */
  rememberedExternals(): string[] {
    return (this.options.memento?.get<string[]>(EXTERNAL_KEY) ?? []).filter((d) => existsSync(d));
  }

  /** Forget a run added by addExternal (its folder stays). */
  removeExternal(dir: string): void {
    if (!this.externals.delete(resolve(dir))) return;
    void this.options.memento?.update(EXTERNAL_KEY, [...this.externals.keys()]);
    this.scheduleChange();
  }

  get directory(): string | undefined {
    return this.runsDir;
  }

  /** Point at another runs folder (or none); re-lists. */
  setRunsDirectory(dir: string | undefined): Promise<void> {
    const next = dir ? resolve(dir) : undefined;
    if (next === this.runsDir && this.index) return this.refresh();
    this.runsDir = next;
    this.index = next ? new RunIndex(next) : undefined;
    this.summaries.clear();
    for (const [d, t] of this.tailers) {
      t.sub.dispose();
      t.tailer.dispose();
      this.tailers.delete(d);
    }
    this.startWatching();
    return this.refresh();
  }

  /** Every run, newest first. */
  runs(): RunEntry[] {
    const list = this.entries();
    this.shown.clear();
    for (const e of list) this.shown.set(e.dir, e.status);
    return list;
  }

  private entries(): RunEntry[] {
    return [...this.summaries.values(), ...[...this.externals.values()].map((x) => x.summary)]
      .sort((a, b) => b.startTime - a.startTime || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map((s) => this.entry(s));
  }

  /** A run by folder (absolute) or folder name. */
  get(key: string): RunEntry | undefined {
    const s = this.summaries.get(resolve(this.runsDir ?? '.', key)) ?? this.externals.get(resolve(key))?.summary
      ?? [...this.summaries.values()].find((x) => x.id === key);
    return s ? this.entry(s) : undefined;
  }

  /**
   * The shared handle the panels get: its tailer stays alive while this window is open. `wait`:
   * resolve once the whole file is read (default); the dashboard does not wait, it draws the
   * partial model a big run's load reports and fills in as it goes.
   */
  async handle(entry: RunEntry, { wait = true }: { wait?: boolean } = {}): Promise<RunHandle> {
    const tailer = this.ensureTailer(entry.dir, true);
    const loaded = tailer.start();
    if (wait) await loaded;
    return { runDir: entry.dir, label: entry.id, tailer };
  }

  /**
   * A run's model for readers without a panel (trace documents): its shared tailer, pinned, once
   * loaded, so every tab of a run shares one load. Any folder, in the runs folder or not.
   */
  sharedModel(dir: string): Promise<RunModel> {
    return loadedModel(this.ensureTailer(dir, true));
  }

  /** The live model of a run, if a tailer follows it. */
  tailerOf(dir: string): RunTailer | undefined {
    return this.tailers.get(resolve(dir))?.tailer;
  }

  /**
   * A trainer process of this window writes `dir`: follow it from now on. `child` tells the judge
   * about it (undefined while it is being spawned: a trainer starting now).
   */
  adopt(dir: string, child: () => ChildFacts | undefined): void {
    const d = resolve(dir);
    const since = Date.now() / 1000;
    this.owned.set(d, () => child() ?? { since });
    this.clearFailed(d);
    void this.ensureTailer(d, false).start().then(() => this.refreshOne(d));
  }

  /** The process of an owned run exited. */
  released(dir: string): void {
    this.owned.delete(resolve(dir));
    void this.refreshOne(resolve(dir));
  }

  /** The trainer of `dir` died without saying so in events.jsonl: show it as failed (survives reloads). */
  markFailed(dir: string, reason: string): void {
    this.failed[resolve(dir)] = reason;
    void this.options.memento?.update(FAILED_KEY, this.failed);
    this.scheduleChange();
  }

  clearFailed(dir: string): void {
    const d = resolve(dir);
    if (!(d in this.failed)) return;
    delete this.failed[d];
    void this.options.memento?.update(FAILED_KEY, this.failed);
    this.scheduleChange();
  }

  /** Re-list the runs folder (one listing at a time; a call during one makes it run once more). */
  refresh(): Promise<void> {
    return this.listing.request();
  }

  dispose(): void {
    this.disposed = true;
    this.stopWatching();
    if (this.livenessTimer) clearInterval(this.livenessTimer);
    if (this.changeTimer) clearTimeout(this.changeTimer);
    for (const t of this.tailers.values()) {
      t.sub.dispose();
      t.tailer.dispose();
    }
    this.tailers.clear();
    this.changed.dispose();
  }

  private async listOnce(): Promise<void> {
    const index = this.index;
    if (!index) {
      if (this.summaries.size > 0) this.summaries.clear();
      this.scheduleChange();
      return;
    }
    const list = await index.list();
    if (index !== this.index || this.disposed) return;
    const next = new Map(list.map((s) => [s.dir, s] as const));
    this.summaries = next;
    for (const s of list) {
      if (s.status === 'running' || s.status === 'pending' || this.owned.has(s.dir)) void this.ensureTailer(s.dir, false).start();
    }
    this.pruneTailers();
    this.scheduleChange();
  }

  /** Re-read one run's summary (after its tailer saw a change or its process exited). */
  private async refreshOne(dir: string): Promise<void> {
    const ext = this.externals.get(resolve(dir));
    if (ext) {
      const s = await new RunIndex(dirname(resolve(dir))).summarize(basename(dir));
      if (s && !this.disposed && this.externals.has(resolve(dir))) this.externals.set(resolve(dir), { ...ext, summary: { ...s, id: ext.summary.id } });
      return this.scheduleChange();
    }
    if (!this.index || !this.runsDir || resolve(dir, '..') !== this.runsDir) return void this.refresh();
    const s = await this.index.summarize(basename(dir));
    if (this.disposed) return;
    if (s) this.summaries.set(s.dir, s);
    else if (!this.summaries.delete(resolve(dir))) return;
    this.pruneTailers();
    this.scheduleChange();
  }

  private ensureTailer(dir: string, pin: boolean): RunTailer {
    const d = resolve(dir);
    let t = this.tailers.get(d);
    if (!t) {
      const tailer = new RunTailer(d, { workerPath: this.options.workerPath });
      // A big file's first load takes seconds: say how far it is until a change without `loading`.
      const notice = new LoadingNotice(`Opening run ${basename(d)}`, () => tailer.loading);
      const listener = tailer.onDidChange((change) => {
        notice.update(change.loading);
        // run_start/run_end change the status: re-read the summary; the rest only moves numbers.
        if (change.reset || change.types.includes('run_start') || change.types.includes('run_end')) void this.refreshOne(d);
        else this.scheduleChange();
      });
      const sub = {
        dispose: () => {
          listener.dispose();
          notice.dispose();
        },
      };
      t = { tailer, pinned: pin, sub };
      this.tailers.set(d, t);
    } else if (pin) {
      t.pinned = true;
    }
    return t.tailer;
  }

  /** Tailers nobody pinned are dropped once their run is over (or gone). */
  private pruneTailers(): void {
    for (const [d, t] of this.tailers) {
      if (t.pinned || this.owned.has(d)) continue;
      const s = this.summaries.get(d) ?? this.externals.get(d)?.summary;
      const status = s ? this.entry(s).status : undefined;
      if (status === 'running' || status === 'pending') continue;
      t.sub.dispose();
      t.tailer.dispose();
      this.tailers.delete(d);
    }
  }

  private entry(s: RunSummary): RunEntry {
    const child = this.owned.get(s.dir);
    const e: RunEntry = {
      id: s.id, dir: s.dir, status: s.status, reason: '', step: s.step, totalSteps: s.totalSteps, stepsPerSecond: null,
      method: s.method, tiers: s.tiers, pid: s.pid, startTime: s.startTime, endReason: s.endReason, error: s.error,
      owned: child !== undefined,
    };
    const ext = this.externals.get(s.dir);
    if (ext) {
      e.external = true;
      e.source = ext.source;
    }
    const tailer = this.tailers.get(s.dir)?.tailer;
    // The live model knows the file better than the summary once it has read a run_start; not while
    // a first load has read only part of the file (no run_end yet: a finished run would look stale).
    const model = tailer && !tailer.loading ? tailer.model : undefined;
    const facts = model?.info ? { latest: latestOfModel(model) } : s.facts;
    const verdict = judgeRun({ ...facts, child: child?.(), failedMark: this.failed[s.dir] });
    e.status = verdict.status;
    e.reason = verdict.reason;
    // No run_end says why it failed: say it (how the trainer exited, here or in an earlier window).
    if (verdict.status === 'failed' && verdict.basis !== 'events') e.error = verdict.reason;
    if (model?.info) {
      e.step = model.step;
      e.totalSteps = model.info.total_steps;
      e.stepsPerSecond = model.stepsPerSecond();
      e.method = model.info.method;
      e.tiers = model.info.tiers;
      e.maxResponseTokens = model.info.max_response_tokens;
      e.config = model.info.config;
      e.pid = model.info.pid;
      e.endReason = model.end?.reason;
    }
    return e;
  }

  private scheduleChange(): void {
    if (this.disposed) return;
    this.changeTimer ??= setTimeout(() => {
      this.changeTimer = undefined;
      if (!this.disposed) this.changed.fire();
    }, CHANGE_DEBOUNCE_MS);
  }

  /** A status that changed with no event to tell (a trainer's process is gone): re-read and tell. */
  private checkLiveness(): void {
    for (const e of this.entries()) {
      const was = this.shown.get(e.dir);
      if (was !== undefined && was !== e.status) void this.refreshOne(e.dir);
    }
  }

  private startWatching(): void {
    this.stopWatching();
    const dir = this.runsDir;
    if (!dir) return;
    this.tryWatch(dir);
    // The poll compares folder names only (cheap); a change re-lists. Without a watcher it also
    // retries the watch, so a runs folder created later is watched from then on.
    const poll = async () => {
      if (this.disposed || this.runsDir !== dir) return;
      let names: string[] = [];
      try {
        names = (await readdir(dir)).filter((n) => !n.startsWith('.')).sort();
      } catch {
        names = [];
      }
      const joined = names.join('\n');
      if (joined !== this.lastNames) {
        this.lastNames = joined;
        void this.refresh();
      } else {
        // a folder that was not a run yet (created before its files): look again, one by one
        const known = new Set([...this.summaries.values()].map((x) => x.id));
        for (const n of names) if (!known.has(n)) void this.refreshOne(join(dir, n));
      }
      if (!this.watcher && this.runsDir === dir) this.tryWatch(dir);
    };
    this.pollTimer = setInterval(() => void poll(), this.watcher ? POLL_MS : POLL_NO_WATCHER_MS);
  }

  private tryWatch(dir: string): void {
    if (this.watcher) return;
    let w: FSWatcher;
    try {
      w = watch(dir, () => {
        if (this.watchTimer) clearTimeout(this.watchTimer);
        this.watchTimer = setTimeout(() => void this.refresh(), WATCH_DEBOUNCE_MS);
      });
    } catch {
      return; // no folder yet: the poll retries
    }
    w.on('error', () => {
      w.close();
      if (this.watcher === w) this.watcher = undefined;
    });
    this.watcher = w;
  }

  private stopWatching(): void {
    this.watcher?.close();
    this.watcher = undefined;
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.watchTimer) clearTimeout(this.watchTimer);
    this.pollTimer = this.watchTimer = undefined;
  }
}
