// `npm run test:e2e`: the packaged extension in a real VS Code (code-server 4.139.1 = Code 1.139.1)
// driven by Chromium through playwright-core, following ../shared/notes/E2E-IN-CODE-SERVER.md.
//   1. tools: Node 24, code-server and Chromium, installed once per machine outside the project
//      (scripts/e2e-tools.mjs, ~/.cache/hbpo-studio/e2e);
//   2. `npm run package` -> dist/hbpo-studio.vsix, installed into a temporary extensions folder;
//   3. code-server started isolated (temp user data, extensions, XDG folders, no gallery) in its own
//      process group, waited on through /healthz;
//   4. extension-host tests (test/e2e/host/index.ts, bundled here) run inside the real extension host
//      through the smoke-test driver, reporting through codeAutomationLog / codeAutomationExit;
//   5. a UI scenario through the command palette: start a tiny training run (config picked in the
//      quick pick), see it in the Runs view and the status bar, open its dashboard webview, hold
//      its histogram step and inspect the rollouts at that step (one row per rollout, grouped by
//      tier), open a rollout's trace document from the table, stop the run;
//   6. everything stopped by process group (code-server, and any trainer left), also on failure.
// Screenshots (on failure, and of the dashboard, the inspector and a trace) go to test/e2e/screenshots/
// (git-ignored).
// Skipped with a printed reason only when the tools cannot be installed and CI is not set.
//   7. Restricted Mode: a second code-server with Workspace Trust on; Start/Resume say why they do
//      nothing, and nothing is spawned.
//  10. a big run (a generated events.jsonl of ~500 MB): its dashboard draws the first chart while the
//      rest of the file is still being read, says it is loading, and fills in.
//  11. a run trained elsewhere: HBPO: Open Run... on a copy of the TRL fixture (GRPOTrainer's
//      completions parquet), typed into VS Code's simple file dialog; the Runs view lists it with its
//      TRL badge and its dashboard shows the source, the tiers and drawn charts.
// HBPO_E2E_KEEP=1 keeps the temporary folder; HBPO_E2E_ONLY=host,ui,compare,payload,main,setup,trust,bigrun,external runs some parts.
// The UI scenario reloads the window while the run trains: the run must keep training (the trainer
// outlives the extension host that read its pipes) and be re-attached. HBPO_E2E_RELOAD=0 skips it.
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync, openSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureTools } from '../../scripts/e2e-tools.mjs';
import { testbedGguf } from '../fixtures/testbedGguf.mjs';
import { generate, PAPER_SHAPE } from '../../scripts/genRun.mjs';
import { parquetReadObjects } from 'hyparquet';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CI = ['true', '1'].includes(String(process.env.CI ?? '').toLowerCase());
const ONLY = (process.env.HBPO_E2E_ONLY ?? '').split(',').filter(Boolean);
const wants = (part) => ONLY.length === 0 || ONLY.includes(part);
const screenshots = join(root, 'test', 'e2e', 'screenshots');
const venvPython = join(root, '.venv', 'bin', 'python');
const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;
const log = (msg) => console.log(`[e2e ${elapsed()}] ${msg}`);
// Each failure's first lines, repeated after the verdict: CI shows only the tail of a long log.
const failures = [];
function failure(label, err) {
  log(`${label} FAILED: ${err.stack ?? err.message}`);
  failures.push(`${label}: ${String(err.message ?? err).split('\n').slice(0, 3).join(' | ').slice(0, 600)}`);
}

function skipOrFail(reason) {
  if (CI) {
    console.error(`[e2e] FAIL: ${reason} (CI is set, so the end-to-end tests may not be skipped)`);
    process.exit(1);
  }
  console.log(`[e2e] SKIPPED: ${reason}`);
  process.exit(0);
}

// ---- 1. tools -------------------------------------------------------------------------------------
let tools;
try {
  tools = ensureTools();
} catch (err) {
  skipOrFail(`the end-to-end tools could not be installed: ${err.message}`);
}
if (!existsSync(venvPython)) skipOrFail(`the trainer's virtual environment is missing (${venvPython}); run npm run setup`);
log(`tools ready: code-server ${tools.codeServer}, chromium ${tools.chromium}`);

// ---- 2. package -----------------------------------------------------------------------------------
const pkg = spawnSync('npm', ['run', '--silent', 'package'], { cwd: root, encoding: 'utf8' });
if (pkg.status !== 0) {
  console.error(pkg.stdout, pkg.stderr);
  console.error('[e2e] FAIL: npm run package failed');
  process.exit(1);
}
const vsix = join(root, 'dist', 'hbpo-studio.vsix');
log(`packaged ${vsix}`);

// ---- temp layout ----------------------------------------------------------------------------------
const tmp = mkdtempSync(join(tmpdir(), 'hbpo-e2e-'));
const dirs = {
  userData: join(tmp, 'user-data'),
  extensions: join(tmp, 'extensions'),
  xdgConfig: join(tmp, 'xdg', 'config'),
  xdgData: join(tmp, 'xdg', 'data'),
  xdgCache: join(tmp, 'xdg', 'cache'),
  hostTests: join(tmp, 'host-tests'),
  wsHost: join(tmp, 'ws-host'),
  wsUi: join(tmp, 'ws-ui'),
  userDataRestricted: join(tmp, 'user-data-restricted'),
  wsRestricted: join(tmp, 'ws-restricted'),
  wsCompare: join(tmp, 'ws-compare'),
  wsBig: join(tmp, 'ws-big'),
  wsExternal: join(tmp, 'ws-external'),
  userDataSetup: join(tmp, 'user-data-setup'),
  wsSetup: join(tmp, 'ws-setup'),
  homeSetup: join(tmp, 'home-setup'),
};
for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true });
mkdirSync(screenshots, { recursive: true });

const env = {
  ...process.env,
  XDG_CONFIG_HOME: dirs.xdgConfig,
  XDG_DATA_HOME: dirs.xdgData,
  XDG_CACHE_HOME: dirs.xdgCache,
  EXTENSIONS_GALLERY: '{}',
  PATH: `${join(tools.nodeDir, 'bin')}:${process.env.PATH}`,
  // The trainers the tests start share two busy cores with everything else.
  OMP_NUM_THREADS: '1',
};
delete env.VSCODE_IPC_HOOK_CLI;

// ---- the workspaces -------------------------------------------------------------------------------
const tinyConfig = readFileSync(join(root, 'test', 'fixtures', 'tiny.yaml'), 'utf8');
/** What the inspector must show of the tiny run: its tiers and rollouts per query (all tiers together). */
const tinyTiers = JSON.parse(/^tiers: (\[[\d, ]+\])$/m.exec(tinyConfig)[1]);
const tinyRolloutsPerQuery = Number(/^rollouts_per_query: (\d+)$/m.exec(tinyConfig)[1]);
for (const ws of [dirs.wsHost, dirs.wsUi, dirs.wsRestricted]) {
  writeFileSync(join(ws, 'tiny.yaml'), tinyConfig);
  writeFileSync(join(ws, 'notes.yaml'), 'title: not a trainer config\nitems: [1, 2]\n');
}
if (!tinyConfig.includes('tiers: [8, 16]')) throw new Error('test/fixtures/tiny.yaml: expected tiers: [8, 16]');
writeFileSync(join(dirs.wsHost, 'bad.yaml'), tinyConfig.replace('tiers: [8, 16]', 'tiers: [16, 8]'));
{
  // A stopped run for the Restricted Mode window to list (and to refuse to resume).
  const t = Date.now() / 1000 - 100;
  const ev = (type, step, extra, time) => `${JSON.stringify({ v: 1, type, time, step, ...extra })}\n`;
  mkdirSync(join(dirs.wsRestricted, 'runs', 'fx-stopped'), { recursive: true });
  writeFileSync(join(dirs.wsRestricted, 'runs', 'fx-stopped', 'events.jsonl'),
    ev('run_start', 0, { run_id: 'fx-stopped', config: {}, method: 'hbpo', tiers: [8, 16], max_response_tokens: 24, total_steps: 10,
      device: 'cpu', dtype: 'float32', pid: 1, resumed_from_step: null }, t) +
    ev('step', 1, { metrics: { 'reward/mean': 0.5 } }, t + 1) + ev('run_end', 1, { status: 'stopped', checkpoint: null }, t + 2));
}

// The comparison workspace: the project's own model, the testbed's base model exported to GGUF
// (test/fixtures/testbedGguf.mjs: built and exported on first use, then cached), with two of the
// built-in default's tiers and its L_max (testbed traces end by 248 tokens), so every column finishes
// in seconds on a CPU; and a finished run whose rollout carries HTML and script payloads.
let compareModel = '';
let compareModelError;
if (wants('compare')) {
  try {
    compareModel = testbedGguf({ python: venvPython });
    log(`Compare: the testbed model as GGUF: ${compareModel}`);
  } catch (err) {
    compareModelError = err;
    log(`Compare: no testbed GGUF: ${err.message}`);
  }
}
const compareTiers = [32, 128];
const compareLMax = 256;
/** A testbed-style problem (trainer/hbpo/testbed/problems.py) and its answer. */
const compareProblem = { problem: 'Let a = 7 + 5, b = a * 3. What is b?', answer: '36' };
mkdirSync(join(dirs.wsCompare, '.vscode'), { recursive: true });
writeFileSync(join(dirs.wsCompare, '.vscode', 'settings.json'), JSON.stringify({
  'hbpo.inference.modelPath': compareModel, 'hbpo.compare.tiers': compareTiers,
  'hbpo.compare.maxResponseTokens': compareLMax, 'hbpo.compare.temperature': 0.8,
}, null, 2));
const PAYLOADS = [
  '<img src=x onerror="window.__hbpoPwned=1">',
  '<script>window.__hbpoPwned=2</script>',
  '<b id="hbpo-injected">bold?</b>',
  '[click](command:hbpo.startTraining) <a href="javascript:window.__hbpoPwned=3">link</a>',
];
{
  const t = Date.now() / 1000 - 100;
  const ev = (type, step, extra, time) => `${JSON.stringify({ v: 1, type, time, step, ...extra })}\n`;
  const text = `Let me think. ${PAYLOADS[0]}\nWait, ${PAYLOADS[1]} then ${PAYLOADS[2]}.\n${PAYLOADS[3]}\nSo the answer is \\boxed{${PAYLOADS[2]}}`;
  const dir = join(dirs.wsCompare, 'runs', 'fx-payload');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'events.jsonl'),
    ev('run_start', 0, { run_id: 'fx-payload', config: { reward: { name: 'hbpo', variant: 'paper' } }, method: 'hbpo', tiers: [8, 16],
      max_response_tokens: 64, total_steps: 1, device: 'cpu', dtype: 'float32', pid: 1, resumed_from_step: null }, t) +
    ev('rollout', 1, {
      query_id: `q-${PAYLOADS[2]}`, query_index: 0, sample: 0, tier: 8, problem: `Solve ${PAYLOADS[0]} ${PAYLOADS[1]}`, difficulty: 'easy',
      prompt: `<think>\nI will answer the question within 8 tokens.\n`, text, n_gen: 40,
      token_marks: [[0, 0], [8, 30], [16, 70], [32, 150], [40, [...text].length]],
      truncated: false, correct: false, answer: PAYLOADS[2], ground_truth: PAYLOADS[1],
      reward: { reward: 0, cos: 3.39, penalty: 0.5, f1: 2.89, f2: 3.97, case: 'wrong' },
      advantage: { intra: -0.5, inter: -1, total: -1.5 },
    }, t + 1) +
    ev('step', 1, { metrics: { 'reward/mean': 0 } }, t + 2) + ev('run_end', 1, { status: 'finished', checkpoint: null }, t + 3));
  // A run still preparing (the testbed's first build, before run_start): its progress is log events.
  const preparing = join(dirs.wsCompare, 'runs', 'fx-preparing');
  mkdirSync(preparing, { recursive: true });
  writeFileSync(join(preparing, 'events.jsonl'),
    ev('log', 0, { level: 'info', message: 'testbed: building the base model into /tmp/x (once per machine)' }, t) +
    ev('log', 0, { level: 'info', message: `testbed: sft step 600/2375 loss 0.2877 ${PAYLOADS[2]}` }, t + 1));
}

