// Commands that look at a run: its dashboard, rollout inspector and reward explorer (the panels),
// the trainer's output, and its folder.
import * as vscode from 'vscode';
import { openDashboard, openRewardExplorer, openRolloutInspector, type RewardParamsInput } from '../panels';
import { paramsOfRun } from '../runs/runReward';
import { workspaceFolder, type Host } from '../host/host';
import { isInside } from '../host/pure';
import { pickRun, runFromArg, type RunArg } from './pick';
import { statSync } from 'node:fs';
import { TrainerGrader } from '../compare/grader';
import { join } from 'node:path';
import { detectSource, EXTERNAL_RUNS_DIR, filePerStep, isRunFolder, loadTokenizer, openExternalRun, runStartConfig, SOURCE_LABELS, SourceFollower, type ConvertOptions, type SourceKind, type TokenCounter } from '../runs/sources';

/** Source folders opened in this window, followed while their tool writes on (verl, TRL). */
const followers = new Map<string, SourceFollower>();

const any = () => true;

function panelError(what: string, err: unknown): void {
  void vscode.window.showErrorMessage(`HBPO: could not open the ${what}: ${(err as Error)?.message ?? String(err)}`);
}

/** HBPO: Open Run Dashboard. */
export async function openDashboardCommand(host: Host, arg?: RunArg): Promise<boolean> {
  const run = await pickRun(host, arg, any, 'Open the dashboard of which run?', `no runs in ${host.registry.directory ?? 'the runs folder'} yet.`);
  if (!run) return false;
  try {
    openDashboard(host.ctx, await host.registry.handle(run, { wait: false }));
    return true;
  } catch (err) {
    panelError('run dashboard', err);
    return false;
  }
}

/** HBPO: Open Rollout Inspector; `target` (step, query) from callers such as the dashboard or tests. */
export async function openRolloutInspectorCommand(host: Host, arg?: RunArg, target?: { step?: number; queryIndex?: number }): Promise<boolean> {
  const run = await pickRun(host, arg, any, 'Inspect the rollouts of which run?', `no runs in ${host.registry.directory ?? 'the runs folder'} yet.`);
  if (!run) return false;
  try {
    openRolloutInspector(host.ctx, await host.registry.handle(run), target);
    return true;
  } catch (err) {
    panelError('rollout inspector', err);
    return false;
  }
}

/** HBPO: Open Reward Explorer: seeded with the run's tiers and reward when invoked on a run. */
export async function openRewardExplorerCommand(host: Host, arg?: RunArg): Promise<boolean> {
  const run = runFromArg(host, arg);
  let params: RewardParamsInput | undefined;
  if (run) {
    // The run's resolved config (run_start) is in its tailer's model; the summary alone lacks it.
    const info = (await host.registry.handle(run)).tailer.model.info;
    if (info) params = paramsOfRun(info);
  }
  try {
    openRewardExplorer(host.ctx, params);
    return true;
  } catch (err) {
    panelError('reward explorer', err);
    return false;
  }
}

/** HBPO: Show Trainer Output: the run's stdout/stderr, or its log events when another window started it. */
export async function showTrainerOutputCommand(host: Host, arg?: RunArg): Promise<boolean> {
  const run = await pickRun(host, arg, any, 'Show the trainer output of which run?', `no runs in ${host.registry.directory ?? 'the runs folder'} yet.`);
  if (!run) return false;
  const { channel, existed } = host.sessions.channel(run.dir, run.id);
  if (!existed) {
    const handle = await host.registry.handle(run);
    channel.appendLine(`[HBPO Studio] ${run.id} was not started from this window, so its stdout/stderr were not captured.`);
    channel.appendLine(`[HBPO Studio] Its log events from ${handle.tailer.eventsPath}:`);
    for (const log of handle.tailer.model.logs) {
      channel.appendLine(`${new Date(log.time * 1000).toISOString()} step ${log.step} ${log.level}: ${log.message}`);
    }
  }
  channel.show(true);
  return true;
}

