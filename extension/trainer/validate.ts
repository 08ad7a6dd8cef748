// `python -m hbpo validate --config <file> --json`: check a config (with overrides) without running anything.
import { explainFailure, lastLines, runPython, type FailureKind, type RunOptions } from './exec';

export interface ValidationResult {
  ok: boolean;
  /** `field: message` strings (`tiers: must be strictly ascending, got [64, 32]`); see locateProblems. */
  problems: string[];
  /** The resolved config, when ok. */
  config?: Record<string, unknown>;
  /** CUDA devices the trainer's torch sees (CUDA_VISIBLE_DEVICES applied), when ok. */
  cudaDevices?: number;
}

/** The interpreter or the trainer package could not be run; `message` says how to fix it. */
export class TrainerUnavailableError extends Error {
  constructor(message: string, readonly kind: FailureKind) {
    super(message);
    this.name = 'TrainerUnavailableError';
  }
}

/**
 * Validate `configPath` with `overrides` (`key.sub=value` strings, as `--set` takes them).
 * Resolves with the trainer's verdict; rejects with TrainerUnavailableError when the trainer could not
 * give one (no interpreter, no hbpo package, a crash).
 */
export async function validateConfig(
  python: string, configPath: string, overrides: readonly string[] = [], opts: RunOptions = {},
): Promise<ValidationResult> {
  const args = ['-m', 'hbpo', 'validate', '--config', configPath, '--json'];
  for (const o of overrides) args.push('--set', o);
  const r = await runPython(python, args, { timeoutMs: 120_000, ...opts });
  if (!r.error && !r.timedOut && (r.code === 0 || r.code === 2)) {
    const verdict = parseVerdict(r.stdout);
    if (verdict) return verdict;
    if (r.code === 2) return { ok: false, problems: [`hbpo validate: ${lastLines(r.stderr, 3) || 'bad input'}`] };
  }
  const failure = explainFailure(python, r, 'validating the config');
  throw new TrainerUnavailableError(failure.message, failure.kind);
}

function parseVerdict(stdout: string): ValidationResult | undefined {
  // The verdict is the last line that parses as JSON (a library could print something first).
  const lines = stdout.trim().split(/\r?\n/).reverse();
  for (const line of lines) {
    try {
      const v = JSON.parse(line) as { ok?: unknown; problems?: unknown; config?: unknown; cuda_devices?: unknown };
      if (typeof v !== 'object' || v === null || typeof v.ok !== 'boolean' || !Array.isArray(v.problems)) continue;
      const result: ValidationResult = { ok: v.ok, problems: v.problems.map(String) };
      if (v.config && typeof v.config === 'object') result.config = v.config as Record<string, unknown>;
      if (Number.isInteger(v.cuda_devices) && (v.cuda_devices as number) >= 0) result.cudaDevices = v.cuda_devices as number;
      return result;
    } catch {
      // not the verdict line
    }
  }
  return undefined;
}
