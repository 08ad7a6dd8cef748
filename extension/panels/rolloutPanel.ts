// Host of the rollout-group inspector: one panel per run folder. Answers the page's requests from
// the run model (text read lazily from events.jsonl), tells it when the steps with rollouts change,
// and opens traces as read-only documents.
import * as vscode from 'vscode';
import type { RunTailer } from '../runs/runTailer';
import type { TraceDocuments } from '../traces/traceProvider';
import { parseRolloutsRequest, type RolloutsRequest, type RolloutsToWebview } from '../../common/protocol/rollouts';
import { readGroup, readQueries } from './rolloutData';
import { Channel, createPanel, loadPage } from './webviewHost';

export const ROLLOUTS_VIEW_TYPE = 'hbpo.rollouts';

export interface InspectorRun {
  runDir: string;
  label: string;
  tailer: RunTailer;
}

export interface InspectorTarget {
  step?: number;
  queryIndex?: number;
}

export class RolloutPanel {
  private static readonly open = new Map<string, RolloutPanel>();

  static show(ctx: vscode.ExtensionContext, run: InspectorRun, target: InspectorTarget, traces: TraceDocuments): void {
    const existing = RolloutPanel.open.get(run.runDir);
    if (existing) {
      existing.panel.reveal();
      if (target.step !== undefined || target.queryIndex !== undefined) existing.select(target);
    } else {
      RolloutPanel.open.set(run.runDir, new RolloutPanel(ctx, run, target, traces));
    }
  }

  /** An inspector VS Code restored after a reload (its page keeps its own step and query). */
  static revive(ctx: vscode.ExtensionContext, panel: vscode.WebviewPanel, run: InspectorRun, traces: TraceDocuments): void {
    loadPage(ctx, panel, 'rollouts', `HBPO rollouts: ${run.label}`);
    RolloutPanel.open.get(run.runDir)?.panel.dispose();
    RolloutPanel.open.set(run.runDir, new RolloutPanel(ctx, run, {}, traces, panel));
  }

  private readonly panel: vscode.WebviewPanel;
  private readonly channel: Channel<RolloutsRequest, RolloutsToWebview>;
  private readonly subs: { dispose(): void }[] = [];
  private stepsSent = '';

  private constructor(
    ctx: vscode.ExtensionContext, private readonly run: InspectorRun, private target: InspectorTarget,
    private readonly traces: TraceDocuments, restored?: vscode.WebviewPanel,
  ) {
    this.panel = restored ?? createPanel(ctx, ROLLOUTS_VIEW_TYPE, `HBPO rollouts: ${run.label}`, 'rollouts');
    traces.remember(run.runDir, run.tailer.model);
    this.channel = new Channel(this.panel, parseRolloutsRequest, (req) => this.handle(req));
    this.subs.push(this.channel, run.tailer.onDidChange((change) => {
      if (change.reset || change.types.includes('rollout') || change.types.includes('run_start')) this.sendSteps();
    }));
    this.panel.onDidDispose(() => this.dispose());
    void run.tailer.start();
  }

  private get model() {
    return this.run.tailer.model;
  }

  private select(target: InspectorTarget): void {
    if (!this.channel.post({ type: 'select', ...target })) this.target = target; // used by the next `ready`
  }

  private sendSteps(): void {
    const steps = this.model.rolloutSteps();
    const text = JSON.stringify(steps);
    if (text !== this.stepsSent && this.channel.post({ type: 'steps', steps })) this.stepsSent = text;
  }

  private async handle(req: RolloutsRequest): Promise<void> {
    switch (req.type) {
      case 'ready': {
        const steps = this.model.rolloutSteps();
        this.stepsSent = JSON.stringify(steps);
        const info = this.model.info;
        this.channel.post({
          type: 'state',
          state: {
            label: this.run.label, runDir: this.run.runDir, steps, tiers: info?.tiers ?? [],
            maxResponseTokens: info?.max_response_tokens ?? null, target: this.target,
          },
        });
        this.target = {}; // a reloaded page keeps its own selection (webview state)
        break;
      }
      case 'queries':
        this.channel.send({ type: 'queries', id: req.id, step: req.step, queries: await readQueries(this.model, req.step) });
        break;
      case 'group':
        this.channel.send({ type: 'group', id: req.id, group: await readGroup(this.model, req.step, req.queryIndex) });
        break;
      case 'openTrace':
        await this.traces.open({ runDir: this.run.runDir, label: this.run.label, ...req.key });
        break;
      case 'compare': {
        const g = await readGroup(this.model, req.step, req.queryIndex);
        await vscode.commands.executeCommand('hbpo.compareBudgets', {
          problem: g.problem, groundTruth: g.groundTruth || null,
          source: `${this.run.label}, step ${req.step}, query ${req.queryIndex}`,
        });
        break;
      }
    }
  }

  private dispose(): void {
    for (const s of this.subs) s.dispose();
    RolloutPanel.open.delete(this.run.runDir);
  }
}
