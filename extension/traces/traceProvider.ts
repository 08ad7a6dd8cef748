// Read-only trace documents on the hbpo-trace: scheme. Content comes from the run's model when a
// panel registered it (byte-range read of one line), else from reading the run folder once (a
// trace tab VS Code restores after a reload, before any panel is open).
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { RolloutEvent } from '../events';
import { readRollout } from '../panels/rolloutData';
import { EVENTS_FILE, loadRunFile } from '../runs/runFile';
import { RunModel } from '../runs/runModel';
import { formatTrace } from './traceText';
import { parseTraceUri, TRACE_SCHEME, traceUriParts, type TraceRef } from './traceUri';

export { TRACE_SCHEME };

export class TraceDocuments implements vscode.TextDocumentContentProvider {
  /** Models of the runs the panels show, by run folder (the shared tailers' live models). */
  private readonly models = new Map<string, RunModel>();

  /** Let trace documents of this run read from its live model. */
  remember(runDir: string, model: RunModel): void {
    this.models.set(runDir, model);
  }

  uriFor(ref: TraceRef): vscode.Uri {
    return vscode.Uri.from({ scheme: TRACE_SCHEME, ...traceUriParts(ref) });
  }

  async open(ref: TraceRef): Promise<void> {
    const doc = await vscode.workspace.openTextDocument(this.uriFor(ref));
    await vscode.window.showTextDocument(doc, { preview: true, viewColumn: vscode.ViewColumn.Beside });
  }

  async provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
    const ref = parseTraceUri(uri.path, uri.query);
    if (!ref) return `Not an HBPO trace address: ${uri.toString(true)}\n`;
    const event = await this.find(ref);
    if (!event) {
      return `Rollout not found: step ${ref.step}, query ${ref.queryIndex}, sample ${ref.sample} in ${ref.runDir}\n` +
        '(the run may have been resumed from an earlier checkpoint, or its events.jsonl replaced).\n';
    }
    return formatTrace(event, ref.label);
  }

  private async find(ref: TraceRef): Promise<RolloutEvent | undefined> {
    const live = this.models.get(ref.runDir);
    const found = live && (await readRollout(live, ref.step, ref.queryIndex, ref.sample));
    if (found) return found;
    if (!path.isAbsolute(ref.runDir)) return undefined;
    // Not open in a panel (or the live model was reset): index the file once for this lookup.
    const eventsPath = path.join(ref.runDir, EVENTS_FILE);
    const loaded = await loadRunFile(eventsPath);
    return readRollout(new RunModel(eventsPath, loaded.state), ref.step, ref.queryIndex, ref.sample);
  }
}
