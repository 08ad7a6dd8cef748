// `npm start`: the main job, on a fresh clone with nothing installed.
//   1. set up (npm ci, the Python venv) if needed;
//   2. start an HBPO run on the built-in default (the testbed; built into the cache on first use,
//      about 10 minutes on two cores; the CPU unless a GPU is present), in runs/;
//   3. package the extension (.vsix) and start code-server with it installed (isolated user data and
//      extensions in ~/.cache/hbpo-studio/studio, or $HBPO_STUDIO_HOME), this folder open and the
//      run's dashboard showing;
//   4. print the local URL; Ctrl+C stops the run with a checkpoint, then code-server.
// When training ends, code-server keeps serving until Ctrl+C. When the editor cannot start, the run is
// stopped (with a checkpoint) and this exits 1, naming what failed, its log and the command to retry.
//
// Options (before any trainer arguments):
//   --no-ui        train only, no code-server
//   --desktop      install the .vsix into the desktop VS Code (`code` on PATH) and open this folder
//                  there, instead of code-server
//   --port N       code-server's port (default 8080, or a free one when taken)
// Everything else goes to `python -m hbpo train`, e.g. `npm start -- --set train.steps=50`.
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { root, run, setup, venvPython } from './setup.mjs';

const log = (msg) => console.log(`[hbpo] ${msg}`);
const args = process.argv.slice(2);
const take = (flag) => {
  const i = args.indexOf(flag);
  if (i < 0) return false;
  args.splice(i, 1);
  return true;
};
const takeValue = (flag) => {
  const i = args.indexOf(flag);
  if (i < 0) return undefined;
  const [, value] = args.splice(i, 2);
  return value;
};
const noUi = take('--no-ui');
const desktop = take('--desktop');
const wantedPort = Number(takeValue('--port') ?? 8080);

setup();
const home = process.env.HBPO_STUDIO_HOME || join(homedir(), '.cache', 'hbpo-studio', 'studio');
mkdirSync(home, { recursive: true });

// The first run on a machine trains the testbed's base model before step 1: say so before it starts.
if (!args.includes('--config')) {
  const status = spawnSync(venvPython, ['-m', 'hbpo', 'testbed', 'status'], { cwd: root, encoding: 'utf8' });
  let cached = true;
  try {
    cached = JSON.parse(status.stdout).cached;
  } catch { /* no verdict: the trainer reports any problem itself */ }
  if (!cached) {
    log('first start on this machine: before step 1 the trainer builds the testbed\'s base model (SFT of a');
    log('  1.1 M-parameter Llama on over-thinking traces: about 16 minutes on 2 CPU cores, once; then cached).');
    log(noUi ? '  Its progress follows below.' : '  The editor opens meanwhile; the run\'s dashboard shows the build\'s progress.');
  }
}

// ---- the run ---------------------------------------------------------------------------------------
const named = args.some((a, i) => args[i - 1] === '--set' && a.startsWith('run.name='));
const runName = `hbpo-${new Date().toISOString().slice(0, 19).replace(/[-:]/g, '').replace('T', '-')}`;
const trainArgs = ['-m', 'hbpo', 'train', ...(named ? [] : ['--set', `run.name=${runName}`]), ...args];
const runDir = named ? undefined : join(root, 'runs', runName);
log(`training: ${venvPython} ${trainArgs.join(' ')}`);
// Its own process group: Ctrl+C in this terminal reaches us, and we stop the trainer on purpose
// (SIGINT: it finishes the step, writes a checkpoint and run_end) only after code-server is told.
const trainer = spawn(venvPython, trainArgs, { cwd: root, stdio: 'inherit', detached: true });
let trainerExit;
const trainerDone = new Promise((resolve) => trainer.on('exit', (code, signal) => {
  trainerExit = code ?? (signal ? 1 : 0);
  resolve(trainerExit);
}));

// ---- the editor ------------------------------------------------------------------------------------
let server;
async function freePort(preferred) {
  const tryPort = (port) => new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(undefined));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(s.address()?.port ?? port)));
  });
  return (await tryPort(preferred)) ?? (await tryPort(0));
}

/** An editor set-up step that failed: what, and the log that says why. */
class EditorError extends Error {
  constructor(message, logFile) {
    super(message);
    this.logFile = logFile;
  }
}
const setupLog = join(home, 'editor-setup.log');

/** Run a set-up step with its output in setupLog; a failure names the step and the log. */
function step(what, fn) {
  appendFileSync(setupLog, `\n## ${what}\n`);
  try {
    return fn();
  } catch (err) {
    appendFileSync(setupLog, `ERROR: ${what} failed: ${err.message}\n`);
    throw new EditorError(`${what} failed: ${err.message}`, setupLog);
  }
}

