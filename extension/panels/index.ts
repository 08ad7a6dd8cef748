// Contract between the extension wiring (extension.ts, views, commands) and the panels.
// The signatures are fixed; the panels live in the files next to this one.
import * as vscode from 'vscode';
import type { RunModel, RunTailer } from '../runs';
import { TraceAnnotations } from '../traces/annotations';
import { TRACE_SCHEME, TraceDocuments } from '../traces/traceProvider';
import type { CompareInput } from '../../common/protocol/compare';
import { ComparePanel, type CompareDeps } from './comparePanel';
import { DASHBOARD_VIEW_TYPE, DashboardPanel } from './dashboardPanel';
import { RewardPanel } from './rewardPanel';
import { paramsOfRun } from '../runs/runReward';
import { ROLLOUTS_VIEW_TYPE, RolloutPanel } from './rolloutPanel';

/** One run as the panels see it: its folder and the shared live tailer that feeds its model. */
export interface RunHandle {
  runDir: string;
  label: string;
  tailer: RunTailer;
}

export interface RewardParamsInput {
  tiers: number[];
  maxResponseTokens: number;
  alpha?: number;
  beta?: number;
  variant?: 'paper' | 'reference';
}

/** One provider for every trace document; the inspectors tell it which run models they show. */
const traces = new TraceDocuments();

/** How restored panels find their run: its handle once the run store has listed the runs folder. */
export interface PanelRuns {
  /** `wait: false`: do not wait for the whole file to be read (see RunRegistry.handle). */
  handle(runDir: string, options?: { wait?: boolean }): Promise<RunHandle | undefined>;
  /** A run's shared model (any folder), for trace documents no panel backs. */
  model(runDir: string): Promise<RunModel>;
}

/** The run folder a restored run panel's page saved in its state (see webview/dashboard.ts, rollouts.ts). */
function runDirOf(state: unknown): string | undefined {
  const dir = typeof state === 'object' && state !== null ? (state as { runDir?: unknown }).runDir : undefined;
  return typeof dir === 'string' && dir.length > 0 ? dir : undefined;
}

/**
 * Registers what the panels need once per activation: the trace documents and their annotations, and
 * the serializers that restore the panels after a reload (a run panel whose run is gone closes).
 */
export function registerPanels(ctx: vscode.ExtensionContext, runs: PanelRuns): vscode.Disposable[] {
  const annotations = new TraceAnnotations();
  traces.attach(annotations);
  traces.useModels((dir) => runs.model(dir));
  const reviveRun = (revive: (panel: vscode.WebviewPanel, run: RunHandle) => void, wait = true) => ({
    deserializeWebviewPanel: async (panel: vscode.WebviewPanel, state: unknown) => {
      const dir = runDirOf(state);
      const run = dir ? await runs.handle(dir, { wait }) : undefined;
      if (run) revive(panel, run);
      else panel.dispose();
    },
  });
  return [
    vscode.workspace.registerTextDocumentContentProvider(TRACE_SCHEME, traces),
    ...annotations.register(),
    vscode.window.registerWebviewPanelSerializer(RewardPanel.viewType, {
      deserializeWebviewPanel: async (panel, state) => RewardPanel.revive(ctx, panel, state),
    }),
    vscode.window.registerWebviewPanelSerializer(DASHBOARD_VIEW_TYPE,
      reviveRun((panel, run) => DashboardPanel.revive(ctx, panel, run, dashboardActions(ctx, run)), false)),
    vscode.window.registerWebviewPanelSerializer(ROLLOUTS_VIEW_TYPE, reviveRun((panel, run) => RolloutPanel.revive(ctx, panel, run, traces))),
  ];
}

function dashboardActions(ctx: vscode.ExtensionContext, run: RunHandle) {
  return {
    openInspector: (step?: number) => openRolloutInspector(ctx, run, { step }),
    openRewardExplorer: () => {
      const info = run.tailer.model.info;
      RewardPanel.show(ctx, info ? paramsOfRun(info) : undefined, info ? `run ${run.label}` : 'paper defaults');
    },
  };
}

/** Opens (or reveals) the run dashboard. */
export function openDashboard(ctx: vscode.ExtensionContext, run: RunHandle): void {
  DashboardPanel.show(ctx, run, dashboardActions(ctx, run));
}

/** Opens (or reveals) the rollout-group inspector, optionally at a step and query. */
export function openRolloutInspector(
  ctx: vscode.ExtensionContext,
  run: RunHandle,
  target?: { step?: number; queryIndex?: number },
): void {
  RolloutPanel.show(ctx, run, target ?? {}, traces);
}

/** Opens (or reveals) the reward-curve explorer, seeded with a run's parameters when given. */
export function openRewardExplorer(ctx: vscode.ExtensionContext, params?: RewardParamsInput): void {
  RewardPanel.show(ctx, params, params ? 'the given parameters' : 'paper defaults');
}

/** Opens (or reveals) the budget-comparison panel, optionally with a problem to compare. */
export function openComparison(ctx: vscode.ExtensionContext, deps: Omit<CompareDeps, 'traces'>, input?: CompareInput): void {
  ComparePanel.show(ctx, { ...deps, traces }, input);
}

/** Ends the inference worker (extension deactivation). */
export function disposeComparison(): Promise<void> {
  return ComparePanel.disposeClient();
}
