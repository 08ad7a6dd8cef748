// HBPO: Set Up Trainer Environment. A user who installed the extension has no clone of the repository,
// so no trainer: this makes one, as the Python extension's "Create Environment" does, from what the
// .vsix carries (the `hbpo` wheel and the pinned lock; extension/trainer/environment.ts), in the
// extension's global storage, shared by every workspace. Progress in a cancellable notification, every
// line of uv's or pip's output in the "HBPO Trainer Set-up" channel. Nothing runs in Restricted Mode.
import { mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import * as vscode from 'vscode';
import {
  findBasePython, findBundle, findUv, planSetup, readStamp, runSetup, SetupCancelled, sha256Of, type SetupStamp,
} from '../trainer';
import type { Host } from '../host/host';
import { refuseUntrusted } from './training';

export interface SetupOutcome {
  python: string;
  stamp: SetupStamp;
}

let channel: vscode.OutputChannel | undefined;
let running: Promise<SetupOutcome | undefined> | undefined;
/** Cancels the set-up in progress: its installers run detached, so the window's end must end them. */
let cancelRunning: (() => void) | undefined;

/** Deactivation: end a set-up in progress (its staging folder is removed, nothing else changes). */
export function cancelSetup(): void {
  cancelRunning?.();
}

/** Where the environment lives: one for all workspaces (it is ~3 GB with PyTorch). */
export function managedEnvDir(ctx: vscode.ExtensionContext): string {
  return join(ctx.globalStorageUri.fsPath, 'trainer-env');
}

const warned = new Set<string>();

/**
 * When the set-up environment was made from another lock than this extension carries (the extension
 * was updated), say so once a session and offer to set it up again. It is still used meanwhile.
 */
export function warnIfOutdated(host: Host): void {
  const envDir = managedEnvDir(host.ctx);
  const stamp = readStamp(envDir);
  const bundle = findBundle(host.ctx.extensionUri.fsPath);
  if (!stamp || !bundle || warned.has(envDir) || stamp.lockSha256 === sha256Of(bundle.lock)) return;
  warned.add(envDir);
  void vscode.window.showWarningMessage(
    `HBPO: the trainer environment was set up for hbpo ${stamp.hbpo} with other pinned dependencies than this ` +
    `HBPO Studio (hbpo ${bundle.version}) carries. Set it up again to match.`, 'Set Up Trainer Environment',
  ).then((c) => c && vscode.commands.executeCommand('hbpo.setupTrainer'));
}

/** Resolves with the new interpreter, or undefined when the set-up did not finish (cancelled, failed, refused). */
export function setupTrainerCommand(host: Host): Promise<SetupOutcome | undefined> {
  if (!vscode.workspace.isTrusted) {
    refuseUntrusted('set up the trainer');
    return Promise.resolve(undefined);
  }
  if (running) {
    void vscode.window.showInformationMessage('HBPO: the trainer set-up is already running.');
    return running;
  }
  running = setUp(host).finally(() => {
    running = undefined;
    cancelRunning = undefined;
  });
  return running;
}

async function setUp(host: Host): Promise<SetupOutcome | undefined> {
  const bundle = findBundle(host.ctx.extensionUri.fsPath);
  if (!bundle) {
    void vscode.window.showErrorMessage('HBPO: this build of HBPO Studio carries no trainer (dist/trainer is missing: ' +
      'package it with `npm run package`), so it cannot set one up. Set `hbpo.pythonPath` to an interpreter that has the hbpo package.');
    return undefined;
  }
  channel ??= vscode.window.createOutputChannel('HBPO Trainer Set-up');
  const out = channel;
  const envDir = managedEnvDir(host.ctx);
  const before = readStamp(envDir);
  out.appendLine(`[${new Date().toISOString()}] setting up the HBPO trainer ${bundle.version} in ${envDir}` +
    (before ? ` (replacing the one made ${before.createdAt})` : ''));

  return vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: 'HBPO: setting up the trainer', cancellable: true },
    async (progress, token) => {
      progress.report({ message: 'looking for Python 3.10+ and uv…' });
      const fromExtension = await host.python.pythonExtensionInterpreter();
      const candidates = [...(fromExtension ? [fromExtension] : []), ...(process.platform === 'win32' ? ['python', 'py'] : ['python3', 'python'])];
      const base = await findBasePython(candidates);
      if (!base) {
        out.appendLine(`no Python 3.10+ among: ${candidates.join(', ')}`);
        void vscode.window.showErrorMessage(
          `HBPO: the set-up needs Python 3.10 or newer to make the environment from, and none was found (tried ${candidates.join(', ')}). ` +
          'Install Python, or select one with "Python: Select Interpreter", then run the set-up again.');
        return undefined;
      }
      const uv = await findUv(homedir());
      const plan = planSetup({ envDir, basePython: base.python, uv, bundle });
      out.appendLine(`Python ${base.version} at ${base.python}; installing with ${uv ? `uv (${uv})` : 'venv and pip (uv not found: slower)'}`);
      mkdirSync(host.ctx.globalStorageUri.fsPath, { recursive: true });

      const abort = new AbortController();
      token.onCancellationRequested(() => abort.abort());
      cancelRunning = () => abort.abort();
      const share = 100 / plan.steps.length;
      let current = '';
      let lastReport = 0;
      try {
        const stamp = await runSetup(plan, bundle.lock, {
          signal: abort.signal,
          step: (i, step) => {
            current = `${i + 1}/${plan.steps.length} ${step.title}`;
            out.appendLine(`--- ${current}: ${step.command} ${step.args.join(' ')}`);
            progress.report({ message: `${current}…`, increment: i === 0 ? 0 : share });
          },
          line: (text) => {
            out.appendLine(text);
            const now = Date.now();
            if (now - lastReport < 250) return; // a notification redrawn per line of pip's output is a busy UI
            lastReport = now;
            progress.report({ message: `${current}: ${text.trim().slice(0, 100)}` });
          },
        });
        host.python.forgetChecks();
        out.appendLine(`done in ${stamp.seconds} s: hbpo ${stamp.hbpo}, PyTorch ${stamp.torch} (${stamp.device}), Python ${stamp.python}`);
        void vscode.window.showInformationMessage(
          `HBPO: the trainer is set up: hbpo ${stamp.hbpo}, PyTorch ${stamp.torch} on ${stamp.device}, Python ${stamp.python} ` +
          `(${stamp.tool}, ${stamp.seconds} s). Start Training uses it.`, 'Start Training',
        ).then((c) => c && vscode.commands.executeCommand('hbpo.startTraining'));
        return { python: plan.python, stamp };
      } catch (err) {
        if (err instanceof SetupCancelled) {
          out.appendLine('cancelled');
          void vscode.window.showInformationMessage(`HBPO: ${err.message}.`);
          return undefined;
        }
        const message = err instanceof Error ? err.message : String(err);
        out.appendLine(`FAILED: ${message}`);
        void vscode.window.showErrorMessage(
          `HBPO: the trainer set-up failed: ${message.split('\n')[0]}. Nothing was changed; the log is in "HBPO Trainer Set-up".`,
          'Show Log', 'Retry',
        ).then((c) => {
          if (c === 'Show Log') out.show();
          else if (c === 'Retry') void vscode.commands.executeCommand('hbpo.setupTrainer');
        });
        return undefined;
      }
    },
  );
}
