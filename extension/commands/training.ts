// Start, stop and resume training runs. Every process goes through the supervisor (startTraining /
// resumeTraining: no shell, its own process group); nothing starts in an untrusted workspace.
// Commands never wait on a notification's buttons, so `executeCommand` resolves when the work is done
// (with a small result object, which the extension-host tests use).
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, join, relative, resolve } from 'node:path';
import * as vscode from 'vscode';
import { isPidAlive } from '../runs';
import { childEnd } from '../runs/judge';
import { readRunMarks } from '../runs/runIndex';
import {
  InvalidConfigError, liveTrainerPid, resumeTraining, StartCancelled, startTraining, TrainerUnavailableError, validateConfig,
  type AskProcesses, type ValidationResult,
} from '../trainer';
import { builtInConfigUri, findWorkspaceConfigs } from '../host/configs';
import { defaultConfigSetting, runsDirectory, workspaceFolder, type Host } from '../host/host';
import { showTrainerUnavailable } from '../host/python';
import { warnIfOutdated } from './setup';
import type { RunEntry } from '../host/runRegistry';
import { pickRun, type RunArg } from './pick';

export interface StartResult {
  runDir?: string;
  pid?: number;
}

export interface StopSummary {
  runDir: string;
  status?: 'finished' | 'stopped' | 'failed';
  step?: number;
  /** Absolute path of the checkpoint run_end names, or null. */
  checkpoint: string | null;
  checkpointWritten: boolean;
}

const RUN_DIR_WAIT_MS = 180_000;

/** Restricted Mode: say why nothing starts, offer the trust editor. Never spawns anything. */
export function refuseUntrusted(what: string): void {
  void vscode.window.showWarningMessage(
    `HBPO: this workspace is in Restricted Mode, so HBPO Studio does not ${what}: the trainer runs Python ` +
      `with this workspace's configs and data. Trust the workspace to train; runs can still be browsed.`,
    'Manage Workspace Trust',
  ).then((choice) => choice && vscode.commands.executeCommand('workbench.trust.manage'));
}

function noFolder(): void {
  void vscode.window.showErrorMessage('HBPO: open a folder first. The trainer runs in the workspace folder and writes its runs there.');
}

/** `python -m hbpo validate` with the same run.dir override Start uses, for re-checks on save. */
export async function validateForStart(host: Host, uri: vscode.Uri): Promise<ValidationResult | undefined> {
  if (!vscode.workspace.isTrusted) return undefined;
  const folder = workspaceFolder();
  const runsDir = host.registry.directory ?? runsDirectory();
  const { python } = await host.python.resolve(folder);
  const overrides = runsDir ? [`run.dir=${JSON.stringify(runsDir)}`] : [];
  return validateConfig(python, uri.fsPath, overrides, { cwd: folder?.uri.fsPath });
}

interface ConfigPick extends vscode.QuickPickItem {
  uri?: vscode.Uri;
  create?: boolean;
}

/** The quick pick: hbpo.defaultConfig, the built-in default, the workspace's configs, "new config". */
async function pickConfig(host: Host): Promise<vscode.Uri | 'new' | undefined> {
  const folder = workspaceFolder();
  const items = (async (): Promise<ConfigPick[]> => {
    const rel = (u: vscode.Uri) => (folder ? relative(folder.uri.fsPath, u.fsPath) : u.fsPath);
    const found = await findWorkspaceConfigs(host.registry.directory ?? runsDirectory());
    const configured = defaultConfigSetting();
    const out: ConfigPick[] = [];
    if (configured) {
      out.push({ label: `$(star-full) ${basename(configured.fsPath)}`, description: `${rel(configured)} · hbpo.defaultConfig`, uri: configured });
    }
    out.push({
      label: '$(package) Built-in default',
      description: 'HBPO on the testbed, sized for a CPU',
      detail: 'tiers 32/64/128/160 of 256 tokens, 40 steps; the first run builds the testbed base model (minutes)',
      uri: builtInConfigUri(host.ctx),
    });
    const workspace = found.filter((u) => u.fsPath !== configured?.fsPath);
    if (workspace.length > 0) out.push({ label: 'Workspace configs', kind: vscode.QuickPickItemKind.Separator });
    for (const u of workspace) out.push({ label: `$(file) ${basename(u.fsPath)}`, description: rel(u), uri: u });
    out.push({ label: '', kind: vscode.QuickPickItemKind.Separator });
    out.push({ label: '$(new-file) New config from the built-in default…', description: 'copy it into the workspace to edit', create: true });
    return out;
  })();
  const picked = await vscode.window.showQuickPick(items, {
    title: 'HBPO: Start Training', placeHolder: 'Pick a training config', matchOnDescription: true, ignoreFocusOut: false,
  });
  if (!picked) return undefined;
  return picked.create ? 'new' : picked.uri;
}