const userSettings = {
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'extensions.autoUpdate': false,
  'extensions.autoCheckUpdates': false,
  'chat.disableAIFeatures': true,
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'window.restoreWindows': 'none',
  'files.hotExit': 'off',
  'hbpo.pythonPath': venvPython,
};
// hbpo.pythonPath is machine-overridable: in code-server (a remote window) it is read from the
// machine settings, as "Remote" settings are in any remote window; the rest are user settings.
for (const scope of ['User', 'Machine']) {
  mkdirSync(join(dirs.userData, scope), { recursive: true });
  writeFileSync(join(dirs.userData, scope, 'settings.json'), JSON.stringify(userSettings, null, 2));
  // Workspace Trust on, no start-up prompt: a folder opens in Restricted Mode.
  mkdirSync(join(dirs.userDataRestricted, scope), { recursive: true });
  writeFileSync(join(dirs.userDataRestricted, scope, 'settings.json'), JSON.stringify({
    ...userSettings, 'security.workspace.trust.enabled': true, 'security.workspace.trust.startupPrompt': 'never',
    'security.workspace.trust.emptyWindow': false,
  }, null, 2));
}

// ---- process bookkeeping --------------------------------------------------------------------------
const servers = []; // child processes, each the leader of its own process group
let browser;
function killGroup(pid, signal = 'SIGTERM') {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}
/** Trainers are their own process groups: find every run_start pid under the workspaces and end it. */
function killTrainers() {
  for (const ws of [dirs.wsHost, dirs.wsUi, dirs.wsRestricted, dirs.wsSetup]) {
    const runs = join(ws, 'runs');
    if (!existsSync(runs)) continue;
    for (const id of readdirSync(runs)) {
      let text = '';
      try {
        text = readFileSync(join(runs, id, 'events.jsonl'), 'utf8');
      } catch {
        continue;
      }
      for (const m of text.matchAll(/"type": ?"run_start".*?"pid": ?(\d+)/g)) {
        const pid = Number(m[1]);
        if (pid <= 1 || pid === process.pid) continue;
        let cmd = '';
        try {
          cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        } catch {
          continue;
        }
        if (cmd.includes('hbpo') && killGroup(pid, 'SIGKILL')) log(`killed leftover trainer ${pid} (${id})`);
      }
    }
  }
}
let cleanedUp = false;
async function cleanup() {
  if (cleanedUp) return;
  cleanedUp = true;
  try {
    await browser?.close();
  } catch {
    // already gone
  }
  for (const server of servers) {
    killGroup(server.pid, 'SIGTERM');
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && killGroup(server.pid, 0)) await new Promise((r) => setTimeout(r, 100));
    killGroup(server.pid, 'SIGKILL');
  }
  killTrainers();
}
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    void cleanup().finally(() => process.exit(130));
  });
}

async function freePort() {
  return new Promise((resolvePort, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolvePort(port));
    });
  });
}

async function waitHealthy(server, url, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const r = await fetch(`${url}/healthz`);
      if (r.ok) return;
    } catch {
      // not listening yet
    }
    if (server.exitCode !== null) throw new Error(`code-server exited with ${server.exitCode}; see the code-server log in ${tmp}`);
    if (Date.now() > deadline) throw new Error(`code-server not healthy after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function shot(page, name) {
  if (!page || page.isClosed()) return;
  const file = join(screenshots, `${name}.png`);
  try {
    await page.screenshot({ path: file, fullPage: true });
    log(`screenshot ${file}`);
  } catch (err) {
    log(`screenshot ${name} failed: ${err.message}`);
  }
}

// ---- UI helpers -----------------------------------------------------------------------------------
async function waitWorkbench(page) {
  await page.waitForFunction(() => performance.getEntriesByName('code/didLoadExtensions').length > 0, null, { timeout: 90_000 });
}

/**
 * Run a palette command by its title ("HBPO: Start Training"). Retried: the list can lag, and the
 * palette can close again right after it opens when focus moves under it (a webview taking focus, a
 * notification arriving), so an attempt whose input vanished before it was typed into starts over.
 */
async function palette(page, title) {
  const input = page.locator('.quick-input-widget .quick-input-box input');
  for (let attempt = 0; ; attempt++) {
    try {
      await page.keyboard.press('Escape');
      await page.keyboard.press('F1');
      await input.waitFor({ state: 'visible', timeout: 15_000 });
      await input.fill(`>${title}`, { timeout: 5_000 });
      const row = page.locator('.quick-input-widget .monaco-list-row', { hasText: title }).first();
      await row.waitFor({ state: 'visible', timeout: 15_000 });
      await row.click({ timeout: 5_000 });
      return;
    } catch (err) {
      if (attempt >= 2) throw new Error(`palette: could not run "${title}" (${err.message})`);
      await page.waitForTimeout(500);
    }
  }
}

/** Fail fast with the text of an HBPO error notification, if one shows. */
async function hbpoError(page) {
  const toast = page.locator('.notifications-toasts .notification-toast', { hasText: 'HBPO:' }).filter({ has: page.locator('.codicon-error') });
  if ((await toast.count()) === 0) return undefined;
  return (await toast.first().innerText()).replace(/\s+/g, ' ').trim();
}

/** A screenshot with the notification center open. */
async function showNotifications(page, name) {
  await palette(page, 'Notifications: Show Notifications');
  await page.locator('.notifications-center').waitFor({ state: 'visible', timeout: 10_000 }).catch(() => undefined);
  await shot(page, name);
  await page.keyboard.press('Escape');
}

/** Wait for a notification (toast or notification center) whose text matches `re`; returns that text. */
async function waitNotification(page, re, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const toast = page.locator('.notifications-toasts .notification-toast', { hasText: re });
    if (await toast.count() > 0) return (await toast.first().innerText()).replace(/\s+/g, ' ');
    await palette(page, 'Notifications: Show Notifications');
    const center = page.locator('.notifications-center');
    // The command can land while focus is moving (a webview closing): then the center stays hidden
    // and the next round asks again, until the deadline.
    const open = await center.waitFor({ state: 'visible', timeout: 10_000 }).then(() => true, () => false);
    const text = open ? (await center.innerText()).replace(/\s+/g, ' ') : '(the notification center did not open)';
    await page.keyboard.press('Escape');
    if (open && re.test(text)) return text;
    if (Date.now() > deadline) throw new Error(`no notification matching ${re} after ${timeoutMs} ms (center: ${text})`);
    await page.waitForTimeout(1000);
  }
}

async function waitRow(page, re, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  const rows = page.locator('.part.sidebar .monaco-list-row[aria-label]');
  for (;;) {
    const labels = await rows.evaluateAll((els) => els.map((e) => e.getAttribute('aria-label') ?? ''));
    const hit = labels.find((l) => re.test(l));
    if (hit) return hit;
    const err = await hbpoError(page);
    if (err) throw new Error(`${what}: error notification: ${err}`);
    if (Date.now() > deadline) throw new Error(`${what}: no Runs view row matching ${re} after ${timeoutMs} ms (rows: ${labels.join(' | ') || 'none'})`);
    await page.waitForTimeout(500);
  }
}

/** Poll `fn` until it returns a truthy value (returned); fail fast on an HBPO error notification. */
async function until(page, fn, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn().catch(() => undefined);
    if (value) return value;
    const err = await hbpoError(page);
    if (err) throw new Error(`${what}: error notification: ${err}`);
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs / 1000} s`);
    await page.waitForTimeout(250);
  }
}

/**
 * The page (inner frame) of the webview that shows `selector` with `hasText`, or undefined. With
 * more than one webview open, `iframe.webview.ready` matches several: pick the one by its content.
 */
async function webviewWith(page, selector, hasText) {
  const outer = page.locator('iframe.webview.ready');
  const n = await outer.count();
  for (let i = 0; i < n; i++) {
    const inner = outer.nth(i).contentFrame().locator('#active-frame').contentFrame();
    if (await inner.locator(selector, { hasText }).first().isVisible().catch(() => false)) return inner;
  }
  return undefined;
}

/** The text an editor shows (Monaco renders only the visible lines, each a positioned div). */
async function editorText(editor) {
  const lines = await editor.locator('.view-lines .view-line').evaluateAll((els) =>
    els.map((e) => ({ top: Number.parseFloat(e.style.top) || 0, text: e.textContent ?? '' })));
  return lines.sort((a, b) => a.top - b.top).map((l) => l.text.replace(/\u00a0/g, ' ')).join('\n');
}

/** One rollout event of a run, read from its events.jsonl (a line being written is skipped). */
function rolloutEvent(runDir, step, queryIndex, tier, sample) {
  for (const line of readFileSync(join(runDir, 'events.jsonl'), 'utf8').split('\n')) {
    if (!line.includes('"rollout"')) continue;
    let e;
    try {
      e = JSON.parse(line);
    } catch {
      continue;
    }
    if (e.type === 'rollout' && e.step === step && e.query_index === queryIndex && e.tier === tier && e.sample === sample) return e;
  }
  return undefined;
}

