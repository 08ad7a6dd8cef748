// Everything a loaded run shows (its model's every accessor, and where the read ended), to compare
// two ways of loading the same file: through the persisted index or not, in a worker or not.
import type { LoadedRun } from '../../../extension/runs/runFile';
import { RunModel } from '../../../extension/runs/runModel';

/** Every observable of the model a load gives, and where the load ended. */
export function modelView(run: LoadedRun) {
  const m = new RunModel('x', run.state);
  const steps = m.rolloutSteps();
  return {
    read: [run.offset, run.line, run.size, Buffer.from(run.identity?.head ?? []).toString(), Buffer.from(run.identity?.tail ?? []).toString()],
    info: m.info, end: m.end, step: m.step, starts: m.starts, startTime: m.startTime,
    series: m.metricKeys().map((k) => [k, m.series(k)]), tierModes: m.tierModes(), lastMetrics: m.lastMetrics,
    evals: m.evals, checkpoints: m.checkpoints, logs: m.logs, errors: m.errors, errorCount: m.errorCount,
    rollouts: m.rolloutCount, steps,
    groups: steps.map((s) => m.queryIndices(s).map((q) => m.rolloutGroup(s, q))),
    lengths: steps.map((s) => [...m.lengthsByTier(s)]),
  };
}

