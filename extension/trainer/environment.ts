// The trainer environment HBPO Studio sets up itself (HBPO: Set Up Trainer Environment), for users who
// installed the extension and have no clone of the repository: a virtual environment with the trainer's
// pinned dependencies (the lock the .vsix carries, hashes checked) and the `hbpo` wheel, made with uv
// when it is there (seconds from its cache), else with venv + pip. It is built under a staging name and
// renamed into place only when `import hbpo, torch` works, so a failed or cancelled set-up leaves the
// previous environment, if any, as it was.
// Plain Node (no `vscode`): planSetup is pure; runSetup spawns each step without a shell.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runPython } from './exec';

/** What the .vsix carries for the set-up (scripts/vendor-trainer.mjs writes it to dist/trainer/). */
export interface TrainerBundle {
  wheel: string;
  lock: string;
  /** The wheel's version (`hbpo-<version>-py3-none-any.whl`). */
  version: string;
}

/** The bundle in `<extensionDir>/dist/trainer`, or undefined when this build carries none (a source checkout). */
export function findBundle(extensionDir: string): TrainerBundle | undefined {
  const dir = join(extensionDir, 'dist', 'trainer');
  const lock = join(dir, 'requirements.lock');
  if (!existsSync(lock)) return undefined;
  const wheel = readdirSync(dir).find((f) => /^hbpo-[^-]+-py3-none-any\.whl$/.test(f));
  return wheel ? { wheel: join(dir, wheel), lock, version: wheel.split('-')[1] } : undefined;
}

export interface SetupStep {
  /** What the user reads in the progress notification: "installing PyTorch, transformers, …". */
  title: string;
  command: string;
  args: string[];
}

export interface SetupPlan {
  /** Where the environment ends up, and its interpreter there. */
  envDir: string;
  python: string;
  /** Where it is built; renamed to envDir once the check passed. */
  staging: string;
  stagingPython: string;
  tool: 'uv' | 'pip';
  steps: SetupStep[];
}

/** The interpreter of a virtual environment folder. */
export function venvPython(dir: string, platform: NodeJS.Platform = process.platform): string {
  return join(dir, platform === 'win32' ? 'Scripts/python.exe' : 'bin/python');
}

/** Prints what the check found, as one JSON line: versions and the device PyTorch will train on. */
const CHECK = [
  'import json, sys, hbpo, torch',
  'cuda = torch.cuda.is_available()',
  'print(json.dumps({"hbpo": hbpo.__version__, "torch": torch.__version__, "python": sys.version.split()[0],',
  '  "device": f"CUDA ({torch.cuda.device_count()} x {torch.cuda.get_device_name(0)})" if cuda else "CPU"}))',
].join('\n');

/**
 * The commands that make the environment, in order. `uv`: the uv executable, when present.
 * Pure: nothing is checked or run.
 */