/** The editor of the tab named `tabName`, once that tab shows (fails after 30 s). */
async function editorOfTab(page, tabName) {
  const tab = page.locator('.tabs-container .tab', { hasText: tabName });
  await until(page, () => tab.first().isVisible(), 30_000, `no editor tab ${tabName} opened`);
  return page.locator('.editor-group-container', { has: page.locator('.tabs-container .tab.active', { hasText: tabName }) })
    .locator('.monaco-editor').first();
}

/** The CodeLens titles an editor shows, top to bottom. */
async function lensTitles(editor) {
  return editor.locator('.codelens-decoration').evaluateAll((els) => els.map((e) => (e.textContent ?? '').replace(/\u00a0/g, ' ').trim()));
}

/** The `before` decorations' texts (tier markers): CSS generated content on the decoration spans. */
async function markerTexts(editor) {
  return editor.locator('.view-lines span').evaluateAll((els) => els
    .map((e) => getComputedStyle(e, '::before').content)
    .filter((c) => c && c !== 'none' && c !== 'normal')
    .map((c) => c.replace(/^"|"$/g, '')));
}

/**
 * The trace's annotations match its event: the header lens has the tier, tokens, reward and
 * advantages; a marker shows each tier the trace crossed (exact, from the token marks); hovering
 * the trace's last word shows the tokens there and the reward under each tier.
 */
async function checkAnnotations(page, editor, event) {
  const lenses = await until(page, async () => {
    const t = await lensTitles(editor);
    return t.some((l) => l.startsWith('tier ')) ? t : undefined;
  }, 30_000, 'the trace shows no header lens');
  const head = lenses.find((l) => l.startsWith('tier '));
  const want = [`tier ${event.tier} · ${event.n_gen} tokens`, `reward ${event.reward.reward.toFixed(4)}`, `(case ${event.reward.case})`,
    `advantage intra ${event.advantage.intra.toFixed(4)} · inter ${event.advantage.inter.toFixed(4)} · total ${event.advantage.total.toFixed(4)}`];
  const lacking = want.filter((w) => !head.includes(w));
  if (lacking.length) throw new Error(`the header lens "${head}" lacks ${lacking.join('; ')}`);
  const crossed = event.tier === null ? [] : tinyTiers.filter((t) => event.token_marks?.some(([n]) => n === t) && event.n_gen > t);
  const markers = await until(page, async () => {
    const m = await markerTexts(editor);
    return crossed.every((t) => m.includes(`⟨${t}⟩`)) ? m : undefined;
  }, 15_000, `tier markers ${crossed.map((t) => `⟨${t}⟩`).join(' ')} (the trace has ${event.n_gen} tokens)`);
  log(`UI: trace annotations: lens "${head.slice(0, 90)}…", markers ${markers.filter((m) => m.startsWith('⟨')).join(' ') || 'none (within the first tier)'}`);
  // Hover the last word of the trace text: the tokens there and the reward under every tier.
  const lines = editor.locator('.view-lines .view-line');
  const lastLine = await lines.evaluateAll((els) => els.map((e, i) => ({ i, top: Number.parseFloat(e.style.top) || 0, t: (e.textContent ?? '').trim() }))
    .filter((x) => x.t.length > 0).sort((a, b) => b.top - a.top)[0]?.i);
  if (lastLine === undefined) throw new Error('the trace editor shows no text to hover');
  // The last word of the trace's own text: not a tier marker (⟨b⟩, injected text with no hover of
  // ours) nor blank; each retry takes the word before, in case the layout put something over it.
  const words = lines.nth(lastLine).locator('span span').filter({ hasText: /^[^⟨]*\S[^⟨]*$/ });
  const count = await words.count();
  if (count === 0) throw new Error('the trace\'s last line holds no word to hover');
  let pick = count - 1;
  let target = words.nth(pick);
  await target.hover();
  const hover = page.locator('.monaco-hover:visible').first();
  // A hover that came too early (the provider not ready, the editor still laying out) never fills
  // in: move away and back every few seconds.
  let hovered = Date.now();
  const hoverText = await until(page, async () => {
    const t = (await hover.innerText().catch(() => '')).replace(/\s+/g, ' ');
    if (/tokens/.test(t) && /tier \d+:/.test(t)) return t;
    if (Date.now() - hovered > 3000) {
      await page.mouse.move(0, 0);
      pick = pick > 0 ? pick - 1 : count - 1;
      target = words.nth(pick);
      await target.hover({ timeout: 5_000 }).catch(() => undefined);
      hovered = Date.now();
    }
    return undefined;
  }, 30_000, 'no hover with tokens and per-tier rewards over the trace text');
  const tiersShown = tinyTiers.filter((t) => hoverText.includes(`tier ${t}:`));
  if (tiersShown.length !== tinyTiers.length) throw new Error(`the hover shows tiers ${tiersShown.join(', ')}, not ${tinyTiers.join(', ')}: ${hoverText}`);
  log(`UI: hover: ${hoverText.slice(0, 160)}`);
  await page.keyboard.press('Escape');
}

/**
 * Start an isolated code-server in its own process group (detached = setsid) and wait for /healthz.
 * `extraArgs`: `--disable-workspace-trust` for every scenario that is not about Workspace Trust.
 */
async function startServer(name, userData, extraArgs, serverEnv = env) {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const config = join(tmp, `code-server-${name}.yaml`);
  writeFileSync(config, `bind-addr: 127.0.0.1:${port}\nauth: none\ncert: false\n`);
  const out = openSync(join(tmp, `code-server-${name}.log`), 'a');
  const server = spawn(tools.node, [tools.codeServer,
    '--config', config, '--user-data-dir', userData, '--extensions-dir', dirs.extensions,
    '--bind-addr', `127.0.0.1:${port}`, '--auth', 'none', '--disable-telemetry', '--disable-update-check',
    '--disable-getting-started-override', '--ignore-last-opened', '--reconnection-grace-time', '10',
    '--vscode-option', 'enable-smoke-test-driver', ...extraArgs,
  ], { env: serverEnv, detached: true, stdio: ['ignore', out, out] });
  servers.push(server);
  await waitHealthy(server, base, 60_000);
  log(`code-server (${name}) up at ${base} (pid ${server.pid})`);
  return { base, port };
}

/** Scenario 3: a budget comparison on the testbed model; every column finishes; meters, table and chart agree. */
async function compareScenario(page) {
  if (compareModelError) throw new Error(`the testbed GGUF could not be made: ${compareModelError.message}`);
  const modelName = basename(compareModel);
  log('Compare: HBPO: Compare Budgets on a Local Model');
  await palette(page, 'HBPO: Compare Budgets on a Local Model');
  const panel = await until(page, () => webviewWith(page, 'h1', 'Budget comparison'), 60_000, 'the comparison panel did not open');
  const modelLine = panel.locator('p.model-line');
  await until(page, async () => (await modelLine.getAttribute('data-status')) === 'loaded', 90_000,
    'the GGUF model (hbpo.inference.modelPath) did not load');
  const modelText = (await modelLine.innerText()).trim();
  if (!modelText.startsWith(`${modelName} · CPU · 1 thread · `) || !/ · \d+ parallel sequences × \d+ tokens · chat template$/.test(modelText)) {
    throw new Error(`the model line says "${modelText}"`);
  }
  log(`Compare: model loaded (${modelText})`);
  await panel.locator('vscode-textarea[aria-label="problem"] textarea').fill(compareProblem.problem);
  await panel.locator('vscode-textfield[aria-label="ground truth"] input').fill(compareProblem.answer);
  await panel.locator('vscode-textfield[aria-label="samples"] input').fill('2');
  const tiersShown = await panel.locator('vscode-textfield[aria-label="tiers"]').evaluate((el) => el.value);
  if (tiersShown !== compareTiers.join(', ')) throw new Error(`the tiers field shows "${tiersShown}", not the setting ${compareTiers.join(', ')}`);
  await panel.locator('vscode-button[aria-label="Run"]').click();
  const modes = [...compareTiers.map((t) => `tier:${t}`), 'natural', 'efficiency'];
  const cards = panel.locator('.column[data-key]');
  await until(page, async () => (await cards.count()) === modes.length * 2, 30_000, `${modes.length * 2} columns did not appear`);
  await until(page, async () => (await panel.locator('body').getAttribute('data-running')) === 'false' &&
    (await cards.evaluateAll((els) => els.every((e) => e.getAttribute('data-status') === 'done'))), 180_000, 'every column finished');
  const columns = await cards.evaluateAll((els) => els.map((e) => ({
    key: e.getAttribute('data-key'), mode: e.getAttribute('data-mode'), tokens: Number(e.getAttribute('data-tokens')),
    meter: e.querySelector('.meter-label')?.textContent ?? '', text: e.querySelector('.trace-text')?.textContent ?? '',
    answer: e.querySelector('.answer')?.textContent ?? '', reward: e.querySelector('.reward')?.textContent ?? '',
  })));
  for (const c of columns) {
    const budget = c.mode.startsWith('tier:') ? Number(c.mode.slice(5)) : null;
    const meter = budget === null ? `${c.tokens} tokens (no budget; limit ${compareLMax})` : `${c.tokens} / ${budget} tokens`;
    if (!c.meter.startsWith(meter)) throw new Error(`column ${c.key}: the meter says "${c.meter}", not "${meter}…"`);
    if (!(c.tokens > 0 && c.tokens <= compareLMax + 1) || c.text.length === 0) throw new Error(`column ${c.key}: ${c.tokens} tokens, ${c.text.length} characters`);
    if (!/answer: .* · (correct|wrong)$/.test(c.answer)) throw new Error(`column ${c.key} is not graded: "${c.answer}"`);
    if (!/^reward \d+\.\d{3} \((within|over|wrong|truncated|natural)\)/.test(c.reward)) throw new Error(`column ${c.key}: reward line "${c.reward}"`);
  }
  const table = await panel.locator('table.summary tbody tr').evaluateAll((rows) => rows.map((r) => ({
    mode: r.getAttribute('data-mode'), cells: [...r.cells].map((td) => td.textContent ?? ''),
  })));
  for (const mode of modes) {
    const row = table.find((r) => r.mode === mode);
    const tokens = columns.filter((c) => c.mode === mode).map((c) => c.tokens);
    const mean = (tokens.reduce((a, b) => a + b, 0) / tokens.length).toFixed(1);
    if (!row || row.cells[1] !== '2' || row.cells[3] !== mean || row.cells[4] !== tokens.join(', ')) {
      throw new Error(`the summary row of ${mode} is ${JSON.stringify(row?.cells)}; the columns have ${tokens.join(', ')} tokens (mean ${mean})`);
    }
  }
  const charts = await panel.locator('.summary-section canvas').count();
  if (charts < 1) throw new Error('the comparison shows no chart');
  // Graded, not asserted: the testbed base model over-thinks and its re-checks change about half its sampled answers.
  log(`Compare: ${columns.length} columns done (${columns.map((c) => `${c.key} ${c.tokens} ${/· (correct|wrong)$/.exec(c.answer)?.[1]}`).join(', ')}); ` +
    'table matches');
  await shot(page, 'compare');

  await panel.locator(`.column[data-key="tier:${compareTiers[0]}#0"] vscode-button[aria-label="open as trace"]`).click();
  const traceName = `${compareTiers[0]}-tokens-s0.txt`;
  const editor = await editorOfTab(page, traceName);
  const first = columns.find((c) => c.key === `tier:${compareTiers[0]}#0`);
  await until(page, async () => (await editorText(editor)).includes(`HBPO budget comparison · ${modelName}`), 30_000, 'the column trace document');
  const lens = await until(page, async () => (await lensTitles(editor)).find((l) => l.startsWith(`tier ${compareTiers[0]} · ${first.tokens} tokens`)),
    30_000, `the column trace's header lens (tier ${compareTiers[0]} · ${first.tokens} tokens)`);
  log(`Compare: the column opens as an annotated trace (${lens.slice(0, 80)}…)`);
  await shot(page, 'compare-trace');
  comparePassed = true;
}

