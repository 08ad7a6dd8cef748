// Which run a command acts on: the tree item it was invoked on, a folder path or name given by a
// caller (tests, other commands), or the user's pick from a quick pick.
import { resolve } from 'node:path';
import * as vscode from 'vscode';
import type { Host } from '../host/host';
import { describeRun } from '../host/pure';
import type { RunEntry } from '../host/runRegistry';

export type RunArg = RunEntry | vscode.Uri | string | { dir?: string; runDir?: string } | undefined;

/** The run an argument names, if it names one the registry knows (re-read, so its status is fresh). */
export function runFromArg(host: Host, arg: RunArg): RunEntry | undefined {
  if (!arg) return undefined;
  let key: string | undefined;
  if (typeof arg === 'string') key = arg;
  else if (arg instanceof vscode.Uri) key = arg.fsPath;
  else if ('dir' in arg && typeof arg.dir === 'string') key = arg.dir;
  else if ('runDir' in arg && typeof arg.runDir === 'string') key = arg.runDir;
  if (!key) return undefined;
  return host.registry.get(key) ?? host.registry.get(resolve(key));
}

/**
 * The run to act on: the argument's, else a quick pick over the runs that match (no pick when
 * exactly one matches).
 */
export async function pickRun(
  host: Host, arg: RunArg, filter: (r: RunEntry) => boolean, placeHolder: string, noneMessage: string,
): Promise<RunEntry | undefined> {
  const fromArg = runFromArg(host, arg);
  if (fromArg) return fromArg;
  if (arg !== undefined) {
    void vscode.window.showWarningMessage(`HBPO: no run ${typeof arg === 'string' ? arg : 'like that'} in ${host.registry.directory ?? 'the runs folder'}.`);
    return undefined;
  }
  const candidates = host.registry.runs().filter(filter);
  if (candidates.length === 0) {
    void vscode.window.showInformationMessage(`HBPO: ${noneMessage}`);
    return undefined;
  }
  if (candidates.length === 1) return candidates[0];
  const picked = await vscode.window.showQuickPick(
    candidates.map((r) => ({ label: r.id, description: describeRun(r), detail: r.method ? `${r.method} · tiers ${r.tiers?.join(', ') ?? '?'}` : undefined, run: r })),
    { placeHolder, matchOnDescription: true },
  );
  return picked?.run;
}
