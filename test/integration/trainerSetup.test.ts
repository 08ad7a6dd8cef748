// The trainer set-up with the real tools (extension/trainer/environment.ts): the `hbpo` wheel that
// `npm run package` ships, installed into a new environment
//   - with uv and the full pinned lock (what a user with uv gets; seconds from uv's cache), checked by
//     the real import of hbpo and torch, then trained with: `python -m hbpo validate` on the built-in default;
//   - with venv + pip (no uv) and a one-package lock cut from the real one, hashes checked.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { findBasePython, managedPython, planSetup, readStamp, runSetup, type TrainerBundle } from '../../extension/trainer/environment';
import { validateConfig } from '../../extension/trainer';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const uv = join(root, '.venv', 'bin', 'uv');
const skip = existsSync(uv) ? false : 'no .venv with uv (npm run setup)';
let tmp = '';
let bundle: TrainerBundle;

before(() => {
  if (skip) return;
  tmp = mkdtempSync(join(tmpdir(), 'hbpo-trainer-setup-'));
  const out = join(tmp, 'bundle');
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'vendor-trainer.mjs'), '--out', out], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const wheel = readdirSync(out).find((f) => f.endsWith('.whl'));
  assert.ok(wheel, 'vendor-trainer wrote a wheel');
  bundle = { wheel: join(out, wheel), lock: join(out, 'requirements.lock'), version: wheel.split('-')[1] };
});
after(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('setting up the trainer environment', { skip }, () => {
  test('with uv and the full lock: hbpo and torch import, and the environment validates the built-in default', { timeout: 600_000 }, async () => {
    const base = await findBasePython(['python3', 'python']);
    assert.ok(base, 'a Python 3.10+ on PATH');
    assert.ok(!/shims/.test(base.python), `the base is the real interpreter, not a shim: ${base.python}`);
    const envDir = join(tmp, 'uv', 'trainer-env');
    const plan = planSetup({ envDir, basePython: base.python, uv, bundle });
    const steps: string[] = [];
    const stamp = await runSetup(plan, bundle.lock, { step: (_i, s) => steps.push(s.title) });
    assert.equal(steps.length, 4);
    assert.equal(stamp.hbpo, bundle.version);
    assert.match(stamp.torch, /^2\.\d+\.\d+/);
    assert.match(stamp.device, /^(CPU|CUDA \(\d+ x .+\))$/);
    assert.equal(stamp.tool, 'uv');
    assert.equal(managedPython(envDir), plan.python);
    assert.deepEqual(readStamp(envDir), stamp);
    // The environment was renamed into place: it still runs the trainer from there.
    const verdict = await validateConfig(plan.python, join(root, 'trainer', 'hbpo', 'configs', 'default.yaml'), [], { cwd: tmp });
    assert.equal(verdict.ok, true, verdict.problems.join('; '));
    const where = spawnSync(plan.python, ['-c', 'import hbpo, sys; print(hbpo.__file__); print(sys.prefix)'], { encoding: 'utf8' });
    const [file, prefix] = where.stdout.trim().split('\n');
    assert.ok(file.startsWith(envDir) && prefix === envDir, `hbpo from the environment, not the repository: ${where.stdout}`);
  });

  test('with venv and pip (no uv): a hashed lock and the wheel', { timeout: 600_000 }, async () => {
    const base = await findBasePython(['python3', 'python']);
    assert.ok(base);
    // One small pinned package, with its hashes, cut from the real lock.
    const full = readFileSync(join(root, 'trainer', 'requirements.lock'), 'utf8');
    const pyyaml = /^pyyaml==[^\n]*(?:\n {4}--hash=[^\n]*)+/m.exec(full)?.[0];
    assert.ok(pyyaml, 'the lock pins pyyaml with hashes');
    const lock = join(tmp, 'small.lock');
    writeFileSync(lock, `${pyyaml.replace(/ \\$/, '')}\n`);
    const envDir = join(tmp, 'pip', 'trainer-env');
    const plan = planSetup({ envDir, basePython: base.python, bundle: { ...bundle, lock } });
    assert.equal(plan.tool, 'pip');
    // The real check imports torch, which this small lock leaves out: check what it installed instead.
    plan.steps[3].args[1] = 'import json, sys, hbpo, yaml; print(json.dumps({"hbpo": hbpo.__version__, "torch": "none", ' +
      '"python": sys.version.split()[0], "device": "CPU"}))';
    const lines: string[] = [];
    const stamp = await runSetup(plan, lock, { line: (l) => lines.push(l) });
    assert.equal(stamp.tool, 'pip');
    assert.equal(stamp.hbpo, bundle.version);
    assert.ok(lines.some((l) => /Successfully installed .*pyyaml/i.test(l) || /already satisfied/i.test(l)), lines.join('\n'));
    assert.ok(existsSync(plan.python) && !existsSync(plan.staging));
  });
});