/** A run that has not started yet shows on its dashboard what the trainer is preparing, as text. */
async function preparingScenario(page) {
  log('Preparing: HBPO: Open Run Dashboard on fx-preparing');
  await palette(page, 'HBPO: Open Run Dashboard');
  const row = page.locator('.quick-input-widget .monaco-list-row', { hasText: 'fx-preparing' }).first();
  await row.waitFor({ timeout: 15_000 });
  await row.click();
  const dashboard = await until(page, () => webviewWith(page, 'h1', 'fx-preparing'), 60_000, 'the dashboard of fx-preparing');
  const line = dashboard.locator('p.preparing');
  const text = await until(page, async () => (await line.isVisible()) && (await line.innerText()).trim(), 30_000, 'the preparing line');
  const want = `preparing · testbed: sft step 600/2375 loss 0.2877 ${PAYLOADS[2]}`;
  if (text !== want) throw new Error(`the dashboard says "${text}", not "${want}"`);
  if (await dashboard.locator('#hbpo-injected').count() !== 0) throw new Error('the log line was interpreted as HTML');
  const status = (await dashboard.locator('header .badge').allInnerTexts()).join(' ');
  if (!/pending/.test(status)) throw new Error(`the run is shown as "${status}", not pending`);
  log(`Preparing: the dashboard says "${text}"`);
  await shot(page, 'dashboard-preparing');
}

/**
 * HBPO: Open Run Dashboard, picking `id` when the command asks which run; the time of the click that
 * picked it. A webview that is still coming up can take the focus and close the quick pick under the
 * click (CI saw the row found, then "not stable", then "not visible" for 30 s): the pick is asked again.
 */
async function openDashboardOf(page, id) {
  for (let attempt = 1; ; attempt++) {
    await palette(page, 'HBPO: Open Run Dashboard');
    const row = page.locator('.quick-input-widget .monaco-list-row', { hasText: id }).first();
    await row.waitFor({ timeout: 15_000 });
    const at = Date.now();
    try {
      await row.click({ timeout: 10_000 });
      return at;
    } catch (err) {
      if (attempt === 3) throw err;
      log(`(the run pick closed before "${id}" was clicked: ${String(err.message).split('\n')[0]}; asking again)`);
      await page.keyboard.press('Escape').catch(() => {});
    }
  }
}

/** The paper's run shape cut to BIG_STEPS steps: ~12.5 MiB a step, so ~1 GiB (seconds to read). */
const BIG_STEPS = 80;

/**
 * Scenario 10: a big run's dashboard shows its first chart before the whole file is read (the
 * loading line still up), then fills in to every step, and the loading line goes.
 */
async function bigRunScenario(page, base) {
  const eventsPath = join(dirs.wsBig, 'runs', 'big-run', 'events.jsonl');
  mkdirSync(dirname(eventsPath), { recursive: true });
  const gen = await generate(eventsPath, { ...PAPER_SHAPE, steps: BIG_STEPS, seed: 3 });
  const small = join(dirs.wsBig, 'runs', 'small-run', 'events.jsonl');
  mkdirSync(dirname(small), { recursive: true });
  await generate(small, { ...PAPER_SHAPE, steps: 2, queries: 2, rollouts: 4, seed: 4 });
  log(`Big run: generated ${(gen.bytes / 2 ** 20).toFixed(0)} MiB, ${gen.lines} lines`);
  await page.goto(`${base}/?folder=${encodeURIComponent(dirs.wsBig)}`);
  await waitWorkbench(page);
  await palette(page, 'HBPO: Focus on Runs View');
  await waitRow(page, new RegExp(`^big-run, finished · ${BIG_STEPS}/${BIG_STEPS}`), 60_000, 'the big run listed');
  // A small run's dashboard first: the first webview of a window takes seconds to come up in
  // code-server, which is not what this measures.
  await openDashboardOf(page, 'small-run');
  await until(page, () => webviewWith(page, 'h1', 'small-run'), 60_000, 'the dashboard of small-run');
  const t0 = await openDashboardOf(page, 'big-run');
  log(`Big run: the command ran after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  let first;
  let last;
  let seen;
  for (;;) {
    const dashboard = await webviewWith(page, 'h1', 'big-run');
    if (dashboard) {
      // One look at the page: the loss chart's step count and the loading line, as of the same moment.
      const { points, loading } = await dashboard.locator('body').evaluate(() => ({
        points: Number(document.querySelector('[data-chart="loss"]')?.getAttribute('data-points') ?? 0),
        loading: document.querySelector('[data-testid="run-loading"]')?.textContent?.trim() ?? '',
      }), undefined, { timeout: 5000 }).catch(() => ({ points: 0, loading: '' }));
      last = { s: (Date.now() - t0) / 1000, points, loading };
      if (!seen) {
        seen = last;
        log(`Big run: the dashboard is up after ${seen.s.toFixed(1)} s (${points} steps drawn; "${loading}")`);
      }
      if (!first && points > 0) {
        first = last;
        log(`Big run: first chart after ${first.s.toFixed(1)} s: ${points} of ${BIG_STEPS} steps; "${loading}"`);
        if (!/^Loading… \d+ %/.test(loading)) throw new Error(`the first chart came with no loading line ("${loading}"): not before the whole file was read`);
        if (points >= BIG_STEPS) throw new Error('the first chart already has every step');
        await shot(page, 'big-run-loading');
      }
      if (first && points === BIG_STEPS && loading === '') break;
    }
    if (Date.now() - t0 > 180_000) throw new Error(`the big run's dashboard did not fill in within 180 s (last: ${JSON.stringify(last)})`);
    await page.waitForTimeout(100);
  }
  log(`Big run: every step drawn and the loading line gone after ${last.s.toFixed(1)} s`);
  await shot(page, 'big-run-done');
  bigPassed = true;
}

/**
 * What the TRL fixture holds, read from its parquet files with the reader the extension uses: the
 * steps, the budget of each completion (HBPO's sentence in the prompt) and rollouts per (step, tier).
 */
async function trlFixtureShape(dir) {
  const rows = [];
  for (const name of readdirSync(dir).filter((n) => /^completions_\d+\.parquet$/.test(n)).sort()) {
    const b = readFileSync(join(dir, name));
    rows.push(...await parquetReadObjects({ file: b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) }));
  }
  const count = new Map(); // step -> tier -> rollouts
  for (const r of rows) {
    const tier = Number(/I will answer the question within (\d+) tokens\./.exec(String(r.prompt))?.[1]);
    if (!Number.isInteger(tier)) throw new Error(`the TRL fixture has a prompt with no budget sentence: ${String(r.prompt).slice(-120)}`);
    const step = Number(r.step);
    if (!count.has(step)) count.set(step, new Map());
    count.get(step).set(tier, (count.get(step).get(tier) ?? 0) + 1);
  }
  const steps = [...count.keys()].sort((a, b) => a - b);
  const tiers = [...new Set([...count.values()].flatMap((m) => [...m.keys()]))].sort((a, b) => a - b);
  return { rollouts: rows.length, steps, tiers, count };
}

/** The histogram cards the dashboard shows: "<tier> tokens · step <s>" with "<n> rollouts · ...". */
async function histogramCards(dashboard) {
  return dashboard.locator('.grid.small .card:not([hidden])').evaluateAll((cards) => cards.map((c) => ({
    title: c.querySelector('h3')?.textContent ?? '', stats: c.querySelector('div.muted')?.textContent ?? '',
  })));
}

/**
 * Scenario 11: a run trained elsewhere opens. HBPO: Open Run... on a copy of the TRL fixture's
 * first step, typed into VS Code's simple file dialog (what showOpenDialog is in code-server); the
 * Runs view lists it with its TRL badge; the window reloads and TRL writes the next step's file,
 * which must reach the run (the folder is followed again at activation); its dashboard names the
 * source and shows every tier's rollouts per step as the parquet files hold them, and draws the
 * per-tier chart in each tier's colour.
 */
