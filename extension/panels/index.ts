// Contract between the extension wiring (extension.ts, views, commands) and the panels.
// The bodies are being written; the signatures are fixed.
import type * as vscode from 'vscode';
import type { RunTailer } from '../runs';

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

/** Registers what the panels need once per activation (trace document provider, serializers). */
export function registerPanels(_ctx: vscode.ExtensionContext): vscode.Disposable[] {
  return [];
}

/** Opens (or reveals) the run dashboard. */
export function openDashboard(_ctx: vscode.ExtensionContext, _run: RunHandle): void {
  throw new Error('openDashboard: not implemented yet');
}

/** Opens (or reveals) the rollout-group inspector, optionally at a step and query. */
export function openRolloutInspector(
  _ctx: vscode.ExtensionContext,
  _run: RunHandle,
  _target?: { step?: number; queryIndex?: number },
): void {
  throw new Error('openRolloutInspector: not implemented yet');
}

/** Opens (or reveals) the reward-curve explorer, seeded with a run's parameters when given. */
export function openRewardExplorer(_ctx: vscode.ExtensionContext, _params?: RewardParamsInput): void {
  throw new Error('openRewardExplorer: not implemented yet');
}
