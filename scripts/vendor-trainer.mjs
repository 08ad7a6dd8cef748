// Puts the trainer into dist/trainer for the .vsix, so the extension can set it up without a clone of
// this repository (HBPO: Set Up Trainer Environment): a wheel of the `hbpo` package and the pinned
// lock of its dependencies (trainer/requirements.lock, with hashes). The wheel is built with uv from
// the .venv (npm run setup installs it) in a scratch copy, so no build/ folder is left in trainer/.
// Usage: node scripts/vendor-trainer.mjs [--out DIR]   (default dist/trainer)
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outArg = process.argv.indexOf('--out');
const out = outArg > 0 ? resolve(process.argv[outArg + 1]) : join(root, 'dist', 'trainer');
const uv = join(root, '.venv', 'bin', 'uv');

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const scratch = mkdtempSync(join(tmpdir(), 'hbpo-wheel-'));
try {
  cpSync(join(root, 'trainer', 'pyproject.toml'), join(scratch, 'pyproject.toml'));
  cpSync(join(root, 'trainer', 'hbpo'), join(scratch, 'hbpo'), { recursive: true, filter: (src) => !/__pycache__|\.pyc$/.test(src) });
  const r = spawnSync(uv, ['build', '--wheel', '--quiet', '--out-dir', out, scratch], { stdio: 'inherit' });
  if (r.error || r.status !== 0) throw new Error(`${uv} build failed (${r.error?.message ?? `exit ${r.status}`}); run npm run setup first`);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
rmSync(join(out, '.gitignore'), { force: true });
copyFileSync(join(root, 'trainer', 'requirements.lock'), join(out, 'requirements.lock'));
const wheels = readdirSync(out).filter((f) => f.endsWith('.whl'));
if (wheels.length !== 1) throw new Error(`expected one wheel in ${out}, found ${wheels.join(', ') || 'none'}`);
console.log(`[vendor] trainer: ${join(out, wheels[0])} and requirements.lock`);
