// Which Python runs the trainer: the `hbpo.pythonPath` setting, else the environment HBPO: Set Up
// Trainer Environment made, else the Python extension's active environment (through
// @vscode/python-extension, only when that extension is installed), else the supervisor's fallbacks
// (<workspace>/.venv, python3). A failed check says how to fix it, with buttons (set-up among them).
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { PythonExtension } from '@vscode/python-extension';
import * as vscode from 'vscode';
import {
  checkTrainer, managedPython, resolveInterpreter, type FailureKind, type ResolvedInterpreter, type TrainerCheck,
} from '../trainer';

const PYTHON_EXTENSION_ID = 'ms-python.python';

export class PythonResolver implements vscode.Disposable {
  private readonly checks = new Map<string, TrainerCheck>(); // only successes are kept
  private readonly disposables: vscode.Disposable[] = [];
  private subscribed = false;

  /** `managedEnvDir`: where HBPO: Set Up Trainer Environment puts its environment. */
  constructor(readonly managedEnvDir: string) {
    this.disposables.push(vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('hbpo.pythonPath')) this.checks.clear();
    }));
  }

  /** The interpreter to use for `folder` (the first workspace folder by default). */
  async resolve(folder = vscode.workspace.workspaceFolders?.[0]): Promise<ResolvedInterpreter> {
    const setting = vscode.workspace.getConfiguration('hbpo', folder?.uri).get<string>('pythonPath');
    const managed = setting?.trim() ? undefined : managedPython(this.managedEnvDir);
    const fromExtension = setting?.trim() || managed ? undefined : await this.fromPythonExtension(folder);
    return resolveInterpreter(setting, fromExtension, folder?.uri.fsPath, { home: homedir(), exists: existsSync, managed });
  }

  /** The Python extension's selected interpreter, if that extension is installed: a base for the set-up. */
  pythonExtensionInterpreter(folder = vscode.workspace.workspaceFolders?.[0]): Promise<string | undefined> {
    return this.fromPythonExtension(folder);
  }

  /** Forget the remembered checks (a set-up just changed what is installed). */
  forgetChecks(): void {
    this.checks.clear();
  }

  /** `import hbpo` in that interpreter; a success is remembered for the session. */
  async check(python: string, cwd?: string): Promise<TrainerCheck> {
    const known = this.checks.get(python);
    if (known) return known;
    const result = await checkTrainer(python, { cwd });
    if (result.ok) this.checks.set(python, result);
    return result;
  }

  dispose(): void {
    this.disposables.forEach((d) => d.dispose());
  }

  private async fromPythonExtension(folder: vscode.WorkspaceFolder | undefined): Promise<string | undefined> {
    if (!vscode.extensions.getExtension(PYTHON_EXTENSION_ID)) return undefined;
    try {
      const api = await PythonExtension.api();
      if (!this.subscribed) {
        this.subscribed = true;
        this.disposables.push(api.environments.onDidChangeActiveEnvironmentPath(() => this.checks.clear()));
      }
      const active = api.environments.getActiveEnvironmentPath(folder?.uri);
      const resolved = await api.environments.resolveEnvironment(active);
      return resolved?.executable.uri?.fsPath ?? active.path;
    } catch {
      return undefined; // the Python extension failed to activate: use the fallbacks
    }
  }
}

/** Failures that a set-up of the trainer environment fixes. */
const SETUP_FIXES: readonly FailureKind[] = ['interpreter-missing', 'package-missing', 'dependency-missing'];

/**
 * An error notification that says how to fix a missing interpreter or trainer package. When the
 * set-up can fix it, the first button sets the trainer up and then calls `then` (Start goes on).
 */
export async function showTrainerUnavailable(message: string, kind?: FailureKind, then?: () => unknown): Promise<void> {
  const setUp = 'Set Up Trainer Environment';
  const openSettings = 'Open Settings';
  const selectInterpreter = 'Select Interpreter';
  const buttons = [
    ...(kind && SETUP_FIXES.includes(kind) ? [setUp] : []),
    openSettings,
    ...(vscode.extensions.getExtension(PYTHON_EXTENSION_ID) ? [selectInterpreter] : []),
  ];
  const choice = await vscode.window.showErrorMessage(`HBPO: ${message}`, ...buttons);
  if (choice === setUp) {
    const done = await vscode.commands.executeCommand<{ python: string } | undefined>('hbpo.setupTrainer');
    if (done) await then?.();
  } else if (choice === openSettings) await vscode.commands.executeCommand('workbench.action.openSettings', 'hbpo.pythonPath');
  else if (choice === selectInterpreter) await vscode.commands.executeCommand('python.setInterpreter');
}
