// The Runs view: one row per run folder, newest first, with a status icon, step/total and (while it
// trains) steps/s. Rows refresh when the registry says so (a tailer saw new steps, the folder changed).
import * as vscode from 'vscode';
import type { RunEntry, RunRegistry } from '../host/runRegistry';
import { describeRun, formatDuration, formatRate, type DisplayStatus } from '../host/pure';

const ICONS: Record<DisplayStatus, [string, string | undefined]> = {
  running: ['sync~spin', 'charts.blue'],
  pending: ['loading~spin', undefined],
  finished: ['pass-filled', 'testing.iconPassed'],
  stopped: ['debug-stop', 'charts.yellow'],
  failed: ['error', 'testing.iconFailed'],
  stale: ['warning', 'list.warningForeground'],
  unknown: ['question', undefined],
};

export function statusIcon(status: DisplayStatus): vscode.ThemeIcon {
  const [id, color] = ICONS[status] ?? ICONS.unknown;
  return new vscode.ThemeIcon(id, color ? new vscode.ThemeColor(color) : undefined);
}

export class RunsTreeProvider implements vscode.TreeDataProvider<RunEntry>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<RunEntry | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly sub: vscode.Disposable;

  constructor(private readonly registry: RunRegistry) {
    this.sub = registry.onDidChange(() => this.changed.fire(undefined));
  }

  getTreeItem(e: RunEntry): vscode.TreeItem {
    const item = new vscode.TreeItem(e.id, vscode.TreeItemCollapsibleState.None);
    item.id = e.dir;
    item.description = e.source ? `${e.source} · ${describeRun(e)}` : describeRun(e);
    item.iconPath = statusIcon(e.status);
    item.contextValue = `hbpoRun:${e.status}${e.owned ? ':owned' : ''}`;
    item.tooltip = tooltip(e);
    item.command = { command: 'hbpo.openDashboard', title: 'Open Run Dashboard', arguments: [e] };
    item.accessibilityInformation = { label: `${e.id}, ${e.source ? `from ${e.source}, ` : ''}${describeRun(e)}` };
    return item;
  }

  getChildren(element?: RunEntry): RunEntry[] {
    return element ? [] : this.registry.runs();
  }

  getParent(): undefined {
    return undefined;
  }

  dispose(): void {
    this.sub.dispose();
    this.changed.dispose();
  }
}

function tooltip(e: RunEntry): vscode.MarkdownString {
  const md = new vscode.MarkdownString(undefined, true);
  md.appendMarkdown(`**${escape(e.id)}** — $(${ICONS[e.status]?.[0].replace('~spin', '') ?? 'question'}) ${e.status}\n\n`);
  const rows: [string, string][] = [];
  rows.push(['step', e.totalSteps !== undefined ? `${e.step} of ${e.totalSteps}` : String(e.step)]);
  const rate = formatRate(e.stepsPerSecond);
  if (e.status === 'running' && rate) rows.push(['speed', rate]);
  if (e.status === 'running' && e.stepsPerSecond && e.totalSteps !== undefined) {
    rows.push(['time left', formatDuration((e.totalSteps - e.step) / e.stepsPerSecond)]);
  }
  if (e.method) rows.push(['method', e.method]);
  if (e.tiers?.length) rows.push(['tiers', e.tiers.join(', ')]);
  rows.push(['started', new Date(e.startTime * 1000).toLocaleString()]);
  if (e.pid !== undefined) rows.push(['pid', String(e.pid)]);
  if (e.endReason) rows.push(['reason', e.endReason]);
  if (e.error) rows.push(['problem', e.error]);
  for (const [k, v] of rows) md.appendMarkdown(`${k}: ${escape(v)}  \n`);
  md.appendMarkdown(`\n\`${escape(e.dir)}\``);
  return md;
}

function escape(text: string): string {
  return text.replace(/[\\`*_{}[\]()#+\-!|<>]/g, (c) => `\\${c}`);
}
