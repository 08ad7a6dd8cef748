// Commands that look at a run: its dashboard, rollout inspector and reward explorer (the panels),
// the trainer's output, and its folder.
import * as vscode from 'vscode';
import { openDashboard, openRewardExplorer, openRolloutInspector, type RewardParamsInput } from '../panels';
import { paramsOfRun } from '../runs/runReward';
import { workspaceFolder, type Host } from '../host/host';
import { isInside } from '../host/pure';
import { pickRun, runFromArg, type RunArg } from './pick';

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
