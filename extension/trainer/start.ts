// Start a new run or resume one. Both validate first: a config the trainer refuses never starts a process.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { judgeRun } from '../runs/judge';
import { isTrainerAlive } from '../runs/pid';
import { readRunMarks } from '../runs/runIndex';
import { isNonEmptyDir, TrainerProcess, type TrainerCallbacks } from './process';
import { processChoices, StartCancelled, type AskProcesses } from './processes';
import { validateConfig } from './validate';

/** The config (or the resume request) was refused; `problems` are `field: message` strings. */
export class InvalidConfigError extends Error {
  constructor(readonly problems: string[], readonly configPath: string) {
    super(`invalid config ${configPath}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'InvalidConfigError';
  }
}

export interface StartOptions extends TrainerCallbacks {
  python: string;
  /** The trainer's working directory (the workspace folder); relative paths resolve against it. */
  cwd: string;
  configPath: string;
  /** `key.sub=value` strings, passed as `--set` (e.g. `train.steps=50`). */
  overrides?: readonly string[];
  /** Where run folders go (sets run.dir); relative to cwd. Default: the config's run.dir. */
  runsDir?: string;
  /** Extra environment variables for the trainer. */
  env?: NodeJS.ProcessEnv;
  /**
   * Processes to train with (torchrun: `--nproc`); default 1. A function: asked, once the config is
   * valid, with the counts the trainer takes on the GPUs it sees, when there is more than one such
   * count; undefined from it cancels the start (StartCancelled).
   */
  processes?: number | AskProcesses;
}

export interface ResumeOptions extends TrainerCallbacks {
  python: string;
  /** Default: the run folder. */
  cwd?: string;
  overrides?: readonly string[];
  env?: NodeJS.ProcessEnv;
  /** Validate the run's config (with the overrides) first; default: only when there are overrides. */
  validate?: boolean;
  /** Processes to train with (`--nproc`): a resume needs the run's own number. */
  processes?: number;
}

function setArgs(overrides: readonly string[]): string[] {
  return overrides.flatMap((o) => ['--set', o]);
}

/** `--nproc N` for a run of several processes (the trainer starts them under torchrun). */
function nprocArgs(processes: number | undefined): string[] {
  return processes !== undefined && processes > 1 ? ['--nproc', String(Math.floor(processes))] : [];
}

/**
 * Validate, then spawn `python -m hbpo train --config <file> --set ... --events-stdout`.
 * Rejects with InvalidConfigError (nothing started) or TrainerUnavailableError (no interpreter/package).
 */
export async function startTraining(opts: StartOptions): Promise<TrainerProcess> {
  const cwd = resolve(opts.cwd);
  const configPath = resolve(cwd, opts.configPath);
  const overrides = [...(opts.overrides ?? [])];
  // A JSON string is a YAML double-quoted scalar: any path survives the trainer's YAML parse of the value.
  if (opts.runsDir !== undefined) overrides.push(`run.dir=${JSON.stringify(resolve(cwd, opts.runsDir))}`);
  const verdict = await validateConfig(opts.python, configPath, overrides, { cwd, env: opts.env });
  if (!verdict.ok) throw new InvalidConfigError(verdict.problems, configPath);

  const run = (verdict.config?.run ?? {}) as { dir?: unknown; name?: unknown };
  const runsDir = typeof run.dir === 'string' ? resolve(cwd, run.dir) : undefined;
  if (runsDir && typeof run.name === 'string' && run.name && isNonEmptyDir(join(runsDir, run.name))) {
    throw new InvalidConfigError(
      [`run.name: ${join(runsDir, run.name)} already exists; resume it or choose another name`], configPath);
  }
  let processes = opts.processes;
  if (typeof processes === 'function') {
    const choices = processChoices(verdict.cudaDevices ?? 0, verdict.config);
    processes = choices.length > 1 ? await processes(choices, verdict.cudaDevices ?? 0) : 1;
    if (processes === undefined) throw new StartCancelled();
  }
  const args = ['-m', 'hbpo', 'train', '--config', configPath, ...setArgs(overrides), ...nprocArgs(processes), '--events-stdout'];
  return new TrainerProcess({ python: opts.python, args, cwd, env: opts.env, runsDir }, opts);
}

/**
 * Validate the run's own config.yaml with `overrides` (see ResumeOptions.validate), then spawn
 * `python -m hbpo resume <runDir> --set ... --events-stdout`;
 * the trainer continues from the run's latest checkpoint. Refuses a run whose trainer is still alive.
 */
export async function resumeTraining(runDir: string, opts: ResumeOptions): Promise<TrainerProcess> {
  const dir = resolve(opts.cwd ?? '.', runDir);
  const configPath = join(dir, 'config.yaml');
  if (!existsSync(configPath)) {
    throw new InvalidConfigError([`run_dir: ${dir} has no config.yaml; is it a run folder?`], configPath);
  }
  const pid = await liveTrainerPid(dir);
  if (pid !== undefined) {
    throw new InvalidConfigError([`run_dir: ${dir} is still being trained (pid ${pid}); stop it first`], configPath);
  }
  const cwd = resolve(opts.cwd ?? dir);
  const overrides = [...(opts.overrides ?? [])];
  // The run's config.yaml is the resolved config the trainer wrote after validating it; only overrides
  // can make it invalid now (validating costs seconds of imports), unless the caller asks.
  if (opts.validate ?? overrides.length > 0) {
    const verdict = await validateConfig(opts.python, configPath, overrides, { cwd, env: opts.env });
    if (!verdict.ok) throw new InvalidConfigError(verdict.problems, configPath);
  }
  const args = ['-m', 'hbpo', 'resume', dir, ...setArgs(overrides), ...nprocArgs(opts.processes), '--events-stdout'];
  return new TrainerProcess({ python: opts.python, args, cwd, env: opts.env, runDir: dir }, opts);
}

/**
 * The pid of a trainer still writing `runDir`: the run store's judge finds it running, its latest
 * run_start naming a pid that is alive and (on Linux) running hbpo. Undefined otherwise. The walk
 * back to that run_start goes as far as it takes: this guards a resume and a stop by pid.
 */
export async function liveTrainerPid(runDir: string): Promise<number | undefined> {
  const { latest } = await readRunMarks(runDir, { tailBytes: Infinity });
  const verdict = judgeRun({ latest, isAlive: isTrainerAlive });
  return verdict.status === 'running' && latest?.type === 'run_start' ? latest.pid : undefined;
}
