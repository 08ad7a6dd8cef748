// The dashboard's data from a RunModel: a full state, then only what is new. No `vscode`, so the
// increments are unit-tested against real models.
import type { LoadProgress } from '../../common/loading';
import { compareModes, modeKey, modeOfTier } from '../../common/mode';
import { isPidAlive, type IsAlive } from '../runs/pid';
import type { EvalResult, RunInfo, RunModel, Series } from '../runs/runModel';
import {
  tierInfoOf, type DashboardDelta, type DashboardHeader, type DashboardState, type DashboardToWebview, type TierInfo,
} from '../../common/protocol/dashboard';

export function headerOf(
  model: RunModel, label: string, runDir: string, isAlive: IsAlive = isPidAlive, loading?: LoadProgress,
): DashboardHeader {
  const info = model.info;
  const status = model.status(isAlive);
  return {
    label,
    runDir,
    method: info?.method ?? null,
    status,
    step: model.step,
    totalSteps: info?.total_steps ?? null,
    stepsPerSecond: model.stepsPerSecond(),
    etaSeconds: model.etaSeconds(),
    device: info ? deviceLabel(info) : null,
    errorCount: model.errorCount,
    preparing: status === 'pending' ? model.logs.at(-1)?.message ?? null : null,
    loading: loading ? { bytes: loading.bytes, total: loading.total } : null,
  };
}

/** Where the run trains: its device, or with several processes (torchrun ranks) how many and on what. */
export function deviceLabel(info: Pick<RunInfo, 'device' | 'world_size' | 'devices'>): string {
  const n = info.world_size ?? 1;
  if (n <= 1) return info.device;
  const devices = info.devices?.length ? [...new Set(info.devices)].join(', ') : info.device;
  return `${n} processes · ${devices}`;
}

/** The run's tiers (run_start) and any other mode its step metrics cover (`natural`), in compareModes order. */
export function tiersOf(model: RunModel): TierInfo[] {
  const modes = new Map(model.tierModes().map((m) => [modeKey(m), m]));
  for (const b of model.info?.tiers ?? []) modes.set(modeKey(modeOfTier(b)), modeOfTier(b));
  return [...modes.values()].sort(compareModes).map(tierInfoOf);
}

interface Sent {
  count: number;
  last: number;
}

const evalKey = (e: EvalResult) => `${e.step}\u0000${e.time}\u0000${e.dataset}\u0000${e.mode}`;

/**
 * Remembers what was sent to one webview. `next()` answers with an `append` of what is new, a
 * full `state` when the model went back (a new run_start: a resume may have superseded steps; a
 * series, the evals or the rollout steps no longer start with what was sent), or nothing when
 * nothing changed. A replaced file comes as the tailer's `reset`, which the panel turns into `full()`.
 */
export class DashboardFeed {
  private sent = new Map<string, Sent>();
  private evalsSent = 0;
  private lastEval = '';
  private stepsSent: number[] = [];
  private lastHeader = '';
  private lastTiers = '';
  private starts = 0;

  constructor(
    private readonly model: RunModel,
    private readonly label: string,
    private readonly runDir: string,
    private readonly isAlive: IsAlive = isPidAlive,
    /** How far the tailer's first load of a big file is (a header change, so each step of it is sent). */
    private readonly loading: () => LoadProgress | undefined = () => undefined,
  ) {}

  full(): DashboardState {
    const m = this.model;
    const series: Record<string, Series> = {};
    this.sent.clear();
    this.starts = m.starts;
    for (const key of m.metricKeys()) {
      const s = m.series(key);
      series[key] = s;
      this.sent.set(key, { count: s.steps.length, last: s.steps[s.steps.length - 1] });
    }
    const evals = [...m.evals];
    this.evalsSent = evals.length;
    this.lastEval = evals.length > 0 ? evalKey(evals[evals.length - 1]) : '';
    this.stepsSent = m.rolloutSteps();
    const header = headerOf(m, this.label, this.runDir, this.isAlive, this.loading());
    const tiers = tiersOf(m);
    this.lastHeader = JSON.stringify(header);
    this.lastTiers = JSON.stringify(tiers);
    return {
      header, tiers, maxResponseTokens: m.info?.max_response_tokens ?? null, series, evals, rolloutSteps: [...this.stepsSent],
    };
  }

  next(): DashboardToWebview | undefined {
    const m = this.model;
    // A new run_start may be a resume that replaced later steps with new values at the same steps.
    if (m.starts !== this.starts) return this.reset();
    const appended: Record<string, Series> = {};
    let any = false;
    const keys = m.metricKeys();
    for (const key of keys) {
      const s = m.series(key);
      const sent = this.sent.get(key);
      if (sent && (s.steps.length < sent.count || s.steps[sent.count - 1] !== sent.last)) return this.reset();
      const from = sent?.count ?? 0;
      if (s.steps.length > from) {
        appended[key] = { steps: s.steps.slice(from), values: s.values.slice(from) };
        this.sent.set(key, { count: s.steps.length, last: s.steps[s.steps.length - 1] });
        any = true;
      }
    }
    const present = new Set(keys);
    for (const key of this.sent.keys()) if (!present.has(key)) return this.reset();

    const evals = m.evals;
    if (evals.length < this.evalsSent || (this.evalsSent > 0 && evalKey(evals[this.evalsSent - 1]) !== this.lastEval)) {
      return this.reset();
    }
    const newEvals = evals.slice(this.evalsSent);
    this.evalsSent = evals.length;
    if (newEvals.length > 0) this.lastEval = evalKey(newEvals[newEvals.length - 1]);

    const steps = m.rolloutSteps();
    if (this.stepsSent.some((s, i) => steps[i] !== s)) return this.reset();
    const newSteps = steps.slice(this.stepsSent.length);
    this.stepsSent = steps;

    const header = headerOf(m, this.label, this.runDir, this.isAlive, this.loading());
    const tiers = tiersOf(m);
    const headerText = JSON.stringify(header);
    const tiersText = JSON.stringify(tiers);
    const changed = any || newEvals.length > 0 || newSteps.length > 0 || headerText !== this.lastHeader || tiersText !== this.lastTiers;
    this.lastHeader = headerText;
    this.lastTiers = tiersText;
    if (!changed) return undefined;
    const delta: DashboardDelta = {
      header, tiers, maxResponseTokens: m.info?.max_response_tokens ?? null, appended, evals: newEvals, rolloutSteps: newSteps,
    };
    return { type: 'append', delta };
  }

  private reset(): DashboardToWebview {
    return { type: 'state', state: this.full() };
  }
}