function toUri(arg: vscode.Uri | string, folder: vscode.WorkspaceFolder): vscode.Uri {
  return typeof arg === 'string' ? vscode.Uri.file(resolve(folder.uri.fsPath, arg)) : arg;
}

/** HBPO: Start Training. `arg`: a config file (explorer menu, tests); otherwise a quick pick. */
export async function startTrainingCommand(host: Host, arg?: vscode.Uri | string): Promise<StartResult | undefined> {
  if (!vscode.workspace.isTrusted) return void refuseUntrusted('start a training run');
  const folder = workspaceFolder();
  if (!folder) return void noFolder();
  const choice = arg !== undefined && (typeof arg === 'string' || arg instanceof vscode.Uri) ? toUri(arg, folder) : await pickConfig(host);
  if (!choice) return undefined;
  if (choice === 'new') {
    await newConfigCommand(host);
    return undefined;
  }
  return launch(host, folder, choice);
}

/**
 * How many processes a new run trains with: `hbpo.training.processes` when the user set it (at any
 * level), else asked when the trainer sees several GPUs (startTraining asks only then).
 */
function processesSetting(folder: vscode.WorkspaceFolder): number | AskProcesses {
  const setting = vscode.workspace.getConfiguration('hbpo', folder.uri).inspect<number>('training.processes');
  const n = setting?.workspaceFolderValue ?? setting?.workspaceValue ?? setting?.globalValue;
  if (n === undefined) return askProcesses;
  return Number.isInteger(n) && n >= 1 ? n : 1;
}

const askProcesses: AskProcesses = async (choices, gpus) => {
  const items = choices.map((n) => ({
    label: n === 1 ? '1 process' : `${n} processes`,
    description: n === 1 ? 'on one GPU' : n === gpus ? `one GPU each: all ${gpus} (torchrun)` : `one GPU each (torchrun)`,
    n,
  }));
  const picked = await vscode.window.showQuickPick(items, {
    title: `HBPO: ${gpus} GPUs are visible. Train with how many processes?`,
    placeHolder: 'Counts that share the step\'s queries evenly; set hbpo.training.processes to stop asking',
    ignoreFocusOut: true,
  });
  return picked?.n;
};

async function launch(host: Host, folder: vscode.WorkspaceFolder, config: vscode.Uri): Promise<StartResult | undefined> {
  const open = vscode.workspace.textDocuments.find((d) => d.uri.toString() === config.toString());
  if (open?.isDirty) await open.save();
  const label = basename(config.fsPath);
  const runsDir = host.registry.directory ?? runsDirectory();
  const { python, source } = await host.python.resolve(folder);
  if (source === 'managed') warnIfOutdated(host);
  const session = host.sessions.prepare(label);
  let proc;
  try {
    proc = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `HBPO: checking ${label}…` },
      () => startTraining({ python, cwd: folder.uri.fsPath, configPath: config.fsPath, runsDir, processes: processesSetting(folder), ...session.callbacks }),
    );
  } catch (err) {
    if (err instanceof StartCancelled) return undefined;
    // Set-up fixes a missing trainer; then this start goes on.
    await reportStartError(host, config, err, () => launch(host, folder, config));
    return undefined;
  }
  host.diagnostics.clear(config);
  session.adopt(proc);
  const runDir = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Window, title: 'HBPO: starting the trainer' },
    () => Promise.race([proc.runDirKnown, new Promise<undefined>((r) => setTimeout(r, RUN_DIR_WAIT_MS))]),
  );
  if (runDir) {
    await host.registry.refresh();
    await revealRun(host, runDir);
  }
  return { runDir, pid: proc.pid };
}

