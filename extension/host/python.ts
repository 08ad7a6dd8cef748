// Which Python runs the trainer: the `hbpo.pythonPath` setting, else the Python extension's active
// environment (through @vscode/python-extension, only when that extension is installed), else the
// supervisor's fallbacks (<workspace>/.venv, python3). A failed check says how to fix it, with buttons.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { PythonExtension } from '@vscode/python-extension';
import * as vscode from 'vscode';
import { checkTrainer, resolveInterpreter, type ResolvedInterpreter, type TrainerCheck } from '../trainer';

const PYTHON_EXTENSION_ID = 'ms-python.python';

export class PythonResolver implements vscode.Disposable {
  private readonly checks = new Map<string, TrainerCheck>(); // only successes are kept
  private readonly disposables: vscode.Disposable[] = [];
  private subscribed = false;

  constructor() {
    this.disposables.push(vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('hbpo.pythonPath')) this.checks.clear();
    }));
  }

  /** The interpreter to use for `folder` (the first workspace folder by default). */
  async resolve(folder = vscode.workspace.workspaceFolders?.[0]): Promise<ResolvedInterpreter> {
    const setting = vscode.workspace.getConfiguration('hbpo', folder?.uri).get<string>('pythonPath');
    const fromExtension = setting?.trim() ? undefined : await this.fromPythonExtension(folder);
    return resolveInterpreter(setting, fromExtension, folder?.uri.fsPath, { home: homedir(), exists: existsSync });
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

/** An error notification that says how to fix a missing interpreter or trainer package. */
export async function showTrainerUnavailable(message: string): Promise<void> {
  const openSettings = 'Open Settings';
  const selectInterpreter = 'Select Interpreter';
  const buttons = vscode.extensions.getExtension(PYTHON_EXTENSION_ID) ? [openSettings, selectInterpreter] : [openSettings];
  const choice = await vscode.window.showErrorMessage(`HBPO: ${message}`, ...buttons);
  if (choice === openSettings) await vscode.commands.executeCommand('workbench.action.openSettings', 'hbpo.pythonPath');
  else if (choice === selectInterpreter) await vscode.commands.executeCommand('python.setInterpreter');
}