async function externalScenario(page, base) {
  const fixture = join(root, 'test', 'fixtures', 'external', 'trl');
  const shape = await trlFixtureShape(join(fixture, 'completions'));
  const last = shape.steps[shape.steps.length - 1];
  // A copy: the fixture is never written to, and a path under the workspace is what a user would pick.
  const source = join(dirs.wsExternal, 'grpo-output');
  // The folder as TRL leaves it after its first logging step: the later steps' files come after a
  // reload, as TRL writes them, and must reach the run (the folder is followed again at activation).
  cpSync(fixture, source, { recursive: true });
  const laterFiles = shape.steps.slice(1).map((s) => `completions_${String(s).padStart(5, '0')}.parquet`);
  for (const f of laterFiles) rmSync(join(source, 'completions', f));
  const label = `${basename(source)} · TRL · token counts estimated`;
  log(`External: the TRL fixture: ${shape.rollouts} completions, steps ${shape.steps.join(', ')}, tiers ${shape.tiers.join(', ')}`);
  await page.goto(`${base}/?folder=${encodeURIComponent(dirs.wsExternal)}`);
  await waitWorkbench(page);
  const t0 = Date.now();
  await palette(page, 'HBPO: Open Run...');
  // The simple file dialog: a quick input holding a path. Typing a folder path with a trailing slash
  // goes into it; Enter with no entry active opens the folder on show. The dialog lists folders as
  // the value changes, and an entry it made active meanwhile takes the Enter instead (a run here once
  // saw the dialog go back up to the workspace folder): then the path is typed again.
  const dialog = page.locator('.quick-input-widget', { hasText: 'Open a run' });
  await dialog.waitFor({ state: 'visible', timeout: 30_000 });
  await page.mouse.move(150, 600); // not over the dialog's list, where the palette row was clicked
  const input = dialog.locator('.quick-input-box input');
  const typed = `${source}/`;
  // The dialog may also put its own folder back into the input while it loads (a CI run saw it hold
  // the workspace folder 15 s after the fill): then the path is typed again too.
  for (let attempt = 1; ; attempt++) {
    await input.fill(typed);
    const listed = await until(page, async () => (await input.inputValue()) === typed &&
      dialog.locator('.monaco-list-row', { hasText: 'completions' }).first().isVisible(), 15_000, `the open dialog listing ${typed}`)
      .then(() => null, async (err) => `${err.message}; its input holds "${await input.inputValue().catch(() => '?')}"`);
    if (listed !== null) {
      if (attempt === 3) throw new Error(listed);
      log(`External: ${listed}; typing the path again`);
      continue;
    }
    const active = (await dialog.locator('.monaco-list-row.focused').allInnerTexts()).join(', ');
    await input.press('Enter');
    if (await dialog.waitFor({ state: 'hidden', timeout: 10_000 }).then(() => true, () => false)) break;
    const now = `its input holds "${await input.inputValue().catch(() => '?')}"; the entry active at Enter: ${active || 'none'}`;
    if (attempt === 3) throw new Error(`the open dialog did not open ${typed} after ${attempt} tries (${now})`);
    log(`External: the open dialog is still open after Enter (${now}); typing the path again`);
  }

  await palette(page, 'HBPO: Focus on Runs View');
  const rowOf = (step) => `${label}, from TRL, finished · ${step}/${step}`;
  const escape = (t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const first = shape.steps[0];
  await waitRow(page, new RegExp(`^${escape(rowOf(first))}$`), 60_000, `the TRL run listed at step ${first}`);
  const firstRollouts = [...shape.count.get(first).values()].reduce((a, b) => a + b, 0);
  await waitNotification(page, new RegExp(`HBPO: TRL run: ${firstRollouts} rollouts read\\. Token counts are estimates`), 30_000);
  log(`External: the Runs view lists it at step ${first}/${first} after ${((Date.now() - t0) / 1000).toFixed(1)} s; reloading the window, then TRL writes ${laterFiles.join(', ')}`);
  await palette(page, 'Developer: Reload Window');
  await waitWorkbench(page);
  await page.waitForTimeout(3_000); // activation: the folder is followed again
  for (const f of laterFiles) cpSync(join(fixture, 'completions', f), join(source, 'completions', f));
  const filesBefore = readdirSync(source, { recursive: true }).sort().join(', ');
  const t1 = Date.now();
  await palette(page, 'HBPO: Focus on Runs View');
  const rowLabel = rowOf(last);
  await waitRow(page, new RegExp(`^${escape(rowLabel)}$`), 60_000, `the TRL run at step ${last} after the reload (the folder followed again)`);
  log(`External: after the reload the new step arrived: ${((Date.now() - t1) / 1000).toFixed(1)} s after TRL wrote it`);
  const description = (await page.locator(`.part.sidebar .monaco-list-row[aria-label="${rowLabel}"] .label-description`).first().innerText()).trim();
  if (description !== `TRL · finished · ${last}/${last}`) throw new Error(`the Runs view row's description is "${description}", not "TRL · finished · ${last}/${last}"`);
  log(`External: the Runs view lists "${rowLabel}" (description "${description}") after ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  // The dashboard came back with the window (or is opened from the row).
  let dashboard = await until(page, () => webviewWith(page, 'h1', label), 20_000, `the dashboard of ${label}`).catch(() => undefined);
  if (!dashboard) {
    await palette(page, 'HBPO: Open Dashboard');
    await page.keyboard.type(basename(source));
    await page.keyboard.press('Enter');
    dashboard = await until(page, () => webviewWith(page, 'h1', label), 60_000, `the dashboard of ${label}`);
  }
  const header = await until(page, async () => {
    const t = (await dashboard.locator('header').innerText()).replace(/\s+/g, ' ').trim();
    return t.includes(`step ${last} / ${last}`) ? t : undefined;
  }, 30_000, `the dashboard header at step ${last} / ${last}`);
  for (const want of [label, 'hbpo', 'finished', 'TRL (external)']) {
    if (!header.includes(want)) throw new Error(`the dashboard header "${header}" lacks "${want}"`);
  }
  // Each step's histograms: the latest one as it opens, then each earlier one from the step slider.
  const expectCards = (step) => shape.tiers.filter((t) => shape.count.get(step).has(t))
    .map((t) => `${t} tokens · step ${step}: ${shape.count.get(step).get(t)} rollouts`);
  const cardsAt = async (step) => {
    const want = expectCards(step);
    let got = [];
    await until(page, async () => {
      got = (await histogramCards(dashboard)).map((c) => `${c.title}: ${c.stats.split(' · ')[0]}`);
      return got.join(' | ') === want.join(' | ');
    }, 30_000, `histograms "${want.join(' | ')}" at step ${step}`).catch((err) => {
      throw new Error(`${err.message}; they show ${got.join(' | ') || 'none'}`);
    });
    return got;
  };
  const seen = new Set();
  const seenText = () => [...seen].sort((a, b) => a - b).join(', ');
  for (const step of [...shape.steps].reverse()) {
    if (step !== last) {
      await dashboard.locator('input[aria-label="histogram step"]').evaluate((el, i) => {
        el.value = String(i);
        el.dispatchEvent(new Event('input', { bubbles: true }));
      }, shape.steps.indexOf(step));
    }
    const got = await cardsAt(step);
    for (const t of shape.tiers) if (got.some((g) => g.startsWith(`${t} tokens `))) seen.add(t);
    // Each card's histogram is drawn: coloured pixels (its tier's outline and fill; axes and text are grey).
    const coloured = await until(page, async () => {
      const n = await dashboard.locator('.grid.small .card:not([hidden]) canvas').evaluateAll((canvases) => canvases.map((c) => {
        const { data } = c.getContext('2d').getImageData(0, 0, c.width, c.height);
        let k = 0;
        for (let p = 0; p < data.length; p += 4) if (data[p + 3] > 100 && Math.max(data[p], data[p + 1], data[p + 2]) - Math.min(data[p], data[p + 1], data[p + 2]) > 60) k++;
        return k;
      }));
      return n.length === got.length && n.every((k) => k >= 50) ? n : undefined;
    }, 15_000, `a drawn histogram in each of the ${got.length} cards at step ${step}`);
    log(`External: step ${step}: ${got.join(' | ')} (coloured pixels ${coloured.join(' / ')})`);
  }
  if (seen.size !== shape.tiers.length) throw new Error(`the histograms showed tiers ${seenText()}, not ${shape.tiers.join(', ')}`);
  // The per-tier length chart is drawn: each tier's colour (the theme's chart palette, in tier order) on its canvas.
  const drawn = await until(page, async () => {
    const px = await dashboard.locator('.card', { has: dashboard.locator('h3', { hasText: 'Mean length per tier' }) }).locator('canvas')
      .evaluate((canvas, n) => {
        const probe = document.createElement('canvas').getContext('2d', { willReadFrequently: true });
        const vars = ['--vscode-charts-blue', '--vscode-charts-orange', '--vscode-charts-green', '--vscode-charts-purple', '--vscode-charts-red', '--vscode-charts-yellow'];
        const fallbacks = ['#3794ff', '#d18616', '#89d185', '#b180d7', '#f14c4c', '#cca700'];
        const colours = vars.slice(0, n).map((v, i) => {
          probe.clearRect(0, 0, 1, 1);
          probe.fillStyle = getComputedStyle(document.documentElement).getPropertyValue(v).trim() || fallbacks[i];
          probe.fillRect(0, 0, 1, 1);
          return [...probe.getImageData(0, 0, 1, 1).data];
        });
        const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
        const counts = colours.map(() => 0);
        for (let p = 0; p < data.length; p += 4) {
          if (data[p + 3] < 200) continue;
          colours.forEach((c, i) => {
            if (Math.abs(data[p] - c[0]) <= 12 && Math.abs(data[p + 1] - c[1]) <= 12 && Math.abs(data[p + 2] - c[2]) <= 12) counts[i]++;
          });
        }
        return counts;
      }, shape.tiers.length);
    return px.every((c) => c >= 50) ? px : undefined;
  }, 30_000, `the "Mean length per tier" chart drawn in ${shape.tiers.length} tier colours`);
  log(`External: the dashboard shows "${header.slice(0, 120)}", tiers ${seenText()}; ` +
    `"Mean length per tier" has ${drawn.join(' / ')} pixels of the tiers' colours`);
  // Off the tab the dialog's OK button was over: no tab tooltip over the heading in the screenshot.
  await page.mouse.move(150, 600);
  await page.locator('.workbench-hover-container:visible, .monaco-hover:visible').first().waitFor({ state: 'hidden', timeout: 3_000 }).catch(() => {});
  await shot(page, 'external-dashboard');
  const filesAfter = readdirSync(source, { recursive: true }).sort().join(', ');
  if (filesAfter !== filesBefore) throw new Error(`opening the TRL folder wrote beside it: ${filesBefore} became ${filesAfter}`);
  log(`External: ${shape.rollouts} rollouts read, nothing written beside the source (${((Date.now() - t0) / 1000).toFixed(1)} s from the command)`);
  externalPassed = true;
}

/** Scenario 4: a rollout whose text carries HTML and script payloads shows them as text, everywhere. */
async function payloadScenario(page) {
  log('Payload: HBPO: Open Rollout Inspector on fx-payload');
  await palette(page, 'HBPO: Open Rollout Inspector');
  const row = page.locator('.quick-input-widget .monaco-list-row', { hasText: 'fx-payload' }).first();
  await row.waitFor({ timeout: 15_000 }); // the workspace has two runs: the command asks which
  await row.click();
  const inspector = await until(page, () => webviewWith(page, 'h1', 'Rollouts · fx-payload'), 60_000, 'the inspector of fx-payload');
  await until(page, () => inspector.locator('p', { hasText: /^\d+ rollouts · click one/ }).isVisible(), 30_000, 'the payload rollout group');
  const dom = await inspector.locator('body').evaluate((body) => ({
    pwned: window.__hbpoPwned, injected: document.querySelectorAll('#hbpo-injected, img, a[href^="javascript"]').length,
    scripts: [...document.querySelectorAll('script')].filter((s) => (s.textContent ?? '').includes('hbpoPwned')).length, text: body.innerText,
  }));
  if (dom.pwned !== undefined || dom.injected !== 0 || dom.scripts !== 0) {
    throw new Error(`the inspector interpreted the payload: pwned ${dom.pwned}, injected elements ${dom.injected}, injected scripts ${dom.scripts}`);
  }
  const shown = ['<img src=x onerror=', '<b id="hbpo-injected">bold?</b>'].filter((p) => dom.text.includes(p));
  if (shown.length !== 2) throw new Error(`the inspector does not show the payloads as text (found ${shown.length} of 2): ${dom.text.slice(0, 400)}`);
  log('Payload: the inspector shows the payloads as text; nothing injected, nothing ran');
  await shot(page, 'payload-inspector');
  await inspector.locator('table.data tr.rollout').first().click();
  const traceName = 'step1-query0-tier8-sample0.txt';
  const editor = await editorOfTab(page, traceName);
  const text = await until(page, async () => {
    const t = await editorText(editor);
    return t.includes('Wait, <script>') ? t : undefined;
  }, 30_000, 'the payload trace as text');
  for (const p of PAYLOADS.slice(0, 3)) if (!text.includes(p)) throw new Error(`the trace lacks the literal payload ${p}`);
  const lenses = await until(page, async () => {
    const t = await lensTitles(editor);
    return t.length >= 2 ? t : undefined;
  }, 30_000, 'the payload trace lenses');
  if (lenses.some((l) => l.includes('<'))) throw new Error(`a lens title carries trace text: ${lenses.join(' | ')}`);
  await editor.locator('.view-lines .view-line', { hasText: 'Wait,' }).locator('span span').first().hover();
  await until(page, () => page.locator('.monaco-hover:visible').first().isVisible(), 15_000, 'a hover over the payload line');
  const page2 = await page.evaluate(() => ({
    pwned: window.__hbpoPwned, injected: document.querySelectorAll('#hbpo-injected, .monaco-hover img, .monaco-editor img').length,
  }));
  if (page2.pwned !== undefined || page2.injected !== 0) throw new Error(`the workbench interpreted the payload: ${JSON.stringify(page2)}`);
  log(`Payload: the trace shows the payloads verbatim; lenses: ${lenses.join(' | ').slice(0, 160)}`);
  await shot(page, 'payload-trace');
  await page.keyboard.press('Escape');
}

/**
 * Scenario 8: `npm start` (scripts/start.mjs) trains the built-in default, serves code-server with the
 * run's dashboard open and prints the URL; Ctrl+C (SIGINT) stops the run with a checkpoint, then
 * code-server, and exits 0.
 */
async function mainJobScenario(page) {
  const port = await freePort();
  log(`Main job: npm start (scripts/start.mjs --port ${port})`);
  const job = spawn(process.execPath, [join(root, 'scripts', 'start.mjs'), '--port', String(port)], {
    cwd: root, env: { ...env, HBPO_STUDIO_HOME: join(tmp, 'studio') }, detached: true, stdio: ['ignore', 'pipe', 'pipe'],
  });
  servers.push(job);
  let output = '';
  job.stdout.setEncoding('utf8').on('data', (s) => { output += s; });
  job.stderr.setEncoding('utf8').on('data', (s) => { output += s; });
  const exited = new Promise((resolve) => job.on('exit', (code, signal) => resolve(code ?? signal)));
  let runDir;
  try {
    const url = await until(page, async () => /^HBPO_STUDIO_URL=(\S+)$/m.exec(output)?.[1], 600_000, 'npm start printed no URL');
    const runName = /run\.name=(\S+)/.exec(output)?.[1];
    if (!runName) throw new Error(`npm start did not name its run:\n${output.slice(-2000)}`);
    runDir = join(root, 'runs', runName);
    log(`Main job: ${url} (run ${runName})`);
    await page.goto(url);
    await waitWorkbench(page);
    const dashboard = await until(page, () => webviewWith(page, 'h1', runName), 180_000, `the dashboard of ${runName} did not open by itself`);
    const header = dashboard.locator('header span', { hasText: /^step \d+ \/ \d+$/ }).first();
    await until(page, async () => Number(/^step (\d+)/.exec((await header.innerText()).trim())?.[1]) >= 1, 300_000, 'the main job trained no step');
    log(`Main job: the dashboard shows ${runName} at "${(await header.innerText()).trim()}"`);
    await shot(page, 'main-job-dashboard');
    process.kill(-job.pid, 'SIGINT');
    const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('timeout'), 180_000))]);
    if (code !== 0) throw new Error(`npm start exited ${code} after Ctrl+C:\n${output.slice(-2000)}`);
    const events = readFileSync(join(runDir, 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const end = events[events.length - 1];
    const ckpt = events.findLast((e) => e.type === 'checkpoint');
    if (end.type !== 'run_end' || end.status !== 'stopped' || !ckpt || !existsSync(join(runDir, ckpt.path))) {
      throw new Error(`after Ctrl+C the run ended ${JSON.stringify(end)} with checkpoint ${JSON.stringify(ckpt)}`);
    }
    const still = await fetch(`http://127.0.0.1:${port}/healthz`).then(() => true).catch(() => false);
    if (still) throw new Error('code-server still answers after npm start exited');
    log(`Main job: Ctrl+C stopped the run at step ${end.step} with ${ckpt.path}, then code-server`);
    mainPassed = true;
  } finally {
    if (job.exitCode === null) killGroup(job.pid, 'SIGTERM');
    if (runDir) rmSync(runDir, { recursive: true, force: true });
  }
}

