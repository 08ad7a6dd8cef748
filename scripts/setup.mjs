// One-shot, idempotent set-up for a fresh clone: npm packages and the Python trainer's venv.
// Uses only Node built-ins, so `npm test` / `npm start` work before `npm install` ever ran.
// Each part is redone only when its lock file changed (a stamp records the lock's hash), and the
// heavy downloads (PyTorch is ~3 GB with its CUDA libraries) come from per-machine caches
// (~/.npm, ~/.cache/uv), so a second clone on the same machine sets up in seconds.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const venv = join(root, '.venv');
export const venvPython = join(venv, process.platform === 'win32' ? 'Scripts/python.exe' : 'bin/python');
const UV_VERSION = '0.13.8';

function hashOf(...files) {
  const h = createHash('sha256');
  for (const f of files) h.update(readFileSync(join(root, f)));
  return h.digest('hex');
}

export function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', ...opts });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status}`);
}

function upToDate(stampFile, hash) {
  return existsSync(stampFile) && readFileSync(stampFile, 'utf8').trim() === hash;
}

function setupNode() {
  const stamp = join(root, 'node_modules', '.hbpo-setup');
  const hash = hashOf('package-lock.json');
  if (upToDate(stamp, hash)) return;
  console.log('[setup] installing npm packages (npm ci)');
  run('npm', ['ci', '--no-audit', '--no-fund']);
  writeFileSync(stamp, hash);
}

function pickPython() {
  const candidates = [process.env.HBPO_PYTHON, 'python3', 'python'].filter(Boolean);
  for (const cmd of candidates) {
    const r = spawnSync(cmd, ['-c', 'import sys; print(sys.version_info >= (3, 10))'], { encoding: 'utf8' });
    if (r.status === 0 && r.stdout.trim() === 'True') return cmd;
  }
  throw new Error('Python 3.10 or newer is needed: install it, or set HBPO_PYTHON to its path');
}

function setupPython() {
  const stamp = join(venv, '.hbpo-setup');
  const hash = hashOf('trainer/requirements.lock', 'trainer/pyproject.toml');
  if (existsSync(venvPython) && upToDate(stamp, hash)) return;
  if (!existsSync(venvPython)) {
    console.log('[setup] creating the Python virtual environment .venv');
    run(pickPython(), ['-m', 'venv', venv]);
  }
  console.log('[setup] installing the trainer and its pinned dependencies into .venv');
  run(venvPython, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', `uv==${UV_VERSION}`]);
  const uv = [venvPython, ['-m', 'uv', 'pip']];
  run(uv[0], [...uv[1], 'install', '--python', venvPython, '-r', 'trainer/requirements.lock']);
  run(uv[0], [...uv[1], 'install', '--python', venvPython, '--no-deps', '-e', 'trainer']);
  mkdirSync(venv, { recursive: true });
  writeFileSync(stamp, hash);
}

export function setup() {
  setupNode();
  setupPython();
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    setup();
    console.log('[setup] ready');
  } catch (err) {
    console.error(`[setup] failed: ${err.message}`);
    process.exit(1);
  }
}