async function reportStartError(host: Host, config: vscode.Uri, err: unknown, retry: () => unknown): Promise<void> {
  if (err instanceof InvalidConfigError) {
    await host.diagnostics.publish(config, err.problems);
    const first = host.diagnostics.collection.get(config)?.[0];
    try {
      const editor = await vscode.window.showTextDocument(config, { preview: false });
      if (first) {
        editor.selection = new vscode.Selection(first.range.start, first.range.start);
        editor.revealRange(first.range, vscode.TextEditorRevealType.InCenterIfOutsideViewport);
      }
    } catch {
      // not a text file we can show: the Problems view still lists it
    }
    const n = err.problems.length;
    void vscode.window.showErrorMessage(
      `HBPO: ${basename(config.fsPath)} has ${n} problem${n === 1 ? '' : 's'}; nothing was started. ${err.problems[0] ?? ''}`,
      'Show Problems',
    ).then((c) => c && vscode.commands.executeCommand('workbench.actions.view.problems'));
  } else if (err instanceof TrainerUnavailableError) {
    void showTrainerUnavailable(err.message, err.kind, retry);
  } else {
    void vscode.window.showErrorMessage(`HBPO: could not start the trainer: ${(err as Error).message ?? String(err)}`);
  }
}

async function revealRun(host: Host, runDir: string): Promise<void> {
  const entry = host.registry.get(runDir);
  if (!entry || !host.runsView) return;
  try {
    await host.runsView.reveal(entry, { select: true, focus: false });
  } catch {
    // the view is not resolved yet
  }
}

/** HBPO: New Training Config: a copy of the built-in default in the workspace, opened for editing. */
export async function newConfigCommand(host: Host, name?: string): Promise<vscode.Uri | undefined> {
  const folder = workspaceFolder();
  if (!folder) return void noFolder();
  const fileName = name ?? (await vscode.window.showInputBox({
    title: 'HBPO: New Training Config',
    prompt: 'File name for the new config, relative to the workspace folder',
    value: 'hbpo-config.yaml',
    valueSelection: [0, 'hbpo-config'.length],
    validateInput: (v) => {
      if (!v.trim()) return 'Enter a file name';
      if (!/\.(ya?ml)$/i.test(v.trim())) return 'Use a .yaml file name';
      return existsSync(join(folder.uri.fsPath, v.trim())) ? `${v.trim()} already exists` : undefined;
    },
  }));
  if (!fileName) return undefined;
  const target = vscode.Uri.file(resolve(folder.uri.fsPath, fileName.trim()));
  if (existsSync(target.fsPath)) {
    void vscode.window.showErrorMessage(`HBPO: ${fileName} already exists.`);
    return undefined;
  }
  const text = await readFile(builtInConfigUri(host.ctx).fsPath, 'utf8');
  await vscode.workspace.fs.writeFile(target, Buffer.from(text, 'utf8'));
  await vscode.window.showTextDocument(target, { preview: false });
  void vscode.window.showInformationMessage(
    `HBPO: created ${fileName.trim()} from the built-in default. Edit it, then start training with it.`, 'Start Training',
  ).then((c) => c && vscode.commands.executeCommand('hbpo.startTraining', target));
  return target;
}

const isLive = (r: RunEntry) => r.status === 'running' || (r.owned && r.status === 'pending');

/** HBPO: Stop Training: SIGINT, the trainer checkpoints and writes run_end "stopped". */
export async function stopTrainingCommand(host: Host, arg?: RunArg): Promise<StopSummary | undefined> {
  const run = await pickRun(host, arg, isLive, 'Stop which run?', 'no run is training.');
  if (!run) return undefined;
  const summary = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `HBPO: stopping ${run.id} (writing a final checkpoint)…` },
    async (): Promise<StopSummary | undefined> => {
      const own = await host.sessions.stop(run.dir);
      if (own) {
        return { runDir: run.dir, status: own.runEnd?.status, step: own.runEnd?.step, checkpoint: own.checkpoint, checkpointWritten: own.checkpointWritten };
      }
      return stopExternal(run);
    },
  );
  await host.registry.refresh();
  if (!summary) {
    void vscode.window.showInformationMessage(`HBPO: ${run.id} is not training any more.`);
    return undefined;
  }
  const where = summary.checkpoint ? `; checkpoint ${relative(run.dir, summary.checkpoint)}` : '';
  if (summary.status === 'stopped' || summary.status === 'finished') {
    void vscode.window.showInformationMessage(`HBPO: ${run.id} ${summary.status} at step ${summary.step ?? '?'}${where}.`);
  } else {
    void vscode.window.showWarningMessage(`HBPO: ${run.id} ended without a clean stop (${summary.status ?? 'no run_end'}).`);
  }
  return summary;
}

