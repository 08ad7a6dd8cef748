// What the commands share: the run registry, this window's trainer sessions, the interpreter
// resolver, the config diagnostics, the Runs view, and the settings read the same way everywhere.
import { homedir } from 'node:os';
import * as vscode from 'vscode';
import type { ConfigDiagnostics } from './configs';
import { expandFolderSetting } from './pure';
import type { PythonResolver } from './python';
import type { RunEntry, RunRegistry } from './runRegistry';
import type { TrainerSessions } from './sessions';

export interface Host {
  ctx: vscode.ExtensionContext;
  registry: RunRegistry;
  sessions: TrainerSessions;
  python: PythonResolver;
  diagnostics: ConfigDiagnostics;
  runsView?: vscode.TreeView<RunEntry>;
}

/** The folder the trainer runs in and relative settings resolve against: the first workspace folder. */
export function workspaceFolder(): vscode.WorkspaceFolder | undefined {
  return vscode.workspace.workspaceFolders?.[0];
}

/** `hbpo.runsDirectory`, absolute; undefined without a workspace folder (unless the setting is absolute). */
export function runsDirectory(): string | undefined {
  const folder = workspaceFolder();
  const value = vscode.workspace.getConfiguration('hbpo', folder?.uri).get<string>('runsDirectory') ?? 'runs';
  return expandFolderSetting(value, folder?.uri.fsPath, homedir());
}

/** `hbpo.defaultConfig`, absolute, when set. */
export function defaultConfigSetting(): vscode.Uri | undefined {
  const folder = workspaceFolder();
  const value = vscode.workspace.getConfiguration('hbpo', folder?.uri).get<string>('defaultConfig')?.trim();
  if (!value) return undefined;
  const path = expandFolderSetting(value, folder?.uri.fsPath, homedir());
  return path ? vscode.Uri.file(path) : undefined;
}
