// Extension-host tests: run inside the real extension host of code-server (the test-electron
// equivalent, see test/e2e/run.mjs). Bundled to CommonJS by the harness; `run()` is the entry point.
// A tiny test runner (no mocha here): tests run in order, each with a timeout; a failure fails the run.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';

interface RunEntry {
  id: string;
  dir: string;
  status: string;
  step: number;
  totalSteps?: number;
  stepsPerSecond: number | null;
  pid?: number;
  owned: boolean;
  error?: string;
}
interface HbpoApi {
  runsDirectory(): string | undefined;
  runs(): RunEntry[];
  run(key: string): RunEntry | undefined;
  refresh(): Promise<void>;
  commands: readonly string[];
}
interface StopSummary {
  status?: string;
  step?: number;
  checkpoint: string | null;
  checkpointWritten: boolean;
}

const EXTENSION_ID = 'hbpo-studio.hbpo-studio';
const log = (msg: string) => console.log(`[host-tests] ${msg}`);

const tests: { name: string; timeoutMs: number; fn: () => Promise<void> }[] = [];
function test(name: string, timeoutMs: number, fn: () => Promise<void>): void {
  tests.push({ name, timeoutMs, fn });
}

async function waitFor<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs: number, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v as T;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (${String(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

// ---- fixtures ------------------------------------------------------------------------------------
function event(type: string, step: number, extra: Record<string, unknown>, time = Date.now() / 1000): string {
  return `${JSON.stringify({ v: 1, type, time, step, ...extra })}\n`;
}
function runStart(id: string, pid: number, total: number, time: number): string {
  return event('run_start', 0, {
    run_id: id, config: { method: 'hbpo', tiers: [8, 16], max_response_tokens: 24, reward: { variant: 'paper', beta: 4 } },
    method: 'hbpo', tiers: [8, 16], max_response_tokens: 24, total_steps: total, device: 'cpu', dtype: 'float32', pid,
    resumed_from_step: null,
  }, time);
}
const stepEvent = (step: number, time: number) => event('step', step, { metrics: { 'reward/mean': 0.5, 'length/mean': 12 } }, time);
const runEnd = (step: number, status: string, time: number) => event('run_end', step, { status, checkpoint: status === 'failed' ? null : `checkpoints/step-${String(step).padStart(6, '0')}` }, time);

/** A pid that is certainly not running: a child that already exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  await new Promise((r) => child.on('exit', r));
  return child.pid!;
}

function writeRun(runsDir: string, id: string, text: string): string {
  const dir = join(runsDir, id);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'events.jsonl'), text);
  return dir;
}

// ---- state shared by the tests -------------------------------------------------------------------
let api: HbpoApi;
let folder: string;
let runsDir: string;
let python: string;

function runFolders(): string[] {
  return existsSync(runsDir) ? readdirSync(runsDir).sort() : [];
}

// ---- the tests -----------------------------------------------------------------------------------
test('activates and registers every contributed command', 60_000, async () => {
  const ext = vscode.extensions.getExtension<HbpoApi>(EXTENSION_ID);
  assert.ok(ext, `${EXTENSION_ID} is installed`);
  api = await ext.activate();
  assert.ok(ext.isActive);
  const all = new Set(await vscode.commands.getCommands(true));
  const contributed = (ext.packageJSON.contributes.commands as { command: string }[]).map((c) => c.command);
  for (const id of [...contributed, ...api.commands]) assert.ok(all.has(id), `command ${id} is registered`);
  folder = vscode.workspace.workspaceFolders![0].uri.fsPath;
  runsDir = api.runsDirectory()!;
  assert.equal(runsDir, join(folder, 'runs'), 'hbpo.runsDirectory defaults to <workspace>/runs');
  python = vscode.workspace.getConfiguration('hbpo').get<string>('pythonPath')!;
  assert.ok(python && existsSync(python), `hbpo.pythonPath is set for the tests (${python})`);
  await vscode.commands.executeCommand('workbench.view.extension.hbpo');
});

test('the Runs view lists fixture runs with their statuses, and follows a live one', 60_000, async () => {
  const t0 = Date.now() / 1000 - 600;
  writeRun(runsDir, 'fx-finished', runStart('fx-finished', 1, 3, t0) + stepEvent(1, t0 + 1) + stepEvent(2, t0 + 2) + stepEvent(3, t0 + 3) + runEnd(3, 'finished', t0 + 4));
  writeRun(runsDir, 'fx-stopped', runStart('fx-stopped', 1, 10, t0 + 10) + stepEvent(1, t0 + 11) + runEnd(1, 'stopped', t0 + 12));
  writeRun(runsDir, 'fx-failed', runStart('fx-failed', 1, 10, t0 + 20) + event('log', 0, { level: 'error', message: 'boom' }, t0 + 21) + runEnd(0, 'failed', t0 + 22));
  writeRun(runsDir, 'fx-stale', runStart('fx-stale', await deadPid(), 10, t0 + 30) + stepEvent(1, t0 + 31) + stepEvent(2, t0 + 32));
  // "running": its pid is this extension host, which is certainly alive.
  const now = Date.now() / 1000;
  const liveDir = writeRun(runsDir, 'fx-running', runStart('fx-running', process.pid, 8, now - 3) + stepEvent(1, now - 2) + stepEvent(2, now - 1));
  // No refresh call: the registry must notice the new folders by itself (folder watcher / poll).
  const expected: Record<string, [string, number, number]> = {
    'fx-finished': ['finished', 3, 3], 'fx-stopped': ['stopped', 1, 10], 'fx-failed': ['failed', 0, 10],
    'fx-stale': ['stale', 2, 10], 'fx-running': ['running', 2, 8],
  };
  await waitFor('the fixture runs in the registry', () => Object.keys(expected).every((id) => api.run(id)?.status === expected[id][0]), 20_000);
  for (const [id, [status, step, total]] of Object.entries(expected)) {
    const r = api.run(id)!;
    assert.equal(r.status, status, `${id} status`);
    assert.equal(r.step, step, `${id} step`);
    assert.equal(r.totalSteps, total, `${id} total steps`);
  }
  const order = api.runs().map((r) => r.id).filter((id) => id.startsWith('fx-'));
  assert.deepEqual(order, ['fx-running', 'fx-stale', 'fx-failed', 'fx-stopped', 'fx-finished'], 'newest first');
  // Live progress: steps appended to the running run show up without any refresh.
  appendFileSync(join(liveDir, 'events.jsonl'), stepEvent(3, now) + stepEvent(4, now + 1));
  await waitFor('fx-running at step 4', () => api.run('fx-running')?.step === 4, 10_000);
  assert.ok((api.run('fx-running')!.stepsPerSecond ?? 0) > 0, 'steps/s while running');
  appendFileSync(join(liveDir, 'events.jsonl'), runEnd(4, 'finished', now + 2));
  await waitFor('fx-running finished', () => api.run('fx-running')?.status === 'finished', 10_000);
});

test('a missing interpreter is reported and nothing starts', 60_000, async () => {
  const config = vscode.workspace.getConfiguration('hbpo');
  await config.update('pythonPath', '/nonexistent/bin/python3', vscode.ConfigurationTarget.Workspace);
  try {
    const before = runFolders();
    const result = await vscode.commands.executeCommand('hbpo.startTraining', vscode.Uri.file(join(folder, 'tiny.yaml')));
    assert.equal(result, undefined, 'no run started');
    assert.deepEqual(runFolders(), before, 'no run folder appeared');
  } finally {
    await config.update('pythonPath', undefined, vscode.ConfigurationTarget.Workspace);
  }
});

test('an invalid config gets diagnostics at the problem lines, nothing starts, and a fixed save clears them', 180_000, async () => {
  const uri = vscode.Uri.file(join(folder, 'bad.yaml'));
  const before = runFolders();
  const result = await vscode.commands.executeCommand('hbpo.startTraining', uri);
  assert.equal(result, undefined, 'no run started');
  assert.deepEqual(runFolders(), before, 'no run folder appeared');
  const diags = vscode.languages.getDiagnostics(uri);
  assert.ok(diags.length >= 1, 'diagnostics published');
  const text = readFileSync(uri.fsPath, 'utf8').split('\n');
  const tiersLine = text.findIndex((l) => l.startsWith('tiers:'));
  const tiers = diags.find((d) => String(d.message).startsWith('tiers'));
  assert.ok(tiers, `a diagnostic about tiers (got: ${diags.map((d) => d.message).join(' | ')})`);
  assert.equal(tiers.range.start.line, tiersLine, 'at the tiers: line');
  assert.equal(tiers.severity, vscode.DiagnosticSeverity.Error);
  assert.equal(tiers.source, 'hbpo');
  // The config was opened for the user.
  assert.equal(vscode.window.activeTextEditor?.document.uri.fsPath, uri.fsPath, 'the config is open');
  // Fix it in the editor and save: it is validated again and the diagnostics go.
  const doc = await vscode.workspace.openTextDocument(uri);
  const edit = new vscode.WorkspaceEdit();
  edit.replace(uri, doc.lineAt(tiersLine).range, 'tiers: [8, 16]');
  assert.ok(await vscode.workspace.applyEdit(edit));
  assert.ok(await doc.save());
  await waitFor('diagnostics cleared after the fixed save', () => vscode.languages.getDiagnostics(uri).length === 0, 120_000, 500);
});

let ownRun: string;

test('Start Training runs the tiny config: the run appears as running and emits steps', 240_000, async () => {
  const result = await vscode.commands.executeCommand<{ runDir?: string; pid?: number }>('hbpo.startTraining', vscode.Uri.file(join(folder, 'tiny.yaml')));
  assert.ok(result?.runDir, 'the command returns the run folder');
  assert.ok(result.pid && result.pid > 0, 'and the trainer pid');
  ownRun = result.runDir;
  assert.equal(join(ownRun, '..'), runsDir, 'the run is written in hbpo.runsDirectory');
  const r = await waitFor('the run running with 2 steps', () => {
    const e = api.run(ownRun);
    return e && e.status === 'running' && e.step >= 2 ? e : undefined;
  }, 180_000, 500);
  assert.equal(r.owned, true);
  assert.ok(r.totalSteps && r.totalSteps >= 100);
  assert.equal(r.pid, result.pid, 'run_start names the process the command started');
});

test('Stop Training stops it cleanly with a checkpoint; its output was captured', 180_000, async () => {
  const summary = await vscode.commands.executeCommand<StopSummary>('hbpo.stopTraining', ownRun);
  assert.ok(summary, 'stop returns a summary');
  assert.equal(summary.status, 'stopped');
  assert.ok(summary.checkpoint && summary.checkpointWritten, `checkpoint written (${summary.checkpoint})`);
  assert.ok(existsSync(summary.checkpoint!), 'checkpoint folder exists');
  await waitFor('the run shown as stopped', () => api.run(ownRun)?.status === 'stopped', 10_000);
  assert.equal(await vscode.commands.executeCommand('hbpo.showTrainerOutput', ownRun), true);
  assert.equal(await vscode.commands.executeCommand('hbpo.revealRunFolder', ownRun), true);
});

test('the panel commands open the dashboard, rollout inspector and reward explorer of a run', 60_000, async () => {
  for (const cmd of ['hbpo.openDashboard', 'hbpo.openRolloutInspector', 'hbpo.openRewardExplorer']) {
    assert.equal(await vscode.commands.executeCommand(cmd, ownRun), true, `${cmd} opened`);
  }
  const viewTypes = () => vscode.window.tabGroups.all.flatMap((g) => g.tabs)
    .map((t) => (t.input instanceof vscode.TabInputWebview ? t.input.viewType : ''));
  for (const type of ['hbpo.dashboard', 'hbpo.rollouts', 'hbpo.rewardExplorer']) {
    await waitFor(`a ${type} webview tab`, () => viewTypes().some((v) => v.endsWith(type)), 20_000);
  }
  await vscode.commands.executeCommand('workbench.action.closeAllEditors');
});

test('Resume Run continues the stopped run from its checkpoint; Stop ends it again', 240_000, async () => {
  const stoppedAt = api.run(ownRun)!.step;
  const result = await vscode.commands.executeCommand<{ runDir?: string; pid?: number }>('hbpo.resumeRun', ownRun);
  assert.equal(result?.runDir, ownRun);
  assert.ok(result?.pid);
  await waitFor('the resumed run training past its checkpoint', () => {
    const e = api.run(ownRun);
    return e && e.status === 'running' && e.step > stoppedAt + 1 ? e : undefined;
  }, 180_000, 500);
  const summary = await vscode.commands.executeCommand<StopSummary>('hbpo.stopTraining', ownRun);
  assert.equal(summary?.status, 'stopped');
  assert.ok(summary?.checkpointWritten);
});

test('re-attaches to a trainer it did not start (as after a reload) and stops it by pid', 300_000, async () => {
  // Started outside the extension (a terminal, or a window that was reloaded): stdio not piped to us.
  const child = spawn(python, ['-m', 'hbpo', 'train', '--config', join(folder, 'tiny.yaml'), '--set', `run.dir=${JSON.stringify(runsDir)}`, '--set', 'run.name="outside"'], {
    cwd: folder, detached: true, stdio: 'ignore',
  });
  child.unref();
  const dir = join(runsDir, 'outside');
  try {
    const r = await waitFor('the outside run listed as running with steps', () => {
      const e = api.run(dir);
      return e && e.status === 'running' && e.step >= 1 ? e : undefined;
    }, 200_000, 500);
    assert.equal(r.owned, false);
    assert.equal(r.pid, child.pid);
    const summary = await vscode.commands.executeCommand<StopSummary>('hbpo.stopTraining', dir);
    assert.equal(summary?.status, 'stopped');
    assert.ok(summary?.checkpointWritten, 'checkpoint written');
    await waitFor('the outside run shown as stopped', () => api.run(dir)?.status === 'stopped', 10_000);
  } finally {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

test('a trainer that dies is marked failed', 240_000, async () => {
  const result = await vscode.commands.executeCommand<{ runDir?: string; pid?: number }>('hbpo.startTraining', vscode.Uri.file(join(folder, 'tiny.yaml')));
  assert.ok(result?.runDir && result.pid);
  await waitFor('run_start written', () => existsSync(join(result.runDir!, 'events.jsonl')) && readFileSync(join(result.runDir!, 'events.jsonl'), 'utf8').includes('run_start'), 120_000, 300);
  process.kill(-result.pid, 'SIGKILL');
  const r = await waitFor('the run marked failed', () => {
    const e = api.run(result.runDir!);
    return e?.status === 'failed' ? e : undefined;
  }, 30_000, 300);
  assert.match(r.error ?? '', /SIGKILL/);
});

// ---- entry point ---------------------------------------------------------------------------------
export async function run(): Promise<void> {
  const failures: string[] = [];
  const started = Date.now();
  for (const t of tests) {
    const t0 = Date.now();
    try {
      await Promise.race([
        t.fn(),
        new Promise((_, reject) => setTimeout(() => reject(new Error(`test timed out after ${t.timeoutMs} ms`)), t.timeoutMs)),
      ]);
      log(`ok   ${t.name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    } catch (err) {
      failures.push(t.name);
      log(`FAIL ${t.name} (${((Date.now() - t0) / 1000).toFixed(1)} s)\n${(err as Error)?.stack ?? String(err)}`);
      if (!api) break; // nothing else can work
    }
  }
  log(`${tests.length - failures.length}/${tests.length} passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  if (failures.length > 0) throw new Error(`${failures.length} extension-host test(s) failed: ${failures.join('; ')}`);
}