export function planSetup(o: {
  envDir: string; basePython: string; uv?: string; bundle: TrainerBundle; platform?: NodeJS.Platform;
}): SetupPlan {
  const platform = o.platform ?? process.platform;
  const staging = `${o.envDir}.partial`;
  const py = venvPython(staging, platform);
  const deps = 'installing PyTorch, transformers and the other pinned dependencies';
  const trainer = `installing the HBPO trainer (hbpo ${o.bundle.version})`;
  const steps: SetupStep[] = o.uv
    ? [
      // --relocatable: the environment is renamed into place after the check.
      { title: 'creating the virtual environment (uv)', command: o.uv, args: ['venv', '--python', o.basePython, '--relocatable', '--no-project', staging] },
      { title: deps, command: o.uv, args: ['pip', 'install', '--python', py, '--require-hashes', '-r', o.bundle.lock] },
      { title: trainer, command: o.uv, args: ['pip', 'install', '--python', py, '--no-deps', o.bundle.wheel] },
    ]
    : [
      { title: 'creating the virtual environment (venv)', command: o.basePython, args: ['-m', 'venv', staging] },
      { title: deps, command: py, args: ['-m', 'pip', 'install', '--disable-pip-version-check', '--progress-bar', 'off', '--require-hashes', '-r', o.bundle.lock] },
      { title: trainer, command: py, args: ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-deps', o.bundle.wheel] },
    ];
  steps.push({ title: 'checking that the trainer imports', command: py, args: ['-c', CHECK] });
  return { envDir: o.envDir, python: venvPython(o.envDir, platform), staging, stagingPython: py, tool: o.uv ? 'uv' : 'pip', steps };
}

/** What a finished set-up recorded (`hbpo-setup.json` in the environment). */
export interface SetupStamp {
  hbpo: string;
  torch: string;
  python: string;
  device: string;
  tool: 'uv' | 'pip';
  /** sha256 of the lock it installed: a newer extension with another lock asks for a new set-up. */
  lockSha256: string;
  seconds: number;
  createdAt: string;
}

const STAMP = 'hbpo-setup.json';

/** The stamp of a finished set-up in `envDir`, or undefined (none, or an unfinished one). */
export function readStamp(envDir: string): SetupStamp | undefined {
  try {
    const s = JSON.parse(readFileSync(join(envDir, STAMP), 'utf8')) as SetupStamp;
    return typeof s.hbpo === 'string' && typeof s.lockSha256 === 'string' ? s : undefined;
  } catch {
    return undefined;
  }
}

/** The interpreter of the set-up environment in `envDir`, when a set-up finished there. */
export function managedPython(envDir: string, platform: NodeJS.Platform = process.platform): string | undefined {
  const python = venvPython(envDir, platform);
  return readStamp(envDir) && existsSync(python) ? python : undefined;
}

export function sha256Of(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

export class SetupCancelled extends Error {
  constructor() {
    super('the set-up was cancelled; nothing was changed');
    this.name = 'SetupCancelled';
  }
}

export class SetupFailed extends Error {
  constructor(readonly step: SetupStep, detail: string) {
    super(`${step.title} failed: ${detail}`);
    this.name = 'SetupFailed';
  }
}

export interface SetupProgress {
  /** A step begins (index from 0). */
  step?(index: number, step: SetupStep): void;
  /** A line of a step's output (stdout and stderr). */
  line?(text: string): void;
  signal?: AbortSignal;
}

/**
 * Run the plan: each step in turn (no shell; its own process group, so cancel ends uv's or pip's
 * children too), then rename the staging folder into place and write the stamp. Rejects with
 * SetupCancelled or SetupFailed; either way the staging folder is removed and envDir is untouched.
 */
export async function runSetup(plan: SetupPlan, lock: string, progress: SetupProgress = {}): Promise<SetupStamp> {
  const started = Date.now();
  rmSync(plan.staging, { recursive: true, force: true }); // a set-up killed earlier
  try {
    let checked = '';
    for (const [i, step] of plan.steps.entries()) {
      if (progress.signal?.aborted) throw new SetupCancelled();
      progress.step?.(i, step);
      const out = await runStep(step, progress);
      if (i === plan.steps.length - 1) checked = out.trim().split(/\r?\n/).pop() ?? '';
    }
    const found = JSON.parse(checked) as Pick<SetupStamp, 'hbpo' | 'torch' | 'python' | 'device'>;
    const stamp: SetupStamp = {
      hbpo: found.hbpo, torch: found.torch, python: found.python, device: found.device, tool: plan.tool,
      lockSha256: sha256Of(lock), seconds: Math.round((Date.now() - started) / 100) / 10, createdAt: new Date().toISOString(),
    };
    writeFileSync(join(plan.staging, STAMP), `${JSON.stringify(stamp, null, 2)}\n`);
    rmSync(plan.envDir, { recursive: true, force: true });
    renameSync(plan.staging, plan.envDir);
    return stamp;
  } catch (err) {
    rmSync(plan.staging, { recursive: true, force: true });
    throw err;
  }
}

const KEEP_LINES = 12;

/** One step; resolves with its stdout, rejects with SetupCancelled or SetupFailed (with its last lines). */
function runStep(step: SetupStep, progress: SetupProgress): Promise<string> {
  return new Promise((resolve, reject) => {
    const detached = process.platform !== 'win32';
    const child = spawn(step.command, step.args, {
      shell: false, detached, windowsHide: true, stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PYTHONUNBUFFERED: '1', PIP_NO_INPUT: '1', UV_NO_PROGRESS: '1' },
    });
    let stdout = '';
    const last: string[] = [];
    const onText = (isStdout: boolean) => {
      let partial = '';
      return (chunk: string) => {
        if (isStdout) stdout += chunk;
        const lines = (partial + chunk).split(/\r?\n|\r/);
        partial = lines.pop() ?? '';
        for (const l of lines) {
          if (!l.trim()) continue;
          last.push(l);
          if (last.length > KEEP_LINES) last.shift();
          progress.line?.(l);
        }
      };
    };
    child.stdout.setEncoding('utf8').on('data', onText(true));
    child.stderr.setEncoding('utf8').on('data', onText(false));
    let cancelled = false;
    const kill = (signal: NodeJS.Signals) => {
      try {
        if (detached && child.pid) process.kill(-child.pid, signal);
        else child.kill(signal);
      } catch {
        // already gone
      }
    };
    const onAbort = () => {
      cancelled = true;
      kill('SIGTERM');
      setTimeout(() => kill('SIGKILL'), 5000).unref();
    };
    progress.signal?.addEventListener('abort', onAbort, { once: true });
    let spawnError: Error | undefined;
    let done = false;
    const finish = (code: number | null) => {
      if (done) return;
      done = true;
      progress.signal?.removeEventListener('abort', onAbort);
      if (cancelled) reject(new SetupCancelled());
      else if (spawnError) reject(new SetupFailed(step, `could not run ${step.command}: ${spawnError.message}`));
      else if (code === 0) resolve(stdout);
      else reject(new SetupFailed(step, `${step.command} exited with ${code ?? 'a signal'}${last.length ? `:\n${last.join('\n')}` : ''}`));
    };
    child.on('error', (err) => {
      spawnError = err;
      if (child.pid === undefined) finish(null); // never started: no 'close' is coming
    });
    child.on('close', (code) => finish(code));
  });
}

/** A Python that can make the environment: the first candidate that runs and is 3.10 or newer. */
export async function findBasePython(candidates: readonly string[]): Promise<{ python: string; version: string } | undefined> {
  const probe = 'import sys; print(sys.executable); print("%d.%d.%d" % sys.version_info[:3]); print(sys.version_info >= (3, 10))';
  for (const candidate of candidates) {
    const r = await runPython(candidate, ['-c', probe], { timeoutMs: 30_000 });
    const [executable, version, ok] = r.stdout.trim().split(/\r?\n/);
    // sys.executable, not the candidate: a pyenv or asdf shim must not end up as the venv's base.
    if (r.code === 0 && ok === 'True' && executable) return { python: executable, version };
  }
  return undefined;
}

/** uv, when present: on PATH, or where its installer puts it. */
export async function findUv(home: string | undefined): Promise<string | undefined> {
  const candidates = ['uv', ...(home ? [join(home, '.local', 'bin', 'uv'), join(home, '.cargo', 'bin', 'uv')] : [])];
  for (const uv of candidates) {
    const r = await runPython(uv, ['--version'], { timeoutMs: 15_000 });
    if (r.code === 0 && /^uv \d/.test(r.stdout.trim())) return uv;
  }
  return undefined;
}
