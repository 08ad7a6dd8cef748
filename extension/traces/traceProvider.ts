// Read-only trace documents on the hbpo-trace: scheme. A recorded rollout's content comes from the
// run's model when a panel registered it (byte-range read of one line), else from the run's shared
// model (a trace tab VS Code restores after a reload, before any panel is open: every tab of a run
// waits for the same one load). A live trace (one a panel streams in, e.g. the budget comparison)
// is held in memory and refreshed as it grows.
// Each time it produces a document, the provider hands the trace's annotation spec and where its
// body starts to the annotations (annotations.ts), which draw on it.
import { rolloutKeyText } from '../../common/rolloutKey';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { RolloutEvent } from '../events';
import { readRollout } from '../runs/rolloutReader';
import type { RunModel } from '../runs/runModel';
import { SharedModels } from '../runs/sharedModels';
import { specOfRollout, type TraceSpec } from './annotate';
import { formatTraceDocument, layoutTrace, type TraceLayout } from './traceText';
import { liveTraceUriParts, parseLiveTraceUri, parseTraceUri, TRACE_SCHEME, traceUriParts, type TraceRef } from './traceUri';

export { TRACE_SCHEME };

/** A trace that streams in: the tab label, the document header, and the trace so far. */
export interface LiveTrace {
  label: string;
  headerLines: string[];
  problem: string;
  prompt: string;
  spec: TraceSpec;
}

/** Where the provider reports each document it produced (undefined spec: nothing to annotate). */
export interface TraceContentSink {
  set(uri: vscode.Uri, layout: TraceLayout, spec: TraceSpec | undefined): void;
}

/** Most document refreshes a streaming trace causes per second. */
const LIVE_REFRESH_MS = 100;

export class TraceDocuments implements vscode.TextDocumentContentProvider {
  /** Models of the runs the panels show, by run folder (the shared tailers' live models). */
  private readonly models = new Map<string, RunModel>();
  private readonly live = new Map<string, { uri: vscode.Uri; trace: LiveTrace; timer?: ReturnType<typeof setTimeout>; last: number }>();
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  private sink: TraceContentSink | undefined;
  /** A run's model for documents no panel backs: shared tailers of our own until useModels wires the run registry's. */
  private readonly ownModels = new SharedModels();
  private sharedModel = (runDir: string) => this.ownModels.model(runDir);

  readonly onDidChange = this.changed.event;

  /** Where to report the documents produced (the annotations). */
  attach(sink: TraceContentSink): void {
    this.sink = sink;
  }

  /** Where documents no panel backs get their run's model: one shared load per run (the run registry). */
  useModels(model: (runDir: string) => Promise<RunModel>): void {
    this.sharedModel = model;
  }

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

  /** The address of a live trace (the label of its first openLive/updateLive names the tab). */
  liveUri(id: string, label: string): vscode.Uri {
    return this.live.get(id)?.uri ?? vscode.Uri.from({ scheme: TRACE_SCHEME, ...liveTraceUriParts({ id, label }) });
  }

  /** Opens (or reveals) a live trace; later calls to updateLive() refresh the document (onDidChange) while it streams. */
  async openLive(id: string, trace: LiveTrace): Promise<void> {
    const uri = this.store(id, trace);
    const wasOpen = vscode.workspace.textDocuments.some((d) => d.uri.toString() === uri.toString());
    const doc = await vscode.workspace.openTextDocument(uri);
    // An already open document keeps its text until told it changed.
    if (wasOpen) this.changed.fire(uri);
    await vscode.window.showTextDocument(doc, { preview: true, viewColumn: vscode.ViewColumn.Beside });
  }

  /** The trace so far; the open document follows at most every LIVE_REFRESH_MS, always ending on the latest. */
  updateLive(id: string, trace: LiveTrace): void {
    this.store(id, trace);
    const entry = this.live.get(id)!;
    if (entry.timer) return;
    const wait = Math.max(0, entry.last + LIVE_REFRESH_MS - Date.now());
    entry.timer = setTimeout(() => {
      entry.timer = undefined;
      entry.last = Date.now();
      this.changed.fire(entry.uri);
    }, wait);
  }

  /** Drops a live trace (its document then says it is gone). */
  forgetLive(id: string): void {
    const entry = this.live.get(id);
    if (!entry) return;
    if (entry.timer) clearTimeout(entry.timer);
    this.live.delete(id);
    this.changed.fire(entry.uri);
  }

  private store(id: string, trace: LiveTrace): vscode.Uri {
    const entry = this.live.get(id);
    if (entry) {
      entry.trace = trace;
      return entry.uri;
    }
    const uri = this.liveUri(id, trace.label);
    this.live.set(id, { uri, trace, last: 0 });
    return uri;
  }

  async provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
    const { content, layout, spec } = await this.produce(uri);
    this.sink?.set(uri, layout ?? { content, bodyOffset: content.length }, spec);
    return content;
  }

  private async produce(uri: vscode.Uri): Promise<{ content: string; layout?: TraceLayout; spec?: TraceSpec }> {
    const liveRef = parseLiveTraceUri(uri.path, uri.query);
    if (liveRef) {
      const t = this.live.get(liveRef.id)?.trace;
      if (!t) return { content: 'This live trace is no longer available (its panel was closed, or the window reloaded).\n' };
      const s = t.spec;
      const layout = layoutTrace(t.headerLines, t.problem, t.prompt, s.text, `${s.tokens} tokens${s.done ? '' : ' so far'}`);
      return { content: layout.content, layout, spec: s };
    }
    const ref = parseTraceUri(uri.path, uri.query);
    if (!ref) {
      const older = /\/step\d+-query\d+-sample\d+\.txt$/.test(uri.path)
        ? 'It is from an earlier version, whose addresses lacked the tier (samples repeat in every tier); reopen the rollout from the inspector.\n'
        : '';
      return { content: `Not an HBPO trace address: ${uri.toString(true)}\n${older}` };
    }
    const found = await this.find(ref);
    if (!found) {
      return {
        content: `Rollout not found: ${rolloutKeyText(ref)} in ${ref.runDir}\n` +
          '(the run may have been resumed from an earlier checkpoint, or its events.jsonl replaced).\n',
      };
    }
    const layout = formatTraceDocument(found.event, ref.label);
    return { content: layout.content, layout, spec: specOfRollout(found.event, found.model.info) };
  }

  private async find(ref: TraceRef): Promise<{ event: RolloutEvent; model: RunModel } | undefined> {
    const live = this.models.get(ref.runDir);
    const found = live && (await readRollout(live, ref));
    if (found) return { event: found, model: live };
    if (!path.isAbsolute(ref.runDir)) return undefined;
    // Not open in a panel (or the live model was reset): the run's shared model, loaded once for all its tabs.
    const model = await this.sharedModel(ref.runDir);
    const event = await readRollout(model, ref);
    return event ? { event, model } : undefined;
  }
}
