// What the run store hands to the pages: a run's status, a metric over steps, an eval result.
// Defined here so the host (extension/runs/) and the pages (webview/) share them; no imports
// beyond common/.
import type { EvalEvent } from './events';

/** `pending`: no run_start yet. `stale`: started, never ended, and its process is gone. */
export type RunStatus = 'pending' | 'running' | 'stale' | 'finished' | 'stopped' | 'failed';

/** One metric over steps; `values[i]` belongs to `steps[i]` (null: the trainer reported NaN). */
export interface Series {
  steps: number[];
  values: (number | null)[];
}

export type EvalResult = Omit<EvalEvent, 'type' | 'v'> & { truncated?: number | null };
