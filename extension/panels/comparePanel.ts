// Host of the budget-comparison panel: one panel per window. Owns the inference worker client (a
// forked Node process running node-llama-cpp), loads the GGUF from `hbpo.inference.modelPath` or a
// picker, runs comparisons (extension/compare/comparison.ts) and streams them to the page, coalescing
// chunks so a fast model does not flood the webview. Columns open as live annotated trace documents.
import { writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import * as vscode from 'vscode';
import { Comparison } from '../compare/comparison';
import { TrainerGrader, type AnswerGrader } from '../compare/grader';
import { InferenceClient } from '../inference/client';
import type { LoadedInfo } from '../inference/protocol';
import type { TraceDocuments } from '../traces/traceProvider';
import { columnTrace } from '../compare/columnTrace';
import {
  compareRequestProblem, parseCompareRequest, type ColumnState, type CompareInput, type CompareRequest, type CompareSettings, type CompareToWebview,
  type ModelState,
} from '../../common/protocol/compare';
import { Channel, createPanel } from './webviewHost';

export const COMPARE_VIEW_TYPE = 'hbpo.compare';

export interface CompareDeps {
  traces: TraceDocuments;
  /** The trainer's interpreter, for grading; undefined when there is none (answers are then not graded). */
  python(): Promise<string | undefined>;
  /** Picks a dataset item (problem + ground truth); undefined when cancelled. */
  pickDatasetItem(): Promise<CompareInput | undefined>;
}

/** Chunks are forwarded at most this often per panel (ms). */
const CHUNK_FLUSH_MS = 50;

function settingsOf(): { modelPath: string; gpu: 'auto' | false; sequences: number; contextSize: number; threads: number } {
  const c = vscode.workspace.getConfiguration('hbpo.inference');
  return {
    modelPath: (c.get<string>('modelPath') ?? '').trim(),
    gpu: c.get<string>('gpu') === 'cpu' ? false : 'auto',
    sequences: Math.max(1, Math.min(16, c.get<number>('sequences') ?? 4)),
    contextSize: Math.max(0, c.get<number>('contextSize') ?? 0),
    threads: Math.max(0, c.get<number>('threads') ?? 0),
  };
}

function defaultSettings(): CompareSettings {
  const c = vscode.workspace.getConfiguration('hbpo.compare');
  const tiers = c.get<number[]>('tiers') ?? [512, 1024, 2048, 2560];
  return {
    tiers, lMax: c.get<number>('maxResponseTokens') ?? 4096,
    modes: [...tiers.map((t) => `tier:${t}`), 'natural', 'efficiency'],
    samples: 1, temperature: c.get<number>('temperature') ?? 0.6, seed: 0,
  };
}

export class ComparePanel {
  private static current: ComparePanel | undefined;
  /** One worker for every comparison panel of the window (created on first use). */
  private static client: InferenceClient | undefined;

  static show(ctx: vscode.ExtensionContext, deps: CompareDeps, input?: CompareInput): ComparePanel {
    if (ComparePanel.current) {
      ComparePanel.current.panel.reveal();
      if (input) ComparePanel.current.setInput(input);
      return ComparePanel.current;
    }
    ComparePanel.current = new ComparePanel(ctx, deps, input);
    return ComparePanel.current;
  }

  /** Ends the worker (extension deactivation). */
  static async disposeClient(): Promise<void> {
    const client = ComparePanel.client;
    ComparePanel.client = undefined;
    await client?.dispose();
  }

  private readonly panel: vscode.WebviewPanel;
  private readonly channel: Channel<CompareRequest, CompareToWebview>;
  private model: ModelState = { status: 'none' };
  private input: CompareInput | null;
  private settings = defaultSettings();
  private comparison: Comparison | undefined;
  private runId = 0;
  private gradingNote: string | undefined;
  private readonly pending = new Map<string, { text: string; tokens: number }>();
  private flushTimer: NodeJS.Timeout | undefined;
  private readonly output: vscode.LogOutputChannel;
  /** Columns opened as trace documents (of the current run): only these follow the stream. */
  private readonly traced = new Set<string>();

  private constructor(private readonly ctx: vscode.ExtensionContext, private readonly deps: CompareDeps, input?: CompareInput) {
    this.input = input ?? null;
    this.output = vscode.window.createOutputChannel('HBPO Inference', { log: true });
    this.panel = createPanel(ctx, COMPARE_VIEW_TYPE, 'HBPO budget comparison', 'compare');
    this.channel = new Channel(this.panel, (raw) => this.parse(raw), (req) => this.handle(req));
    this.panel.onDidDispose(() => this.dispose());
    const configured = settingsOf().modelPath;
    if (configured) void this.load(configured);
  }

  private get client(): InferenceClient {
    ComparePanel.client ??= new InferenceClient({
      workerPath: vscode.Uri.joinPath(this.ctx.extensionUri, 'dist', 'inferenceWorker.js').fsPath,
      onStderr: (line) => this.output.info(line),
    });
    return ComparePanel.client;
  }

  /** The page's message, checked; what does not fit is dropped, and the log says why. */
  private parse(raw: unknown): CompareRequest | undefined {
    const req = parseCompareRequest(raw);
    if (!req) this.output.warn(`compare panel: ${compareRequestProblem(raw)}`);
    return req;
  }

  setInput(input: CompareInput): void {
    this.input = input;
    this.channel.post({ type: 'input', input });
  }

  private async handle(req: CompareRequest): Promise<void> {
    switch (req.type) {
      case 'ready':
        this.channel.post({
          type: 'state', model: this.model, input: this.input, settings: this.comparison?.settings ?? this.settings,
          runId: this.runId, columns: this.comparison?.columns ?? [], running: this.running, gradingNote: this.gradingNote,
        });
        return;
      case 'pickModel': {
        const picked = await vscode.window.showOpenDialog({
          title: 'GGUF model for the budget comparison', canSelectMany: false, filters: { 'GGUF models': ['gguf'] },
        });
        if (picked?.[0]) await this.load(picked[0].fsPath);
        return;
      }
      case 'useSelection': {
        const editor = vscode.window.activeTextEditor ?? vscode.window.visibleTextEditors[0];
        const text = editor && !editor.selection.isEmpty ? editor.document.getText(editor.selection) : '';
        if (!text.trim()) return void vscode.window.showInformationMessage('HBPO: select the problem text in an editor first.');
        this.setInput({ problem: text, groundTruth: null, source: `selection in ${basename(editor!.document.uri.path)}` });
        return;
      }
      case 'pickDatasetItem': {
        const item = await this.deps.pickDatasetItem();
        if (item) this.setInput(item);
        return;
      }
      case 'run':
        return this.start(req.input, req.settings);
      case 'stop':
        this.comparison?.stop();
        return;
      case 'exportResults':
        return this.exportResults();
      case 'openTrace':
        return this.openTrace(req.key);
    }
  }

  private get running(): boolean {
    return this.comparison?.columns.some((c) => c.status === 'waiting' || c.status === 'running') ?? false;
  }

  private modelState(info: LoadedInfo): ModelState {
    return {
      status: 'loaded', path: info.modelPath, name: basename(info.modelPath), gpu: info.gpu, threads: info.threads,
      contextSize: info.contextSize, sequences: info.sequences, chatTemplate: info.chatTemplate !== null,
    };
  }

  private async load(modelPath: string): Promise<void> {
    if (!vscode.workspace.isTrusted) {
      this.setModel({ status: 'error', path: modelPath, name: basename(modelPath), message: 'Restricted Mode: trust this workspace to load a model (the inference worker runs native code on the file).' });
      return;
    }
    this.comparison?.stop();
    this.setModel({ status: 'loading', path: modelPath, name: basename(modelPath) });
    const s = settingsOf();
    try {
      const info = await this.client.load({
        modelPath, gpu: s.gpu, sequences: s.sequences,
        ...(s.contextSize > 0 ? { contextSize: s.contextSize } : {}), ...(s.threads > 0 ? { threads: s.threads } : {}),
      });
      this.output.info(`loaded ${info.modelPath} (${info.gpu || 'cpu'}, ${info.threads} threads, ${info.sequences} x ${info.contextSize} tokens) in ${info.ms} ms`);
      this.setModel(this.modelState(info));
    } catch (err) {
      this.setModel({ status: 'error', path: modelPath, name: basename(modelPath), message: (err as Error).message });
    }
  }

  private setModel(model: ModelState): void {
    this.model = model;
    this.channel.post({ type: 'model', model });
  }

  private async grader(input: CompareInput): Promise<AnswerGrader | undefined> {
    if (input.groundTruth === null) {
      this.gradingNote = 'No ground truth: answers are not graded, rewards assume a correct answer.';
      return undefined;
    }
    const python = await this.deps.python();
    if (!python) {
      this.gradingNote = 'No trainer interpreter (hbpo.pythonPath): answers are not graded, rewards assume a correct answer.';
      return undefined;
    }
    this.gradingNote = undefined;
    return new TrainerGrader(python, vscode.workspace.workspaceFolders?.[0]?.uri.fsPath);
  }

  private async start(input: CompareInput, settings: CompareSettings): Promise<void> {
    if (!vscode.workspace.isTrusted) return;
    const info = this.client.loaded;
    if (this.model.status !== 'loaded' || !info) {
      void vscode.window.showWarningMessage('HBPO: load a GGUF model first (Choose model…).');
      return;
    }
    this.comparison?.stop();
    this.input = input;
    this.settings = settings;
    const runId = ++this.runId;
    const grader = await this.grader(input);
    const comparison = new Comparison(input, settings, this.client, info, grader, {
      chunk: (key, text, tokens) => this.queueChunk(runId, key, text, tokens),
      column: (column) => this.sendColumn(runId, column),
    });
    this.comparison = comparison;
    this.pending.clear();
    this.traced.clear();
    this.channel.post({ type: 'columns', runId, columns: comparison.columns, settings, gradingNote: this.gradingNote });
    try {
      await comparison.run();
    } finally {
      grader?.dispose();
      if (this.runId === runId) {
        this.flush(runId);
        this.channel.post({ type: 'runEnd', runId });
      }
    }
  }

  private queueChunk(runId: number, key: string, text: string, tokens: number): void {
    if (runId !== this.runId) return;
    const p = this.pending.get(key);
    this.pending.set(key, { text: (p?.text ?? '') + text, tokens });
    this.flushTimer ??= setTimeout(() => this.flush(runId), CHUNK_FLUSH_MS);
    this.refreshTrace(key);
  }

  private flush(runId: number): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (runId !== this.runId) return;
    for (const [key, { text, tokens }] of this.pending) this.channel.post({ type: 'chunk', runId, key, text, tokens });
    this.pending.clear();
  }

  private sendColumn(runId: number, column: ColumnState): void {
    if (runId !== this.runId) return;
    this.flush(runId); // the page applies chunks before the column's final state
    this.channel.post({ type: 'column', runId, column });
    this.refreshTrace(column.key);
  }

  private traceId(key: string): string {
    return `${this.runId}-${key}`;
  }

  private liveTrace(key: string) {
    const c = this.comparison;
    const column = c?.column(key);
    if (!c || !column) return undefined;
    return columnTrace(c, column, this.model.name ?? 'model');
  }

  private refreshTrace(key: string): void {
    if (!this.traced.has(key)) return;
    const trace = this.liveTrace(key);
    if (trace) this.deps.traces.updateLive(this.traceId(key), trace);
  }

  private async openTrace(key: string): Promise<void> {
    const trace = this.liveTrace(key);
    if (!trace) return;
    this.traced.add(key);
    await this.deps.traces.openLive(this.traceId(key), trace);
  }

  private async exportResults(): Promise<void> {
    const c = this.comparison;
    if (!c) return void vscode.window.showInformationMessage('HBPO: run a comparison first.');
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
    const target = await vscode.window.showSaveDialog({
      title: 'Export the comparison as JSON', filters: { JSON: ['json'] },
      ...(folder ? { defaultUri: vscode.Uri.joinPath(folder, `comparison-${new Date().toISOString().replace(/[:.]/g, '-')}.json`) } : {}),
    });
    if (!target) return;
    await writeFile(target.fsPath, `${JSON.stringify(c.toJSON(this.model.path), null, 2)}\n`, 'utf8');
    void vscode.window.showInformationMessage(`HBPO: comparison exported to ${target.fsPath}`);
  }

  private dispose(): void {
    this.comparison?.stop();
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.channel.dispose();
    this.output.dispose();
    if (ComparePanel.current === this) ComparePanel.current = undefined;
    // The worker keeps its model loaded for the next panel; deactivation ends it.
  }
}