async function startEditor() {
  writeFileSync(setupLog, `# npm start, ${new Date().toISOString()}: setting up the editor\n`);
  const logFd = openSync(setupLog, 'a');
  const quiet = { cwd: root, stdio: ['ignore', logFd, logFd] };
  log('packaging the extension…');
  step('packaging the extension (npm run package)', () => run('npm', ['run', '--silent', 'package'], quiet));
  const vsix = join(root, 'dist', 'hbpo-studio.vsix');
  if (desktop) {
    step('installing the extension into VS Code (code --install-extension)', () => run('code', ['--install-extension', vsix, '--force'], quiet));
    step('opening VS Code (code)', () => run('code', [root], quiet));
    log(`installed ${vsix} into VS Code and opened ${root}; the run is in the HBPO view (Runs)`);
    return;
  }
  const { ensureTools, toolPaths } = await import('./e2e-tools.mjs');
  if (!existsSync(toolPaths().codeServer)) log('installing the editor (Node 24 and code-server, once per machine: 2-4 minutes)…');
  const tools = step('installing the editor (Node 24 and code-server)', () => ensureTools({ browser: false, log: setupLog }));
  const userData = join(home, 'user-data');
  const extensions = join(home, 'extensions');
  for (const scope of ['User', 'Machine']) {
    mkdirSync(join(userData, scope), { recursive: true });
    writeFileSync(join(userData, scope, 'settings.json'), JSON.stringify({
      'hbpo.pythonPath': venvPython, 'telemetry.telemetryLevel': 'off', 'update.mode': 'none',
      'workbench.startupEditor': 'none', 'extensions.autoCheckUpdates': false, 'chat.disableAIFeatures': true,
      'workbench.secondarySideBar.defaultVisibility': 'hidden',
    }, null, 2));
  }
  step('installing the extension into code-server', () => run(tools.node,
    [tools.codeServer, '--install-extension', vsix, '--force', '--extensions-dir', extensions, '--user-data-dir', userData], quiet));
  const port = await freePort(wantedPort);
  const serverLog = join(home, 'code-server.log');
  const out = openSync(serverLog, 'w');
  server = spawn(tools.node, [tools.codeServer, '--bind-addr', `127.0.0.1:${port}`, '--auth', 'none',
    '--user-data-dir', userData, '--extensions-dir', extensions, '--disable-telemetry', '--disable-update-check',
    '--disable-getting-started-override', '--disable-workspace-trust'], {
    // The window opens this run's dashboard (extension.ts reads HBPO_OPEN_RUN).
    env: { ...process.env, ...(runDir ? { HBPO_OPEN_RUN: runDir } : {}) },
    detached: true, stdio: ['ignore', out, out],
  });
  const url = `http://127.0.0.1:${port}/?folder=${encodeURIComponent(root)}`;
  for (let i = 0; ; i++) {
    if (server.exitCode !== null) throw new EditorError(`code-server exited with ${server.exitCode} while starting`, serverLog);
    const ok = await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok).catch(() => false);
    if (ok) break;
    if (i >= 120) throw new EditorError(`code-server did not answer on port ${port} within 60 s`, serverLog);
    await new Promise((r) => setTimeout(r, 500));
  }
  log(`HBPO Studio is at ${url}`);
  log(`  (VS Code in the browser, with the run's dashboard; Ctrl+C stops the run with a checkpoint, then the editor)`);
  console.log(`HBPO_STUDIO_URL=${url}`);
}

// ---- stopping --------------------------------------------------------------------------------------
let stopping = false;
async function stopAll(code) {
  if (stopping) return;
  stopping = true;
  if (trainerExit === undefined) {
    log('stopping the run (it writes a checkpoint first)…');
    try { process.kill(-trainer.pid, 'SIGINT'); } catch { /* gone */ }
    const timer = setTimeout(() => { try { process.kill(-trainer.pid, 'SIGKILL'); } catch { /* gone */ } }, 120_000);
    await trainerDone;
    clearTimeout(timer);
  }
  if (server && server.exitCode === null) {
    try { process.kill(-server.pid, 'SIGTERM'); } catch { /* gone */ }
  }
  log('stopped');
  process.exit(code ?? trainerExit ?? 0);
}
process.on('SIGINT', () => void stopAll());
process.on('SIGTERM', () => void stopAll());

/** The last lines of a log, indented, for the terminal. */
function tail(file, n = 15) {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-n).map((l) => `    ${l}`).join('\n');
  } catch {
    return '    (no log)';
  }
}

const editor = noUi ? Promise.resolve() : startEditor().catch(async (err) => {
  log(`ERROR: the editor could not start: ${err.message}`);
  if (err.logFile) log(`  its log, ${err.logFile}, ends with:\n${tail(err.logFile)}`);
  log('  Retry with `npm start` (set-up continues where it stopped), or train without the editor: `npm start -- --no-ui`.');
  if (runDir) log(`  This run stops now with a checkpoint; continue it with: .venv/bin/python -m hbpo resume ${runDir}`);
  await stopAll(1);
});
const code = await trainerDone;
await editor;
if (stopping) {
  // stopAll exits
} else if (server && server.exitCode === null) {
  log(`training ended (exit ${code}); the editor keeps serving until Ctrl+C`);
} else {
  process.exit(code);
}
