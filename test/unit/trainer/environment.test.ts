// The trainer set-up's plan and runner (extension/trainer/environment.ts). The steps here are small
// Node commands standing in for uv and pip (the boundary); test/integration/trainerSetup.test.ts runs
// the real ones.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import {
  findBundle, managedPython, planSetup, readStamp, runSetup, SetupCancelled, SetupFailed, sha256Of, type SetupPlan,
} from '../../../extension/trainer/environment';

const tmp = mkdtempSync(join(tmpdir(), 'hbpo-env-test-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const bundle = { wheel: '/ext/dist/trainer/hbpo-0.1.0-py3-none-any.whl', lock: '/ext/dist/trainer/requirements.lock', version: '0.1.0' };

test('the uv plan: a relocatable venv from the base Python, the hashed lock, the wheel without deps, the check', () => {
  const plan = planSetup({ envDir: '/g/trainer-env', basePython: '/usr/bin/python3.11', uv: '/u/uv', bundle, platform: 'linux' });
  assert.equal(plan.tool, 'uv');
  assert.equal(plan.python, '/g/trainer-env/bin/python');
  assert.equal(plan.staging, '/g/trainer-env.partial');
  assert.deepEqual(plan.steps.map((s) => [s.command, ...s.args].slice(0, 4)), [
    ['/u/uv', 'venv', '--python', '/usr/bin/python3.11'],
    ['/u/uv', 'pip', 'install', '--python'],
    ['/u/uv', 'pip', 'install', '--python'],
    ['/g/trainer-env.partial/bin/python', '-c', plan.steps[3].args[1]],
  ]);
  assert.ok(plan.steps[0].args.includes('--relocatable') && plan.steps[0].args.at(-1) === plan.staging);
  assert.deepEqual(plan.steps[1].args.slice(3), ['/g/trainer-env.partial/bin/python', '--require-hashes', '-r', bundle.lock]);
  assert.deepEqual(plan.steps[2].args.slice(3), ['/g/trainer-env.partial/bin/python', '--no-deps', bundle.wheel]);
  assert.match(plan.steps[3].args[1], /import json, sys, hbpo, torch/);
  assert.match(plan.steps[2].title, /hbpo 0\.1\.0/);
});

test('the pip plan (no uv): venv, pip with hashes, the wheel; Windows paths on Windows', () => {
  const plan = planSetup({ envDir: 'C:\\g\\trainer-env', basePython: 'C:\\Python311\\python.exe', bundle, platform: 'win32' });
  assert.equal(plan.tool, 'pip');
  assert.ok(plan.python.endsWith('Scripts/python.exe'));
  const py = plan.stagingPython;
  assert.deepEqual(plan.steps[0], { title: 'creating the virtual environment (venv)', command: 'C:\\Python311\\python.exe', args: ['-m', 'venv', plan.staging] });
  assert.equal(plan.steps[1].command, py);
  assert.deepEqual(plan.steps[1].args.slice(0, 3), ['-m', 'pip', 'install']);
  assert.ok(plan.steps[1].args.includes('--require-hashes') && plan.steps[1].args.at(-1) === bundle.lock);
  assert.deepEqual(plan.steps[2].args.slice(-2), ['--no-deps', bundle.wheel]);
});

test('findBundle finds the wheel and lock the .vsix carries, and nothing in a source checkout', () => {
  const ext = join(tmp, 'ext');
  assert.equal(findBundle(ext), undefined);
  mkdirSync(join(ext, 'dist', 'trainer'), { recursive: true });
  writeFileSync(join(ext, 'dist', 'trainer', 'requirements.lock'), 'x==1\n');
  assert.equal(findBundle(ext), undefined, 'a lock without a wheel is no bundle');
  writeFileSync(join(ext, 'dist', 'trainer', 'hbpo-0.2.1-py3-none-any.whl'), 'zip');
  assert.deepEqual(findBundle(ext), {
    wheel: join(ext, 'dist', 'trainer', 'hbpo-0.2.1-py3-none-any.whl'), lock: join(ext, 'dist', 'trainer', 'requirements.lock'), version: '0.2.1',
  });
});

/** A plan whose steps are node one-liners: they write into the staging folder as uv would. */
function fakePlan(envDir: string, steps: string[]): SetupPlan {
  const staging = `${envDir}.partial`;
  return {
    envDir, python: join(envDir, 'bin', 'python'), staging, stagingPython: join(staging, 'bin', 'python'), tool: 'uv',
    steps: steps.map((code, i) => ({ title: `step ${i}`, command: process.execPath, args: ['-e', code, staging] })),
  };
}
const MAKE_VENV = `const fs=require('fs'),p=require('path');const d=process.argv[1];fs.mkdirSync(p.join(d,'bin'),{recursive:true});fs.writeFileSync(p.join(d,'bin','python'),'');console.log('Created '+d)`;
const CHECK = `console.log('Installed 3 packages');console.log(JSON.stringify({hbpo:'0.1.0',torch:'2.15.0',python:'3.11.7',device:'CPU'}))`;

test('a set-up that finishes: the staging folder becomes the environment, with its stamp; steps and lines are reported', async () => {
  const envDir = join(tmp, 'ok', 'trainer-env');
  mkdirSync(envDir, { recursive: true });
  writeFileSync(join(envDir, 'old-file'), 'the previous environment');
  const lock = join(tmp, 'ok', 'requirements.lock');
  writeFileSync(lock, 'torch==2.15.0\n');
  const seen: string[] = [];
  const stamp = await runSetup(fakePlan(envDir, [MAKE_VENV, 'console.error("Resolved 60 packages")', CHECK]), lock, {
    step: (i, s) => seen.push(`step ${i}: ${s.title}`), line: (l) => seen.push(l),
  });
  assert.deepEqual(seen.filter((l) => l.startsWith('step')), ['step 0: step 0', 'step 1: step 1', 'step 2: step 2']);
  assert.ok(seen.includes('Resolved 60 packages') && seen.includes('Installed 3 packages'), seen.join(' | '));
  assert.equal(stamp.hbpo, '0.1.0');
  assert.equal(stamp.device, 'CPU');
  assert.equal(stamp.lockSha256, sha256Of(lock));
  assert.ok(!existsSync(`${envDir}.partial`) && !existsSync(join(envDir, 'old-file')), 'replaced whole');
  assert.deepEqual(readStamp(envDir), stamp);
  assert.equal(managedPython(envDir, 'linux'), join(envDir, 'bin', 'python'));
});

test('a failed step names itself and its last lines, and leaves the previous environment as it was', async () => {
  const envDir = join(tmp, 'fail', 'trainer-env');
  mkdirSync(join(envDir, 'bin'), { recursive: true });
  writeFileSync(join(envDir, 'bin', 'python'), '');
  writeFileSync(join(envDir, 'hbpo-setup.json'), JSON.stringify({ hbpo: '0.0.9', lockSha256: 'abc' }));
  const lock = join(tmp, 'fail.lock');
  writeFileSync(lock, '');
  const failing = 'console.error("ERROR: Hash mismatch for torch-2.15.0 (expected sha256:aaa)"); process.exit(1)';
  await assert.rejects(runSetup(fakePlan(envDir, [MAKE_VENV, failing, CHECK]), lock), (err: unknown) => {
    assert.ok(err instanceof SetupFailed);
    assert.equal(err.step.title, 'step 1');
    assert.match(err.message, /^step 1 failed: .* exited with 1:\nERROR: Hash mismatch for torch/);
    return true;
  });
  assert.ok(!existsSync(`${envDir}.partial`), 'the staging folder is removed');
  assert.equal(readStamp(envDir)?.hbpo, '0.0.9', 'the previous environment is untouched');
  assert.equal(managedPython(join(tmp, 'nowhere')), undefined);
});

test('a command that cannot be run fails with its name', async () => {
  const envDir = join(tmp, 'enoent', 'trainer-env');
  const plan = fakePlan(envDir, [MAKE_VENV]);
  plan.steps.push({ title: 'installing', command: join(tmp, 'no-such-uv'), args: [] });
  await assert.rejects(runSetup(plan, __filename), /installing failed: could not run .*no-such-uv/);
  assert.ok(!existsSync(`${envDir}.partial`) && !existsSync(envDir));
});

test('cancel ends the step and its children (process group) and removes the staging folder', { skip: process.platform === 'win32' }, async () => {
  const envDir = join(tmp, 'cancel', 'trainer-env');
  const pidFile = join(tmp, 'cancel-child.pid');
  // The step starts a grandchild (as uv starts Python) and waits: cancel must end both.
  const slow = `const c=require('child_process').spawn(process.execPath,['-e','setInterval(()=>{},1000)'],{stdio:'ignore'});` +
    `require('fs').writeFileSync(${JSON.stringify(pidFile)},String(c.pid));console.log('Downloading torch (800 MiB)');setInterval(()=>{},1000)`;
  const abort = new AbortController();
  const done = runSetup(fakePlan(envDir, [MAKE_VENV, slow, CHECK]), __filename, {
    signal: abort.signal, line: (l) => { if (l.startsWith('Downloading')) abort.abort(); },
  });
  await assert.rejects(done, (err: unknown) => err instanceof SetupCancelled);
  const child = Number(readFileSync(pidFile, 'utf8'));
  const alive = () => { try { process.kill(child, 0); return true; } catch { return false; } };
  for (let i = 0; i < 50 && alive(); i++) await new Promise((r) => setTimeout(r, 100));
  assert.equal(alive(), false, 'the grandchild was ended with its group');
  assert.ok(!existsSync(`${envDir}.partial`) && !existsSync(envDir));
});
