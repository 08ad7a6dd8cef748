// Metric series -> chart points. Pure: the dashboard and its tests use the same functions.
// A point's `y` is null where the trainer logged NaN, so charts show a gap instead of a fake value.
import type { Series } from '../../common/runData';
import { tierMetricKey, type TierMetric } from '../../common/metricKeys';
import type { TierInfo } from '../../common/protocol/dashboard';

export interface Point {
  x: number;
  y: number | null;
}

export function toPoints(s: Series): Point[] {
  return s.steps.map((x, i) => ({ x, y: s.values[i] ?? null }));
}

/**
 * mean ± std per step, for a shaded spread band. Steps are matched by value (not by index), a step
 * missing from either series or null in either gives a gap. `lower` is clamped at `floor`
 * (default 0: a length is never negative, so a band below 0 would only mislead).
 */
export function spreadBand(mean: Series, std: Series, floor = 0): { upper: Point[]; lower: Point[] } {
  const stdAt = new Map(std.steps.map((x, i) => [x, std.values[i]] as const));
  const upper: Point[] = [];
  const lower: Point[] = [];
  mean.steps.forEach((x, i) => {
    const m = mean.values[i];
    const s = stdAt.get(x);
    const ok = m !== null && m !== undefined && s !== null && s !== undefined;
    upper.push({ x, y: ok ? m + s : null });
    lower.push({ x, y: ok ? Math.max(floor, m - s) : null });
  });
  return { upper, lower };
}

/** A horizontal line at `y` from `from` to `to` (two points; one when the range is a single step). */
export function hline(y: number, from: number, to: number): Point[] {
  return from === to ? [{ x: from, y }] : [{ x: from, y }, { x: to, y }];
}

/** First and last step over several series, or null when all are empty. */
export function stepRange(series: readonly Series[]): [number, number] | null {
  let lo = Infinity;
  let hi = -Infinity;
  for (const s of series) {
    if (s.steps.length === 0) continue;
    lo = Math.min(lo, s.steps[0]);
    hi = Math.max(hi, s.steps[s.steps.length - 1]);
  }
  return lo <= hi ? [lo, hi] : null;
}

const EMPTY: Series = { steps: [], values: [] };

export function seriesOf(all: Readonly<Record<string, Series>>, key: string): Series {
  return Object.hasOwn(all, key) ? all[key] : EMPTY;
}

/** What the length chart draws for one tier. `budget` is empty for a tier without one. */
export interface TierLengthSpec {
  tier: TierInfo;
  mean: Point[];
  upper: Point[];
  lower: Point[];
  budget: Point[];
}

/** mean length, its ±std band and the budget line of every tier that has a mean-length series. */
export function tierLengthSpecs(all: Readonly<Record<string, Series>>, tiers: readonly TierInfo[]): TierLengthSpec[] {
  const out: TierLengthSpec[] = [];
  for (const tier of tiers) {
    const mean = seriesOf(all, tierMetricKey(tier.mode, 'mean_length'));
    if (mean.steps.length === 0) continue;
    const band = spreadBand(mean, seriesOf(all, tierMetricKey(tier.mode, 'length_std')));
    const range = stepRange([mean])!;
    out.push({
      tier,
      mean: toPoints(mean),
      ...band,
      budget: tier.budget === null ? [] : hline(tier.budget, range[0], range[1]),
    });
  }
  return out;
}

/** One per-tier metric (accuracy, reward, advantage/intra...) as points, for tiers that logged it. */
export function tierMetricPoints(
  all: Readonly<Record<string, Series>>, tiers: readonly TierInfo[], name: TierMetric,
): { tier: TierInfo; points: Point[] }[] {
  return tiers
    .map((tier) => ({ tier, points: toPoints(seriesOf(all, tierMetricKey(tier.mode, name))) }))
    .filter((t) => t.points.length > 0);
}

/**
 * Append `appended` to `target` in place, keeping only steps after the last one held (a repeated
 * delivery adds nothing). Returns the keys that changed.
 */
export function appendSeries(target: Record<string, Series>, appended: Readonly<Record<string, Series>>): string[] {
  const changed: string[] = [];
  for (const [key, add] of Object.entries(appended)) {
    let s = Object.hasOwn(target, key) ? target[key] : undefined;
    if (!s) target[key] = s = { steps: [], values: [] };
    const last = s.steps.length > 0 ? s.steps[s.steps.length - 1] : -Infinity;
    let any = false;
    add.steps.forEach((x, i) => {
      if (x <= last) return;
      s.steps.push(x);
      s.values.push(add.values[i] ?? null);
      any = true;
    });
    if (any) changed.push(key);
  }
  return changed;
}
