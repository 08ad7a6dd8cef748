// The dashboard webview's copy of the run: a full state from the host, then appends. Pure, so the
// merge (no duplicate steps when a delta repeats, what changed -> what to redraw) is tested.
import { isTierMetricKey } from '../../common/metricKeys';
import type { DashboardDelta, DashboardState } from '../../common/protocol/dashboard';
import { appendSeries } from './series';

export interface Changes {
  header: boolean;
  /** Metric keys that got new points. */
  series: string[];
  tiers: boolean;
  evals: boolean;
  rolloutSteps: boolean;
}

/** Merge `delta` into `state` in place and say what changed. */
export function applyDelta(state: DashboardState, delta: DashboardDelta): Changes {
  const header = JSON.stringify(state.header) !== JSON.stringify(delta.header);
  state.header = delta.header;
  const tiers = JSON.stringify(state.tiers) !== JSON.stringify(delta.tiers) || state.maxResponseTokens !== delta.maxResponseTokens;
  state.tiers = delta.tiers;
  state.maxResponseTokens = delta.maxResponseTokens;
  const series = appendSeries(state.series, delta.appended);
  state.evals.push(...delta.evals);
  const known = new Set(state.rolloutSteps);
  const steps = delta.rolloutSteps.filter((s) => !known.has(s));
  if (steps.length > 0) state.rolloutSteps = [...state.rolloutSteps, ...steps].sort((a, b) => a - b);
  return { header, series, tiers, evals: delta.evals.length > 0, rolloutSteps: steps.length > 0 };
}

/** Which chart groups a change touches: per-tier charts, global charts, histograms, eval table. */
export function redrawsFor(c: Changes): { tierCharts: boolean; globalCharts: boolean; histograms: boolean; evals: boolean } {
  const tierKeys = c.series.some(isTierMetricKey);
  return {
    tierCharts: tierKeys || c.tiers,
    globalCharts: c.series.some((k) => !isTierMetricKey(k)),
    histograms: c.rolloutSteps || c.tiers || tierKeys || c.header,
    evals: c.evals,
  };
}
