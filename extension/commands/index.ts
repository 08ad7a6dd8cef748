// Command registration: ids match package.json `contributes.commands`.
import * as vscode from 'vscode';
import type { Host } from '../host/host';
import { compareBudgetsCommand } from './compare';
import {
  openDashboardCommand, openRewardExplorerCommand, openRunCommand, openRolloutInspectorCommand, revealRunFolderCommand, showTrainerOutputCommand,
} from './runs';
import { setupTrainerCommand } from './setup';
import { newConfigCommand, resumeRunCommand, startTrainingCommand, stopTrainingCommand } from './training';

export const COMMANDS = [
  'hbpo.startTraining', 'hbpo.startTrainingWithConfig', 'hbpo.stopTraining', 'hbpo.resumeRun', 'hbpo.newConfig',
  'hbpo.openDashboard', 'hbpo.openRolloutInspector', 'hbpo.openRewardExplorer', 'hbpo.showTrainerOutput',
  'hbpo.revealRunFolder', 'hbpo.refreshRuns', 'hbpo.compareBudgets', 'hbpo.setupTrainer', 'hbpo.openRun',
] as const;

export function registerCommands(host: Host): vscode.Disposable[] {
  const r = vscode.commands.registerCommand;
  return [
    r('hbpo.startTraining', (arg?: vscode.Uri | string) => startTrainingCommand(host, arg)),
    // Explorer / editor menus on a .yaml/.json file: the file is the config.
    r('hbpo.startTrainingWithConfig', (uri?: vscode.Uri) =>
      startTrainingCommand(host, uri ?? vscode.window.activeTextEditor?.document.uri)),
    r('hbpo.stopTraining', (arg?) => stopTrainingCommand(host, arg)),
    r('hbpo.resumeRun', (arg?) => resumeRunCommand(host, arg)),
    r('hbpo.newConfig', (name?: string) => newConfigCommand(host, typeof name === 'string' ? name : undefined)),
    r('hbpo.openDashboard', (arg?) => openDashboardCommand(host, arg)),
    r('hbpo.openRolloutInspector', (arg?, target?: { step?: number; queryIndex?: number }) =>
      openRolloutInspectorCommand(host, arg, target)),
    r('hbpo.openRewardExplorer', (arg?) => openRewardExplorerCommand(host, arg)),
    r('hbpo.showTrainerOutput', (arg?) => showTrainerOutputCommand(host, arg)),
    r('hbpo.revealRunFolder', (arg?) => revealRunFolderCommand(host, arg)),
    r('hbpo.refreshRuns', () => host.registry.refresh()),
    r('hbpo.openRun', (arg?: vscode.Uri | string) => openRunCommand(host, arg)),
    r('hbpo.compareBudgets', (input?: unknown) => compareBudgetsCommand(host, input)),
    r('hbpo.setupTrainer', () => setupTrainerCommand(host)),
  ];
}
