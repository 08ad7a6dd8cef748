// Which Python runs the trainer, and whether the trainer is installed in it.
import { isAbsolute, join, resolve } from 'node:path';
import { explainFailure, runPython, type FailureKind, type RunOptions } from './exec';

export type InterpreterSource = 'setting' | 'managed' | 'pythonExtension' | 'workspaceVenv' | 'default';

export interface ResolvedInterpreter {
  python: string;
  source: InterpreterSource;
}

export interface ResolveOptions {
  platform?: NodeJS.Platform;
  /** The user's home folder, for `~` and `${userHome}` in the setting (left as written when absent). */
  home?: string;
  /** Whether a file exists; used to find `<workspace>/.venv`. Without it that candidate is skipped. */
  exists?: (path: string) => boolean;
  /** The interpreter of the environment HBPO: Set Up Trainer Environment made, when there is one. */
  managed?: string;
}

/**
 * Pick the interpreter, first match wins:
 * 1. the `hbpo.pythonPath` setting (`${workspaceFolder}`, `${userHome}` and `~` expanded; a relative
 *    path resolves against the workspace folder; a bare command such as `python3` is looked up on PATH);
 * 2. the environment HBPO Studio set up (HBPO: Set Up Trainer Environment), once one was: the user
 *    made it for training, while the Python extension's selection usually serves other work;
 * 3. the interpreter the Python extension has selected for the workspace;
 * 4. `<workspace>/.venv` (what `npm run setup` creates), when `exists` says it is there;
 * 5. `python3` (`python` on Windows).
 * Pure: no file system access beyond the injected `exists`.
 */
export function resolveInterpreter(
  setting: string | undefined, pythonExtensionPath: string | undefined, workspaceFolder: string | undefined,
  opts: ResolveOptions = {},
): ResolvedInterpreter {
  const platform = opts.platform ?? process.platform;
  const value = setting?.trim();
  if (value) return { python: expandSetting(value, workspaceFolder, opts.home), source: 'setting' };
  if (opts.managed) return { python: opts.managed, source: 'managed' };
  const fromExtension = pythonExtensionPath?.trim();
  if (fromExtension) return { python: fromExtension, source: 'pythonExtension' };
  if (workspaceFolder && opts.exists) {
    const venv = join(workspaceFolder, '.venv', platform === 'win32' ? 'Scripts/python.exe' : 'bin/python');
    if (opts.exists(venv)) return { python: venv, source: 'workspaceVenv' };
  }
  return { python: platform === 'win32' ? 'python' : 'python3', source: 'default' };
}

function expandSetting(value: string, workspaceFolder: string | undefined, home: string | undefined): string {
  let v = value;
  if (workspaceFolder) v = v.replaceAll('${workspaceFolder}', workspaceFolder);
  if (home) {
    v = v.replaceAll('${userHome}', home);
    if (v === '~' || v.startsWith('~/') || v.startsWith('~\\')) v = home + v.slice(1);
  }
  const isBareCommand = !/[\\/]/.test(v);
  if (!isBareCommand && !isAbsolute(v) && workspaceFolder) v = resolve(workspaceFolder, v);
  return v;
}

export type TrainerCheck =
  | { ok: true; python: string; version: string }
  | { ok: false; python: string; kind: FailureKind; message: string };

/** Run `python -c "import hbpo, sys; print(hbpo.__version__)"`; a failure says how to fix it. */
export async function checkTrainer(python: string, opts: RunOptions = {}): Promise<TrainerCheck> {
  const r = await runPython(python, ['-c', 'import hbpo, sys; print(hbpo.__version__)'], { timeoutMs: 60_000, ...opts });
  const version = r.stdout.trim().split(/\r?\n/).pop() ?? '';
  if (!r.error && !r.timedOut && r.code === 0 && version) return { ok: true, python, version };
  const failure = explainFailure(python, r, 'checking the HBPO trainer');
  return { ok: false, python, kind: failure.kind, message: failure.message };
}
