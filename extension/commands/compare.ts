// Commands of the budget comparison: open the panel (with the editor's selection, or a problem a
// caller passes, e.g. a rollout's problem and ground truth), and pick a dataset item for it. Dataset
// files are read by the trainer (`python -m hbpo problems`), so the panel sees exactly the problems
// and ground truths training would.
import { basename } from 'node:path';
import * as vscode from 'vscode';
import { workspaceFolder, type Host } from '../host/host';
import { openComparison } from '../panels';
import { runPython } from '../trainer/exec';
import type { CompareInput } from '../../common/protocol/compare';
import { refuseUntrusted } from './training';

interface ProblemLine {
  index: number;
  problem: string;
  answer: string;
  difficulty?: string | null;
}

async function trainerPython(host: Host): Promise<string | undefined> {
  const folder = workspaceFolder();
  const { python } = await host.python.resolve(folder);
  const check = await host.python.check(python, folder?.uri.fsPath);
  return check.ok ? python : undefined;
}

/** Asks for a problem file, lists its problems through the trainer, returns the one picked. */
export async function pickDatasetItem(host: Host): Promise<CompareInput | undefined> {
  const files = await vscode.window.showOpenDialog({
    title: 'Problem file (JSON array or JSON Lines, as the trainer reads)', canSelectMany: false,
    filters: { 'Problem files': ['json', 'jsonl'] },
  });
  const file = files?.[0];
  if (!file) return undefined;
  const python = await trainerPython(host);
  if (!python) {
    void vscode.window.showErrorMessage('HBPO: reading a problem file needs the trainer (set hbpo.pythonPath to its interpreter).');
    return undefined;
  }
  const r = await runPython(python, ['-m', 'hbpo', 'problems', file.fsPath], { cwd: workspaceFolder()?.uri.fsPath, timeoutMs: 60_000 });
  if (r.code !== 0) {
    void vscode.window.showErrorMessage(`HBPO: ${basename(file.fsPath)}: ${(r.stderr.trim() || r.error?.message || 'could not read it').split('\n').slice(-2).join(' ')}`);
    return undefined;
  }
  const items = r.stdout.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as ProblemLine);
  const picked = await vscode.window.showQuickPick(
    items.map((p) => ({
      label: `#${p.index}${p.difficulty ? ` (${p.difficulty})` : ''}`,
      description: p.problem.replace(/\s+/g, ' ').slice(0, 120),
      detail: `answer: ${p.answer}`,
      item: p,
    })),
    { title: `${basename(file.fsPath)}: ${items.length} problems`, matchOnDescription: true, matchOnDetail: true },
  );
  if (!picked) return undefined;
  return { problem: picked.item.problem, groundTruth: picked.item.answer, source: `${basename(file.fsPath)} #${picked.item.index}` };
}

/** HBPO: Compare Budgets (palette, editor context menu, or a caller with a problem). */
export function compareBudgetsCommand(host: Host, input?: unknown): void {
  if (!vscode.workspace.isTrusted) return void refuseUntrusted('run a local model');
  let given: CompareInput | undefined;
  if (input && typeof input === 'object' && typeof (input as CompareInput).problem === 'string') {
    const i = input as CompareInput;
    given = { problem: i.problem, groundTruth: typeof i.groundTruth === 'string' ? i.groundTruth : null, source: typeof i.source === 'string' ? i.source : 'command' };
  } else {
    const editor = vscode.window.activeTextEditor;
    if (editor && !editor.selection.isEmpty) {
      given = { problem: editor.document.getText(editor.selection), groundTruth: null, source: `selection in ${basename(editor.document.uri.path)}` };
    }
  }
  openComparison(host.ctx, { python: () => trainerPython(host), pickDatasetItem: () => pickDatasetItem(host) }, given);
}
