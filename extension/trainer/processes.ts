// How many processes a new run trains with when several GPUs are visible: the counts the trainer will
// take (its check_world in trainer/hbpo/launch.py), so the question offers no answer it would refuse.
// Pure; the question itself is commands/training.ts's.

/** The user closed the question: nothing starts, nothing to report. */
export class StartCancelled extends Error {
  constructor() {
    super('start cancelled');
    this.name = 'StartCancelled';
  }
}

/** What a start asks when several counts are possible: `choices`, largest first, on `gpus` GPUs. */
export type AskProcesses = (choices: number[], gpus: number) => Promise<number | undefined>;

const positiveInt = (v: unknown): number | undefined => (Number.isInteger(v) && (v as number) > 0 ? (v as number) : undefined);

/**
 * Process counts a run of `config` (the resolved config `hbpo validate` returns) can train with on
 * `gpus` visible CUDA devices, one GPU a process, largest first: each shares the step's queries and
 * a mini-batch's queries evenly. Just [1] when there is nothing to choose: one GPU or none, or a
 * config pinned to the CPU or to one device (`run.device: cpu | cuda:N`).
 */
export function processChoices(gpus: number, config: Record<string, unknown> | undefined): number[] {
  const section = (name: string) => (config?.[name] ?? {}) as Record<string, unknown>;
  const device = section('run').device ?? 'auto';
  if (!(gpus > 1) || (device !== 'auto' && device !== 'cuda')) return [1];
  const queries = positiveInt(section('train').queries_per_step) ?? 1;
  const miniBatch = positiveInt(section('ppo').mini_batch_queries);
  const counts: number[] = [];
  for (let n = Math.min(gpus, queries); n >= 1; n--) {
    if (queries % n === 0 && (miniBatch === undefined || miniBatch % n === 0)) counts.push(n);
  }
  return counts;
}
