// A step event's metrics, with the per-tier ones typed by mode. Schema v2 writes them that way
// (`per_tier: [{tier, metrics}]`); version 1 wrote only flat keys (`budget/512/mean_length`), and
// reading those old runs is the one place a metric-key string is taken apart.
import { modeOfTier, parseModeKey, type Mode } from '../../common/mode';
import type { StepEvent } from '../events';

type Num = number | null;

export interface TierMetrics {
  mode: Mode;
  /** Metric name (`mean_length`, `reward/f1`, ...) -> value; null where undefined (no such term). */
  metrics: Record<string, Num>;
}

export interface StepMetrics {
  /** Step-wide metrics (`loss`, `clip_frac`, ...). */
  global: Record<string, Num>;
  perTier: TierMetrics[];
}

export function stepMetrics(e: StepEvent): StepMetrics {
  if (e.per_tier) return { global: e.metrics, perTier: e.per_tier.map((t) => ({ mode: modeOfTier(t.tier), metrics: t.metrics })) };
  const global: Record<string, Num> = {};
  const byLabel = new Map<string, TierMetrics>();
  for (const [key, value] of Object.entries(e.metrics)) {
    const m = /^budget\/([^/]+)\/(.+)$/.exec(key);
    const mode = m ? (/^[0-9]+$/.test(m[1]) ? parseModeKey(`tier:${m[1]}`) : parseModeKey(m[1])) : undefined;
    if (!m || !mode) {
      global[key] = value;
      continue;
    }
    let tier = byLabel.get(m[1]);
    if (!tier) byLabel.set(m[1], (tier = { mode, metrics: {} }));
    tier.metrics[m[2]] = value;
  }
  return { global, perTier: [...byLabel.values()] };
}