/**
 * Stop a trainer this window did not start (it was running before a reload, or started from a
 * terminal): the same signals TrainerProcess.stop sends, by pid, watching the run folder.
 */
async function stopExternal(run: RunEntry): Promise<StopSummary | undefined> {
  const pid = await liveTrainerPid(run.dir);
  if (pid === undefined) return undefined;
  const since = Date.now() / 1000 - 5;
  const send = (sig: NodeJS.Signals, target = pid) => {
    try {
      process.kill(target, sig);
    } catch {
      // gone
    }
  };
  send('SIGINT');
  const started = Date.now();
  let escalated = 0;
  while (isPidAlive(pid)) {
    await new Promise((r) => setTimeout(r, 300));
    const waited = Date.now() - started;
    if (escalated === 0 && waited > 60_000) send('SIGTERM'), (escalated = 1);
    if (escalated === 1 && waited > 120_000) send('SIGKILL', -pid), (escalated = 2);
    if (waited > 130_000) break;
  }
  const { latest } = await readRunMarks(run.dir);
  const end = latest?.type === 'run_end' && childEnd({ since }, latest) ? latest : undefined;
  const checkpoint = end?.checkpoint ? resolve(run.dir, end.checkpoint) : null;
  return { runDir: run.dir, status: end?.status, step: end?.step, checkpoint, checkpointWritten: checkpoint !== null && existsSync(checkpoint) };
}

/** HBPO: Resume Run: continue a stopped, failed or stale run from its latest checkpoint. */
export async function resumeRunCommand(host: Host, arg?: RunArg): Promise<StartResult | undefined> {
  if (!vscode.workspace.isTrusted) return void refuseUntrusted('resume a training run');
  const run = await pickRun(host, arg, (r) => r.status === 'stopped' || r.status === 'failed' || r.status === 'stale',
    'Resume which run?', 'no stopped, failed or stale run to resume.');
  if (!run) return undefined;
  if (run.status === 'running' || run.status === 'pending') {
    void vscode.window.showInformationMessage(`HBPO: ${run.id} is still training.`);
    return undefined;
  }
  const folder = workspaceFolder();
  const { python } = await host.python.resolve(folder);
  const check = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Window, title: 'HBPO: checking the trainer' },
    () => host.python.check(python, folder?.uri.fsPath),
  );
  if (!check.ok) return void showTrainerUnavailable(check.message, check.kind, () => resumeRunCommand(host, run.dir));
  const session = host.sessions.prepare(run.id);
  let proc;
  try {
    // A resume trains with as many processes as the run did (its checkpoints hold that many RNG states).
    const marks = await readRunMarks(run.dir);
    const processes = (marks.latest?.type === 'run_start' ? marks.latest : marks.first)?.world_size ?? 1;
    proc = await resumeTraining(run.dir, { python, cwd: folder?.uri.fsPath ?? run.dir, processes, ...session.callbacks });
  } catch (err) {
    if (err instanceof InvalidConfigError) void vscode.window.showErrorMessage(`HBPO: cannot resume ${run.id}: ${err.problems.join('; ')}`);
    else if (err instanceof TrainerUnavailableError) void showTrainerUnavailable(err.message, err.kind, () => resumeRunCommand(host, run.dir));
    else void vscode.window.showErrorMessage(`HBPO: could not resume ${run.id}: ${(err as Error).message}`);
    return undefined;
  }
  session.adopt(proc);
  host.registry.clearFailed(run.dir);
  await host.registry.refresh();
  return { runDir: run.dir, pid: proc.pid };
}
