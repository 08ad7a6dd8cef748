// The status bar item: the active run's step/total and steps/s while a run trains (the newest run
// this window started, else the newest running run); hidden when nothing trains. Click: its dashboard.
import * as vscode from 'vscode';
import type { RunEntry, RunRegistry } from '../host/runRegistry';
import { formatRate, statusBarText } from '../host/pure';

export function activeRun(runs: readonly RunEntry[]): RunEntry | undefined {
  const live = runs.filter((r) => r.status === 'running' || (r.owned && r.status === 'pending'));
  return live.find((r) => r.owned) ?? live[0];
}

export class RunStatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('hbpo.activeRun', vscode.StatusBarAlignment.Left, 50);
  private readonly sub: vscode.Disposable;

  constructor(private readonly registry: RunRegistry) {
    this.item.name = 'HBPO Training';
    this.sub = registry.onDidChange(() => this.update());
    this.update();
  }

  update(): void {
    const run = activeRun(this.registry.runs());
    if (!run) {
      this.item.hide();
      return;
    }
    this.item.text = `$(sync~spin) ${statusBarText(run)}`;
    const rate = formatRate(run.stepsPerSecond);
    this.item.tooltip = `HBPO run ${run.id}: step ${run.step}${run.totalSteps !== undefined ? ` of ${run.totalSteps}` : ''}` +
      `${rate ? `, ${rate}` : ''}. Click to open its dashboard.`;
    this.item.command = { command: 'hbpo.openDashboard', title: 'Open Run Dashboard', arguments: [run] };
    this.item.show();
  }

  dispose(): void {
    this.sub.dispose();
    this.item.dispose();
  }
}
