/**
 * HBPO Studio extension entry point: activation wires the run registry (runs folder -> Runs view,
 * status bar), the trainer commands, config diagnostics and the panels. Each part lives in its own
 * file: host/ (registry, sessions, interpreter, configs), views/ (tree, status bar), commands/.
 */
import * as vscode from 'vscode';
import { HBPO_DEFAULTS } from '../common/budgetMath';
import { COMMANDS, registerCommands } from './commands';
import { cancelSetup, managedEnvDir } from './commands/setup';
import { followOpenedSources } from './commands/runs';
import { validateForStart } from './commands/training';
import { ConfigDiagnostics } from './host/configs';
import { runsDirectory, type Host } from './host/host';
import { PythonResolver } from './host/python';
import { RunRegistry, type RunEntry } from './host/runRegistry';
import { TrainerSessions } from './host/sessions';
import { disposeComparison, registerPanels } from './panels';
import { RunsTreeProvider } from './views/runsTree';
import { RunStatusBar } from './views/statusBar';

/** Text of the `hbpo.about` message: extension version and the paper's tier defaults. */
export function aboutMessage(version: string): string {
  const d = HBPO_DEFAULTS;
  return (
    `HBPO Studio ${version}. Default budget tiers: ${d.tiers.join(', ')} tokens; ` +
    `${d.rollouts} rollouts per query; L_max ${d.lMax} tokens; beta ${d.beta}; alpha 1/L_max.`
  );
}

/** What activate returns: a read-only view of the runs, for other extensions and the in-editor tests. */
export interface HbpoApi {
  runsDirectory(): string | undefined;
  runs(): RunEntry[];
  run(dirOrId: string): RunEntry | undefined;
  refresh(): Promise<void>;
  onDidChangeRuns: vscode.Event<void>;
  commands: readonly string[];
}

export function activate(context: vscode.ExtensionContext): HbpoApi {
  const version = String(context.extension.packageJSON.version ?? 'unknown');
  const registry = new RunRegistry({
    workerPath: vscode.Uri.joinPath(context.extensionUri, 'dist', 'runWorker.js').fsPath,
    memento: context.workspaceState,
  });
  const sessions = new TrainerSessions(registry);
  const python = new PythonResolver(managedEnvDir(context));
  const host: Host = { ctx: context, registry, sessions, python, diagnostics: undefined as unknown as ConfigDiagnostics };
  host.diagnostics = new ConfigDiagnostics((uri) => validateForStart(host, uri));

  // Lists the runs and re-attaches to the ones still training (a tailer each), without blocking activation.
  const listed = registry.setRunsDirectory(runsDirectory()).catch(() => undefined);
  const tree = new RunsTreeProvider(registry);
  const runsView = vscode.window.createTreeView('hbpo.runs', { treeDataProvider: tree, showCollapseAll: false });
  host.runsView = runsView;
  const updateViewMessage = () => {
    runsView.message = registry.directory ? undefined : 'Open a folder to see its runs.';
    runsView.description = undefined;
  };
  registry.onDidChange(updateViewMessage);
  // verl/TRL folders opened in an earlier window are followed again (what they gained meanwhile read first).
  void listed.then(() => followOpenedSources(host, registry.rememberedExternals())).catch(() => undefined);

  context.subscriptions.push(
    registry, sessions, python, host.diagnostics, tree, runsView, new RunStatusBar(registry),
    vscode.commands.registerCommand('hbpo.about', () => {
      void vscode.window.showInformationMessage(aboutMessage(version));
    }),
    ...registerCommands(host),
    ...registerPanels(context, {
      // A restored panel waits for the first listing of the runs folder, then asks for its run.
      handle: async (dir, options) => {
        await listed;
        const entry = registry.get(dir);
        return entry ? registry.handle(entry, options) : undefined;
      },
      // Trace tabs share their run's tailer (one load for all of them), listed or not.
      model: (dir) => registry.sharedModel(dir),
    }),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('hbpo.runsDirectory')) void registry.setRunsDirectory(runsDirectory());
    }),
    vscode.workspace.onDidChangeWorkspaceFolders(() => void registry.setRunsDirectory(runsDirectory())),
  );
  void listed.then(updateViewMessage).then(() => openRunFromEnvironment(host));

  return {
    runsDirectory: () => registry.directory,
    runs: () => registry.runs(),
    run: (key) => registry.get(key),
    refresh: () => registry.refresh(),
    onDidChangeRuns: registry.onDidChange,
    commands: ['hbpo.about', ...COMMANDS],
  };
}

/**
 * `npm start` starts code-server with HBPO_OPEN_RUN set to the run it just started: the window opens
 * that run's dashboard once (the folder may appear a moment after the window does).
 */
async function openRunFromEnvironment(host: Host): Promise<void> {
  const dir = process.env.HBPO_OPEN_RUN;
  const key = `hbpo.openedRun:${dir}`;
  if (!dir || host.ctx.workspaceState.get(key)) return;
  for (let i = 0; i < 60 && !host.registry.get(dir); i++) {
    await new Promise((r) => setTimeout(r, 1000));
    await host.registry.refresh();
  }
  if (!host.registry.get(dir)) return;
  await host.ctx.workspaceState.update(key, true);
  await vscode.commands.executeCommand('hbpo.openDashboard', dir);
}

export function deactivate(): Promise<void> {
  // Everything registered above is disposed via context.subscriptions. Trainer processes are left
  // running on purpose: they are independent, and the next window re-attaches to their run folders.
  // The inference worker is ours alone: it ends with the window.
  cancelSetup();
  return disposeComparison();
}
