// Run a short Python command to completion (no shell, arguments as an array), and turn the ways it
// can fail (no interpreter, no `hbpo` package, a broken dependency) into messages that say how to fix.
import { spawn } from 'node:child_process';

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Set when the process could not be started at all (ENOENT: no such interpreter, EACCES, ...). */
  error?: NodeJS.ErrnoException;
  timedOut: boolean;
}

export interface RunOptions {
  cwd?: string;
  /** Extra environment variables, on top of this process's environment. */
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

const MAX_OUTPUT = 8 * 1024 * 1024;

/** The environment a trainer command runs with: ours, the caller's additions, unbuffered UTF-8 I/O. */
export function trainerEnv(extra?: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return { ...process.env, PYTHONUNBUFFERED: '1', PYTHONIOENCODING: 'utf-8', ...extra };
}

export function runPython(python: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let error: NodeJS.ErrnoException | undefined;
    const child = spawn(python, [...args], {
      cwd: opts.cwd, env: trainerEnv(opts.env), shell: false, stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true,
    });
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (s: string) => { if (stdout.length < MAX_OUTPUT) stdout += s; });
    child.stderr.on('data', (s: string) => { if (stderr.length < MAX_OUTPUT) stderr += s; });
    const timer = opts.timeoutMs
      ? setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, opts.timeoutMs)
      : undefined;
    let done = false;
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      if (done) return;
      done = true;
      if (timer) clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, error, timedOut });
    };
    child.on('error', (err: NodeJS.ErrnoException) => {
      error = err;
      if (child.pid === undefined) finish(null, null); // never started: no 'close' is coming
    });
    child.on('close', finish);
  });
}

export type FailureKind = 'interpreter-missing' | 'package-missing' | 'dependency-missing' | 'timeout' | 'failed';

export interface Failure {
  kind: FailureKind;
  message: string;
}

const FIX_INTERPRETER =
  'Run "HBPO: Set Up Trainer Environment" (it makes an environment with the trainer), set the `hbpo.pythonPath` ' +
  'setting to a Python 3.10+ interpreter that has it, or select one with "Python: Select Interpreter".';
const FIX_PACKAGE =
  'Run "HBPO: Set Up Trainer Environment" (it makes an environment with the trainer and its pinned dependencies); ' +
  'in a clone of HBPO Studio, `npm run setup` makes .venv instead.';

/** Why running `python` failed, with the fix. `what` names the attempt, e.g. "checking the trainer". */
export function explainFailure(python: string, r: RunResult, what: string): Failure {
  if (r.error) {
    const code = r.error.code;
    if (code === 'ENOENT') {
      return { kind: 'interpreter-missing', message: `Python interpreter not found: ${python}. ${FIX_INTERPRETER}` };
    }
    if (code === 'EACCES' || code === 'ENOTDIR' || code === 'EISDIR') {
      return { kind: 'interpreter-missing',
        message: `${python} cannot be run as a Python interpreter (${code}). ${FIX_INTERPRETER}` };
    }
    return { kind: 'failed', message: `${what} failed: could not start ${python}: ${r.error.message}` };
  }
  if (r.timedOut) {
    return { kind: 'timeout', message: `${what} timed out (${python} did not answer). Is the interpreter healthy?` };
  }
  const missing = /No module named ['"]?([\w.]+)['"]?/.exec(r.stderr);
  if (missing) {
    const name = missing[1];
    if (name === 'hbpo' || name.startsWith('hbpo.')) {
      return { kind: 'package-missing', message: `The HBPO trainer (Python package hbpo) is not installed for ${python}. ${FIX_PACKAGE}` };
    }
    return { kind: 'dependency-missing',
      message: `The HBPO trainer's dependency "${name}" is missing for ${python}. ${FIX_PACKAGE}` };
  }
  const how = r.signal ? `was killed by ${r.signal}` : `exited with code ${r.code}`;
  const last = lastLines(r.stderr, 3);
  return { kind: 'failed', message: `${what} failed: ${python} ${how}${last ? `: ${last}` : ''}` };
}

export function lastLines(text: string, n: number): string {
  return text.trimEnd().split(/\r?\n/).filter((l) => l.trim() !== '').slice(-n).join(' | ');
}