/** HBPO: Reveal Run Folder: in the Explorer when it is in the workspace, else in the OS file manager. */
export async function revealRunFolderCommand(host: Host, arg?: RunArg): Promise<boolean> {
  const run = await pickRun(host, arg, any, 'Reveal the folder of which run?', `no runs in ${host.registry.directory ?? 'the runs folder'} yet.`);
  if (!run) return false;
  const uri = vscode.Uri.file(run.dir);
  const folder = workspaceFolder();
  try {
    if (folder && isInside(run.dir, folder.uri.fsPath)) {
      await vscode.commands.executeCommand('revealInExplorer', uri);
    } else {
      await vscode.commands.executeCommand('revealFileInOS', uri);
    }
    return true;
  } catch {
    void vscode.window.showInformationMessage(`HBPO: the run folder is ${run.dir}`, 'Copy Path')
      .then((c) => c && vscode.env.clipboard.writeText(run.dir));
    return false;
  }
}

/** How the hbpo.external settings say to read a source (no grader: that is Open Run...'s alone). */
async function readingOptions(): Promise<Pick<ConvertOptions, 'tokenizer' | 'budgetPattern' | 'maxResponseTokens'>> {
  const cfg = vscode.workspace.getConfiguration('hbpo.external', workspaceFolder()?.uri);
  const tokPath = cfg.get<string>('tokenizer')?.trim();
  let tokenizer: TokenCounter | undefined;
  if (tokPath) {
    try {
      tokenizer = await loadTokenizer(tokPath);
    } catch (err) {
      void vscode.window.showWarningMessage(`HBPO: the tokenizer ${tokPath} could not be read (${(err as Error).message}); token counts are estimates.`);
    }
  }
  return { tokenizer, budgetPattern: cfg.get<string>('budgetPattern')?.trim() || undefined, maxResponseTokens: cfg.get<number>('maxResponseTokens') || undefined };
}

/** Follow a verl/TRL folder while its tool writes on: new step files are read and appended to `dir`. */
function follow(host: Host, path: string, kind: SourceKind, dir: string, options: Pick<ConvertOptions, 'tokenizer' | 'budgetPattern' | 'maxResponseTokens'>): void {
  if (!filePerStep(kind) || followers.has(path) || !statSync(path, { throwIfNoEntry: false })?.isDirectory()) return;
  // no grader here: it was for Open Run...'s read; a later step's samples carry verl's score / TRL's columns
  const follower = new SourceFollower(path, host.ctx.globalStorageUri.fsPath, {
    kind, ...options, pollMs: 5000,
    onUpdate: () => void host.registry.addExternal(dir, { remember: false }),
  });
  followers.set(path, follower);
  host.ctx.subscriptions.push({ dispose: () => (follower.dispose(), followers.delete(path)) });
}

/**
 * After a reload: the verl and TRL folders this workspace had open are followed again, and what
 * they gained while no window followed them is read first (nothing, when no file changed).
 */
export async function followOpenedSources(host: Host, dirs: readonly string[]): Promise<void> {
  const storage = host.ctx.globalStorageUri.fsPath;
  let options: Awaited<ReturnType<typeof readingOptions>> | undefined;
  for (const dir of dirs) {
    const source = (await runStartConfig(dir))?.source as { kind?: unknown; path?: unknown } | undefined;
    const kind = source?.kind as SourceKind | undefined;
    const path = source?.path;
    if (!kind || !filePerStep(kind) || typeof path !== 'string' || !isInside(dir, join(storage, EXTERNAL_RUNS_DIR))) continue;
    if (!statSync(path, { throwIfNoEntry: false })?.isDirectory() || followers.has(path)) continue;
    options ??= await readingOptions();
    try {
      const opened = await openExternalRun(path, storage, { kind, ...options });
      void host.registry.addExternal(opened.dir, { remember: false });
      follow(host, path, kind, opened.dir, options);
    } catch { /* the folder is no longer a source: the run stays as it was read */ }
  }
}

/**
 * HBPO: Open Run...: a run folder from anywhere, or a run trained or evaluated elsewhere (a verl
 * dump folder, TRL's completions parquet, lm-evaluation-harness samples, SkyThought results). A
 * foreign run is read into a run folder in the extension's storage (nothing is written beside the
 * user's files) and shows in the Runs view with its source's badge.
 */