/**
 * Scenario 9: the packaged extension alone, as a user who installed it has it: a workspace with no
 * clone and no .venv, no hbpo.pythonPath, and a home of its own: no shell profile, so the extension
 * host's PATH is the system's (VS Code takes it from a login shell), and uv where its installer puts
 * it, ~/.local/bin/uv. HBPO: Set Up Trainer Environment from the palette makes the trainer's
 * environment (the lock's packages come from uv's download cache), then Start Training runs the
 * built-in default with that environment's Python.
 */
async function setupScenario(page) {
  mkdirSync(join(dirs.homeSetup, '.local', 'bin'), { recursive: true });
  symlinkSync(join(root, '.venv', 'bin', 'uv'), join(dirs.homeSetup, '.local', 'bin', 'uv'));
  const { 'hbpo.pythonPath': _none, ...plainSettings } = userSettings;
  for (const scope of ['User', 'Machine']) {
    mkdirSync(join(dirs.userDataSetup, scope), { recursive: true });
    writeFileSync(join(dirs.userDataSetup, scope, 'settings.json'), JSON.stringify(plainSettings, null, 2));
  }
  const realHome = homedir();
  const serverEnv = {
    ...env, HOME: dirs.homeSetup,
    // Caches that are not the environment under test: the testbed model and uv's downloads.
    HBPO_CACHE_DIR: process.env.HBPO_CACHE_DIR || join(realHome, '.cache', 'hbpo-studio'),
    UV_CACHE_DIR: process.env.UV_CACHE_DIR || join(realHome, '.cache', 'uv'),
  };
  const server = await startServer('setup', dirs.userDataSetup, ['--disable-workspace-trust'], serverEnv);
  await page.goto(`${server.base}/?folder=${encodeURIComponent(dirs.wsSetup)}`);
  await waitWorkbench(page);
  if (existsSync(join(dirs.wsSetup, '.venv')) || existsSync(join(dirs.wsSetup, 'trainer'))) throw new Error('the set-up workspace is not bare');
  // No trainer yet: Start Training says so and offers the set-up.
  await palette(page, 'HBPO: Start Training');
  const builtInFirst = page.locator('.quick-input-widget .monaco-list-row', { hasText: 'Built-in default' }).first();
  await builtInFirst.waitFor({ timeout: 30_000 });
  await builtInFirst.click();
  const offer = await waitNotification(page, /The HBPO trainer \(Python package hbpo\) is not installed for python3/, 120_000);
  if (!/Set Up Trainer Environment/.test(offer)) throw new Error(`the error does not offer the set-up: ${offer}`);
  if (existsSync(join(dirs.wsSetup, 'runs'))) throw new Error('a run folder appeared although no trainer is installed');
  log(`Set-up: without a trainer, Start Training says: ${offer.slice(0, 160)}…`);
  await showNotifications(page, 'setup-offer');
  await palette(page, 'Notifications: Clear All Notifications');
  log('Set-up: HBPO: Set Up Trainer Environment from the palette');
  const started = Date.now();
  await palette(page, 'HBPO: Set Up Trainer Environment');
  await waitNotification(page, /HBPO: setting up the trainer/, 30_000);
  await showNotifications(page, 'setup-progress');
  await waitNotification(page, /HBPO: the trainer is set up: hbpo \d+\.\d+\.\d+, PyTorch \S+ on CPU, Python 3\.\d+\.\d+ \(uv, [\d.]+ s\)/, 600_000);
  const envDir = join(dirs.userDataSetup, 'User', 'globalStorage', 'hbpo-studio.hbpo-studio', 'trainer-env');
  const stamp = JSON.parse(readFileSync(join(envDir, 'hbpo-setup.json'), 'utf8'));
  if (stamp.tool !== 'uv' || !existsSync(join(envDir, 'bin', 'python')) || existsSync(`${envDir}.partial`)) {
    throw new Error(`the environment in ${envDir} is not complete: ${JSON.stringify(stamp)}`);
  }
  log(`Set-up: the trainer is set up in ${((Date.now() - started) / 1000).toFixed(1)} s (${JSON.stringify(stamp)})`);
  await showNotifications(page, 'setup-done');

  log('Set-up: HBPO: Start Training with the built-in default');
  await palette(page, 'HBPO: Start Training');
  const builtIn = page.locator('.quick-input-widget .monaco-list-row', { hasText: 'Built-in default' }).first();
  await builtIn.waitFor({ timeout: 30_000 });
  await builtIn.click();
  await palette(page, 'HBPO: Focus on Runs View');
  const running = await waitRow(page, /^hbpo-\S+, running · [1-9]\d*\/\d+/, 600_000, 'the built-in default, running with steps');
  const runId = running.split(',')[0].trim();
  const runDir = join(dirs.wsSetup, 'runs', runId);
  const start = readFileSync(join(runDir, 'events.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((e) => e.type === 'run_start');
  const argv0 = readFileSync(`/proc/${start.pid}/cmdline`, 'utf8').split('\0')[0];
  if (argv0 !== join(envDir, 'bin', 'python')) throw new Error(`the run's trainer is ${argv0}, not the set-up environment's Python`);
  log(`Set-up: ${running}, trained by ${argv0}`);
  await shot(page, 'setup-run');
  await palette(page, 'HBPO: Stop Training');
  await waitRow(page, new RegExp(`^${runId}, stopped · \\d+/\\d+`), 180_000, 'the run, stopped');
  await waitNotification(page, new RegExp(`${runId} stopped at step \\d+; checkpoint checkpoints/step-\\d+`), 60_000);
  log('Set-up: the run stopped with a checkpoint');
  setupPassed = true;
}

// ---- the run ------------------------------------------------------------------------------------
let failed = false;
let hostPassed = false;
let uiPassed = false;
let trustPassed = false;
let comparePassed = false;
let payloadPassed = false;
let mainPassed = false;
let setupPassed = false;
let bigPassed = false;
let externalPassed = false;
try {
  // Bundle the in-host tests (CommonJS, `vscode` external), as the test runner loads them.
  const esbuild = await import('esbuild');
  await esbuild.build({
    entryPoints: [join(root, 'test', 'e2e', 'host', 'index.ts')], outfile: join(dirs.hostTests, 'index.js'),
    bundle: true, platform: 'node', format: 'cjs', target: 'node20', external: ['vscode'], logLevel: 'warning', sourcemap: 'inline',
  });

  // Install the .vsix into the isolated extensions folder.
  const install = spawnSync(tools.node, [tools.codeServer, '--install-extension', vsix, '--force',
    '--extensions-dir', dirs.extensions, '--user-data-dir', dirs.userData], { env, encoding: 'utf8' });
  const extFolder = readdirSync(dirs.extensions).find((n) => n.startsWith('hbpo-studio.hbpo-studio-'));
  if (install.status !== 0 || !extFolder) throw new Error(`installing the .vsix failed: ${install.stdout}\n${install.stderr}`);
  const extPath = join(dirs.extensions, extFolder);
  log(`installed ${extFolder}`);

  const { base, port } = await startServer('main', dirs.userData, ['--disable-workspace-trust']);

  const { chromium } = await import('playwright-core');
  browser = await chromium.launch({
    executablePath: tools.chromium, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });

  // ---- 4. extension-host tests ----
  if (wants('host')) {
    const page = await context.newPage();
    let resolveExit;
    const exitCode = new Promise((r) => { resolveExit = r; });
    const hostLog = join(tmp, 'host-tests.log');
    await page.exposeFunction('codeAutomationLog', (type, args) => {
      const text = Array.isArray(args) ? args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' ') : String(args ?? type);
      writeFileSync(hostLog, `${text}\n`, { flag: 'a' });
      // The workbench logs a lot through the same channel; show the tests' own lines.
      if (text.includes('[host-tests]')) for (const line of text.split('\n')) console.log(`  ${line}`);
    });
    await page.exposeFunction('codeAutomationExit', (code) => resolveExit(code));
    const payload = [
      ['extensionDevelopmentPath', `vscode-remote://127.0.0.1:${port}${extPath}`],
      ['extensionTestsPath', `vscode-remote://127.0.0.1:${port}${join(dirs.hostTests, 'index.js')}`],
    ];
    log('extension-host tests: starting');
    await page.goto(`${base}/?folder=${encodeURIComponent(dirs.wsHost)}&payload=${encodeURIComponent(JSON.stringify(payload))}`);
    const code = await Promise.race([exitCode, new Promise((r) => setTimeout(() => r('timeout'), 600_000))]);
    hostPassed = code === 0;
    log(`extension-host tests: ${hostPassed ? 'passed' : `FAILED (exit ${code})`}`);
    if (!hostPassed) await shot(page, 'host-tests-failure');
    await page.close();
  }

  // ---- 5. UI scenario ----
  if (wants('ui')) {
    const page = await context.newPage();
    try {
      log('UI: opening the workspace');
      await page.goto(`${base}/?folder=${encodeURIComponent(dirs.wsUi)}`);
      await waitWorkbench(page);
      log('UI: workbench ready; HBPO: Start Training from the palette');
      await palette(page, 'HBPO: Start Training');
      const pickInput = page.locator('.quick-input-widget .quick-input-box input');
      await page.locator('.quick-input-widget .monaco-list-row', { hasText: 'Built-in default' }).first().waitFor({ timeout: 30_000 });
      await pickInput.fill('tiny');
      const tinyRow = page.locator('.quick-input-widget .monaco-list-row', { hasText: 'tiny.yaml' }).first();
      await tinyRow.waitFor({ timeout: 30_000 });
      const notes = await page.locator('.quick-input-widget .monaco-list-row', { hasText: 'notes.yaml' }).count();
      if (notes !== 0) throw new Error('the config quick pick lists notes.yaml, which is not a trainer config');
      await tinyRow.click();
      log('UI: picked tiny.yaml; waiting for the run in the Runs view');
      // Start reveals the new run in the Runs view; open the view by hand if it did not.
      const title = page.locator('.part.sidebar .composite.title', { hasText: /HBPO/i }).first();
      if (!(await title.isVisible().catch(() => false))) {
        await page.waitForTimeout(5000);
        if (!(await title.isVisible().catch(() => false))) await palette(page, 'HBPO: Focus on Runs View');
      }
      const running = await waitRow(page, /, running · [1-9]\d*\/\d+/, 240_000, 'the started run, running with steps');
      const runId = running.split(',')[0].trim();
      log(`UI: ${runId} is running in the Runs view (${running})`);
      const bar = page.locator('.part.statusbar .statusbar-item', { hasText: /HBPO \d+\/\d+/ }).first();
      await bar.waitFor({ state: 'visible', timeout: 30_000 });
      log(`UI: status bar says "${(await bar.innerText()).trim()}"`);

      log('UI: opening the dashboard from the Runs view');
      await page.locator('.part.sidebar .monaco-list-row[aria-label^="' + runId + '"]').first().click();
      const frame = page.frameLocator('iframe.webview.ready').frameLocator('#active-frame');
      const deadline = Date.now() + 90_000;
      for (;;) {
        const err = await hbpoError(page);
        if (err) throw new Error(`the dashboard did not open: ${err}`);
        if (await frame.locator('h1', { hasText: runId }).first().isVisible().catch(() => false)) break;
        if (Date.now() > deadline) throw new Error(`the dashboard webview did not show the run's name (${runId}) within 90 s`);
        await page.waitForTimeout(500);
      }
      await frame.getByText(/step \d+/).first().waitFor({ timeout: 30_000 });
      log('UI: the dashboard renders the run');
      await shot(page, 'dashboard');

      // The dashboard follows the latest step (several a second here): unfollow to hold the step on
      // show, then inspect the rollouts at that step.
      log('UI: unfollowing the latest step on the dashboard');
      const followBox = frame.locator('vscode-checkbox[label="follow the latest step"]');
      await followBox.click();
      await until(page, () => followBox.evaluate((el) => !el.checked), 10_000, 'the follow checkbox did not uncheck');
      const histLabel = followBox.locator('xpath=preceding-sibling::span[1]');
      const held = Number(/^step (\d+)$/.exec((await histLabel.innerText()).trim())?.[1]);
      if (!Number.isInteger(held)) throw new Error(`the dashboard shows no histogram step (label "${await histLabel.innerText()}")`);
      const headerStep = frame.locator('header span', { hasText: /^step \d+ \/ \d+$/ }).first();
      const stepNow = async () => Number(/^step (\d+)/.exec((await headerStep.innerText()).trim())?.[1]);
      await until(page, async () => (await stepNow()) > held + 1, 60_000, `the run did not train past step ${held + 1}`);
      const stillShown = (await histLabel.innerText()).trim();
      if (stillShown !== `step ${held}`) {
        throw new Error(`unfollowing did not hold the histogram step: it moved from step ${held} to "${stillShown}" (run at step ${await stepNow()})`);
      }
      log(`UI: holding step ${held} (run at step ${await stepNow()}); Inspect rollouts at this step`);
      await frame.locator('vscode-button', { hasText: 'Inspect rollouts at this step' }).click();
      const inspector = await until(page, () => webviewWith(page, 'h1', `Rollouts · ${runId}`), 60_000,
        'the rollout inspector did not open (a webview titled "Rollouts · <run>")');
      const statusLine = inspector.locator('p', { hasText: /^\d+ rollouts · click one/ });
      await until(page, () => statusLine.isVisible(), 60_000, 'the inspector did not show a rollout group');
      const inspectedStep = await inspector.locator('vscode-single-select[aria-label="step"]').evaluate((el) => el.value);
      if (inspectedStep !== String(held)) throw new Error(`the inspector opened at step "${inspectedStep}", not at the dashboard's step ${held}`);
      const queryIndex = Number.parseInt(await inspector.locator('vscode-single-select[aria-label="query"]').evaluate((el) => el.value), 10);
      if (!Number.isInteger(queryIndex)) throw new Error('the inspector has no query selected');
      const body = await inspector.locator('table.data tbody').evaluate((tb) => [...tb.rows].map((r) => ({
        group: r.classList.contains('group'), text: (r.textContent ?? '').trim(), sample: r.getAttribute('data-sample'),
        tier: r.getAttribute('data-tier'),
      })));
      const groups = [];
      for (const r of body) {
        if (r.group) groups.push({ heading: r.text, samples: [], tiers: [] });
        else if (groups.length === 0) throw new Error('the inspector table has a rollout row before any tier heading');
        else groups[groups.length - 1].samples.push(Number(r.sample)), groups[groups.length - 1].tiers.push(Number(r.tier));
      }
      const rowCount = groups.reduce((n, g) => n + g.samples.length, 0);
      const perTier = tinyRolloutsPerQuery / tinyTiers.length;
      const want = tinyTiers.map((t) => `tier ${t} tokens · ${perTier} rollouts`);
      const got = groups.map((g) => `${g.heading.split(',')[0]} [${g.samples.length} rows]`);
      if (rowCount !== tinyRolloutsPerQuery) {
        throw new Error(`the inspector shows ${rowCount} rollout rows, not rollouts_per_query = ${tinyRolloutsPerQuery} (${got.join(' | ')})`);
      }
      if (groups.length !== tinyTiers.length || groups.some((g, i) => !g.heading.startsWith(`${want[i]}, `) || g.samples.length !== perTier)) {
        throw new Error(`the inspector's tier groups are ${got.join(' | ') || 'none'}; expected ${want.map((w) => `${w} [${perTier} rows]`).join(' | ')}`);
      }
      log(`UI: the inspector shows step ${held}, query ${queryIndex}: ${got.join(' | ')}`);
      await shot(page, 'inspector');

      // The last tier's last rollout: its sample number also exists in the first tier (samples are
      // numbered within a tier), so only the tier tells them apart.
      const lastTier = groups[groups.length - 1];
      const [tier, sample] = [lastTier.tiers[lastTier.tiers.length - 1], lastTier.samples[lastTier.samples.length - 1]];
      if (tier !== tinyTiers[tinyTiers.length - 1] || !groups[0].samples.includes(sample)) {
        throw new Error(`the last row is tier ${tier}, sample ${sample}; expected the last tier ${tinyTiers[tinyTiers.length - 1]} and a sample the first tier has too`);
      }
      const traceName = `step${held}-query${queryIndex}-tier${tier}-sample${sample}.txt`;
      log(`UI: opening the last tier's last rollout (${traceName})`);
      await inspector.locator('table.data tr.rollout').last().click();
      const editor = await editorOfTab(page, traceName);
      const text = await until(page, async () => {
        const t = await editorText(editor);
        return t.includes('HBPO rollout · ') ? t : undefined;
      }, 30_000, `the ${traceName} tab did not show a trace`);
      const event = rolloutEvent(join(dirs.wsUi, 'runs', runId), held, queryIndex, tier, sample);
      if (!event) throw new Error(`events.jsonl has no rollout at step ${held}, query ${queryIndex}, tier ${tier}, sample ${sample}`);
      const norm = (s) => s.replace(/\s+/g, ' ').trim();
      const expected = [
        `HBPO rollout · ${runId} · read-only`,
        `step ${held} · query ${queryIndex} (`,
        `· sample ${sample}`,
        `tier: ${event.tier} tokens · tokens: ${event.n_gen}`,
        `reward: ${event.reward.reward.toFixed(4)} (case ${event.reward.case})`,
      ];
      const missing = expected.filter((e) => !text.includes(e));
      if (!norm(text).includes(norm(event.problem))) missing.push(`the problem text (${JSON.stringify(event.problem.slice(0, 80))}…)`);
      // The editor draws control characters as symbols (U+2400...) and spacing its own way: compare the
      // letters, digits, punctuation and symbols both sides show (the tiny model writes byte soup).
      const shown = (s) => [...s].filter((c) => /[\p{L}\p{N}\p{P}\p{S}]/u.test(c) && !(c >= '\u2400' && c <= '\u243f') && c !== '\ufffd').join('');
      if (shown(event.text).length < 3) log(`UI: rollout text has ${shown(event.text).length} visible characters; its text is checked by the header only`);
      else if (!shown(text).endsWith(shown(event.text))) missing.push(`this rollout's own text (${JSON.stringify(event.text.slice(0, 80))}…) at the end`);
      if (missing.length > 0) throw new Error(`the trace document lacks ${missing.join('; ')}; it shows:\n${text}`);
      log(`UI: the trace document shows the rollout (${text.split('\n').slice(1, 3).join(' / ')})`);
      await checkAnnotations(page, editor, event);
      await shot(page, 'trace');

      if (process.env.HBPO_E2E_RELOAD !== '0') {
        const before = Number(/running · (\d+)\//.exec(await waitRow(page, new RegExp(`^${runId}, running`), 30_000, 'the run'))[1]);
        log(`UI: reloading the window at step ${before}`);
        await palette(page, 'Developer: Reload Window');
        await page.waitForTimeout(2000);
        await waitWorkbench(page);
        // The run panels come back after the reload, each showing its run.
        for (const [tabTitle, heading] of [[`HBPO: ${runId}`, runId], [`HBPO rollouts: ${runId}`, `Rollouts · ${runId}`]]) {
          const tab = page.locator('.tabs-container .tab', { hasText: tabTitle }).first();
          await until(page, () => tab.isVisible(), 60_000, `the "${tabTitle}" tab after the reload`);
          await tab.click();
          await until(page, () => webviewWith(page, 'h1', heading), 60_000, `the restored "${tabTitle}" showing ${heading}`);
        }
        log('UI: the dashboard and the inspector came back after the reload');
        await palette(page, 'HBPO: Focus on Runs View');
        const after = await waitRow(page, new RegExp(`^${runId}, running · (\\d+)/`), 60_000, 'the run re-attached after the reload');
        const step0 = Number(/running · (\d+)\//.exec(after)[1]);
        await waitRow(page, new RegExp(`^${runId}, running · (?!${step0}/)\\d+/`), 60_000, 'the re-attached run still training');
        log(`UI: re-attached after the reload (${after})`);
      }

      log('UI: HBPO: Stop Training from the palette');
      await palette(page, 'HBPO: Stop Training');
      await waitRow(page, new RegExp(`^${runId}, stopped · \\d+/\\d+`), 180_000, 'the run, stopped');
      // The notification may show as a toast or go straight to the center (focus in a webview): read the center.
      await waitNotification(page, new RegExp(`${runId} stopped at step \\d+; checkpoint checkpoints/step-\\d+`), 60_000);
      log('UI: stopped, with a checkpoint');
      uiPassed = true;
    } catch (err) {
      failure('UI scenario', err);
      await shot(page, 'ui-failure');
      try {
        await palette(page, 'Notifications: Show Notifications');
        await page.waitForTimeout(1000);
        log(`notifications: ${(await page.locator('.notifications-center').innerText()).replace(/\s+/g, ' ')}`);
        await shot(page, 'ui-failure-notifications');
      } catch (e) {
        log(`(could not read the notifications: ${e.message})`);
      }
    }
    await page.close();
  }
  // ---- 6. budget comparison on a GGUF model, and untrusted text rendered as text ----
  if (wants('compare') || wants('payload')) {
    const page = await context.newPage();
    try {
      log('Compare: opening the comparison workspace');
      await page.goto(`${base}/?folder=${encodeURIComponent(dirs.wsCompare)}`);
      await waitWorkbench(page);
      if (wants('compare')) await compareScenario(page);
      if (wants('payload')) {
        await payloadScenario(page);
        await preparingScenario(page);
        payloadPassed = true;
      }
    } catch (err) {
      failure('Compare/payload scenario', err);
      await shot(page, 'compare-failure');
    }
    await page.close();
  }
  // ---- 10. a big run opens at once ----
  if (wants('bigrun')) {
    const page = await context.newPage();
    try {
      await bigRunScenario(page, base);
    } catch (err) {
      failure('Big run scenario', err);
      await shot(page, 'big-run-failure');
    } finally {
      rmSync(join(dirs.wsBig, 'runs'), { recursive: true, force: true }); // half a gigabyte
    }
    await page.close();
  }
  // ---- 11. a run trained elsewhere (TRL) opens into the dashboard ----
  if (wants('external')) {
    const page = await context.newPage();
    try {
      await externalScenario(page, base);
    } catch (err) {
      failure('External run scenario', err);
      await shot(page, 'external-failure');
    }
    await page.close();
  }
  // ---- 8. the main job: `npm start` as the README says, seen in the browser ----
  if (wants('main')) {
    const page = await context.newPage();
    try {
      await mainJobScenario(page);
    } catch (err) {
      failure('Main job scenario', err);
      await shot(page, 'main-job-failure');
    }
    await page.close();
  }
  // ---- 7. Restricted Mode ----
  // ---- 9. the extension alone: no clone, no .venv, no hbpo.pythonPath; the trainer set up from the palette ----
  if (wants('setup')) {
    const page = await context.newPage();
    try {
      await setupScenario(page);
    } catch (err) {
      failure('Set-up scenario', err);
      await shot(page, 'setup-failure');
    }
    await page.close();
  }
  if (wants('trust')) {
    const restricted = await startServer('restricted', dirs.userDataRestricted, []);
    const page = await context.newPage();
    try {
      log('Restricted Mode: opening an untrusted folder');
      await page.goto(`${restricted.base}/?folder=${encodeURIComponent(dirs.wsRestricted)}`);
      await waitWorkbench(page);
      await palette(page, 'HBPO: Focus on Runs View');
      await waitRow(page, /^fx-stopped, stopped · 1\/10/, 30_000, 'the fixture run listed in Restricted Mode');
      await palette(page, 'HBPO: Start Training');
      await waitNotification(page, /Restricted Mode, so HBPO Studio does not start a training run/, 30_000);
      await palette(page, 'HBPO: Resume Run');
      await waitNotification(page, /Restricted Mode, so HBPO Studio does not resume a training run/, 30_000);
      const runs = readdirSync(join(dirs.wsRestricted, 'runs'));
      if (runs.join() !== 'fx-stopped') throw new Error(`a run folder appeared in Restricted Mode: ${runs.join(', ')}`);
      log('Restricted Mode: Start and Resume refused with the reason; nothing started');
      trustPassed = true;
    } catch (err) {
      failure('Restricted Mode scenario', err);
      await shot(page, 'restricted-failure');
    }
    await page.close();
  }
  failed = (wants('host') && !hostPassed) || (wants('ui') && !uiPassed) || (wants('trust') && !trustPassed) ||
    (wants('compare') && !comparePassed) || (wants('payload') && !payloadPassed) || (wants('main') && !mainPassed) ||
    (wants('setup') && !setupPassed) || (wants('bigrun') && !bigPassed) || (wants('external') && !externalPassed);
} catch (err) {
  failed = true;
  console.error(`[e2e] harness error: ${err.stack ?? err.message}`);
} finally {
  await cleanup();
}

if (failed) {
  console.log(`[e2e] code-server logs and workspaces kept in ${tmp}`);
} else if (!process.env.HBPO_E2E_KEEP) {
  rmSync(tmp, { recursive: true, force: true });
}
const verdict = (part, ok) => `${part}: ${!wants(part) ? 'not run' : ok ? 'ok' : 'FAIL'}`;
log(`${failed ? 'FAILED' : 'passed'} (${verdict('host', hostPassed)}, ${verdict('ui', uiPassed)}, ${verdict('compare', comparePassed)}, ` +
  `${verdict('payload', payloadPassed)}, ${verdict('main', mainPassed)}, ${verdict('setup', setupPassed)}, ${verdict('trust', trustPassed)}, ` +
  `${verdict('bigrun', bigPassed)}, ${verdict('external', externalPassed)}); ` +
  `screenshots in ${screenshots}`);
for (const f of failures) console.log(`[e2e] why: ${f}`);
process.exit(failed ? 1 : 0);
