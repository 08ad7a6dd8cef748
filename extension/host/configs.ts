// Trainer configs: the built-in default shipped in the .vsix (dist/configs/default.yaml, copied from
// trainer/hbpo/configs/default.yaml at build time), the configs found in the workspace, and editor
// diagnostics for a config the trainer refuses (published at the lines the problems name, re-checked
// on save).
import { readFile, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import * as vscode from 'vscode';
import { locateProblems, type ValidationResult } from '../trainer';
import { isInside, isTrainerConfigText } from './pure';

const EXCLUDE = '{**/node_modules/**,**/.venv/**,**/venv/**,**/.git/**,**/checkpoints/**,**/dist/**,**/out/**,**/.cache/**,**/__pycache__/**}';
const MAX_CONFIG_BYTES = 512 * 1024;

/** The built-in default config inside the installed extension. */
export function builtInConfigUri(ctx: vscode.ExtensionContext): vscode.Uri {
  return vscode.Uri.joinPath(ctx.extensionUri, 'dist', 'configs', 'default.yaml');
}

/** YAML/JSON files in the workspace with a top-level `method:` or `tiers:` key (run folders excluded). */
export async function findWorkspaceConfigs(runsDir: string | undefined, token?: vscode.CancellationToken): Promise<vscode.Uri[]> {
  const uris = await vscode.workspace.findFiles('**/*.{yaml,yml,json}', EXCLUDE, 500, token);
  const checks = await Promise.all(uris.map(async (uri) => {
    if (uri.scheme !== 'file' || (runsDir && isInside(uri.fsPath, runsDir))) return undefined;
    try {
      if ((await stat(uri.fsPath)).size > MAX_CONFIG_BYTES) return undefined;
      return isTrainerConfigText(await readFile(uri.fsPath, 'utf8'), uri.fsPath) ? uri : undefined;
    } catch {
      return undefined;
    }
  }));
  return checks.filter((u): u is vscode.Uri => u !== undefined).sort((a, b) => a.fsPath.localeCompare(b.fsPath));
}

export type Validator = (uri: vscode.Uri) => Promise<ValidationResult | undefined>;

/**
 * Diagnostics of configs the trainer refused. A config that has diagnostics is validated again each
 * time it is saved; they stay (closed editor or not) until it passes, so the Problems view keeps
 * listing what would stop a run.
 */
export class ConfigDiagnostics implements vscode.Disposable {
  readonly collection = vscode.languages.createDiagnosticCollection('hbpo');
  private readonly watched = new Set<string>();
  private readonly disposables: vscode.Disposable[] = [this.collection];
  private readonly pending = new Map<string, Promise<void>>();

  constructor(private readonly validate: Validator) {
    this.disposables.push(vscode.workspace.onDidSaveTextDocument((doc) => {
      if (this.watched.has(doc.uri.toString())) void this.revalidate(doc.uri);
    }));
  }

  /** Publish the trainer's problems at the places they name. */
  async publish(uri: vscode.Uri, problems: readonly string[]): Promise<void> {
    let text = '';
    try {
      text = (await vscode.workspace.openTextDocument(uri)).getText();
    } catch {
      text = await readFile(uri.fsPath, 'utf8').catch(() => '');
    }
    const lines = text.split(/\r?\n/);
    const diagnostics = locateProblems(text, problems).map((p) => {
      const lineText = lines[p.line] ?? '';
      const end = Math.max(p.endColumn, p.column + 1, p.exact ? 0 : lineText.length);
      const d = new vscode.Diagnostic(
        new vscode.Range(p.line, p.column, p.line, Math.min(end, Math.max(lineText.length, p.column + 1))),
        p.exact || !p.field ? p.problem : `${p.problem} (not set in this file)`,
        vscode.DiagnosticSeverity.Error,
      );
      d.source = 'hbpo';
      if (p.field) d.code = p.field;
      return d;
    });
    this.collection.set(uri, diagnostics);
    this.watched.add(uri.toString());
  }

  clear(uri: vscode.Uri): void {
    this.collection.delete(uri);
    this.watched.delete(uri.toString());
  }

  /** Validate again (a save of a watched config); one at a time per file. */
  revalidate(uri: vscode.Uri): Promise<void> {
    const key = uri.toString();
    const running = this.pending.get(key);
    if (running) return running.then(() => this.revalidate(uri));
    const p = (async () => {
      try {
        const verdict = await this.validate(uri);
        if (!verdict) return;
        if (verdict.ok) {
          this.clear(uri);
          vscode.window.setStatusBarMessage(`$(check) HBPO: ${basename(uri.fsPath)} is valid`, 5000);
        } else {
          await this.publish(uri, verdict.problems);
        }
      } catch {
        // no interpreter: keep the old diagnostics; starting a run reports the interpreter problem
      }
    })().finally(() => this.pending.delete(key));
    this.pending.set(key, p);
    return p;
  }

  dispose(): void {
    this.disposables.forEach((d) => d.dispose());
  }
}