export async function openRunCommand(host: Host, arg?: vscode.Uri | string): Promise<boolean> {
  let path = typeof arg === 'string' ? arg : arg?.fsPath;
  if (!path) {
    const picked = await vscode.window.showOpenDialog({
      title: 'Open a run: an HBPO run folder, a verl dump folder, TRL completions, lm-eval samples or SkyThought results',
      canSelectFiles: true, canSelectFolders: true, canSelectMany: false,
    });
    path = picked?.[0]?.fsPath;
  }
  if (!path) return false;
  try {
    if (isRunFolder(path)) {
      const entry = await host.registry.addExternal(path);
      if (!entry) throw new Error('not a run folder');
      return openDashboardCommand(host, entry);
    }
    const kind = await detectSource(path);
    if (!kind) {
      void vscode.window.showErrorMessage(`HBPO: ${path} is not a run folder, a verl dump, TRL completions, lm-eval samples or SkyThought results.`);
      return false;
    }
    const { tokenizer, budgetPattern: pattern, maxResponseTokens: lMax } = await readingOptions();
    let grader: TrainerGrader | undefined;
    if (vscode.workspace.isTrusted) {
      const folder = workspaceFolder();
      const { python } = await host.python.resolve(folder);
      if ((await host.python.check(python, folder?.uri.fsPath)).ok) grader = new TrainerGrader(python, folder?.uri.fsPath);
    }
    const storage = host.ctx.globalStorageUri.fsPath;
    const label = SOURCE_LABELS[kind];
    // The dashboard opens once the first file's steps are in the run folder; the rest is read on
    // behind a progress notification and reaches the dashboard as a live run's steps do.
    let started!: (dir: string) => void;
    let shown = false;
    const firstSteps = new Promise<string>((resolve) => (started = resolve)).then((d) => ((shown = true), d));
    const reading = Promise.resolve(vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `HBPO: reading ${label} run` },
      (progress) => openExternalRun(path, storage, {
        kind, tokenizer, budgetPattern: pattern, maxResponseTokens: lMax, onStarted: started,
        onProgress: (done, total) => total > 1 && progress.report({ message: `${done} of ${total} files`, increment: 100 / total }),
        grade: grader ? (items) => Promise.all(items.map((i) => grader.grade(i.text, i.groundTruth).then((v) => v.correct, () => null))) : undefined,
      }),
    )).finally(() => grader?.dispose());
    const dir = await Promise.race([firstSteps, reading.then((o) => o.dir)]);
    const entry = await host.registry.addExternal(dir);
    if (!entry) throw new Error('the converted run could not be listed');
    void reading.then((opened) => {
      void host.registry.addExternal(opened.dir, { remember: false }); // its status now: finished
      follow(host, path, kind, opened.dir, { tokenizer, budgetPattern: pattern, maxResponseTokens: lMax });
      const est = opened.tokens === 'estimate' ? ' Token counts are estimates (set hbpo.external.tokenizer to the model\'s tokenizer.json).' : '';
      if (opened.issues.length) {
        const first = opened.issues[0];
        const where = first.line !== undefined ? ` line ${first.line}` : first.row !== undefined ? ` row ${first.row}` : '';
        void vscode.window.showWarningMessage(
          `HBPO: ${label} run: ${opened.rollouts} rollouts read; ${opened.issues.length} fields missing or malformed (first: ${first.file}${where}: ${first.field}: ${first.message}); all are in Show Trainer Output.${est}`,
        );
      } else if (est) {
        void vscode.window.showInformationMessage(`HBPO: ${label} run: ${opened.rollouts} rollouts read.${est}`);
      }
    }, (err: Error) => {
      if (shown) void vscode.window.showErrorMessage(`HBPO: reading ${path} stopped: ${err?.message ?? String(err)}`);
    });
    return openDashboardCommand(host, entry);
  } catch (err) {
    void vscode.window.showErrorMessage(`HBPO: could not open ${path}: ${(err as Error)?.message ?? String(err)}`);
    return false;
  }
}
