// Metric keys of `step` events, as the trainer writes them (trainer/hbpo/metrics.py per tier,
// update.py and train.py step-wide). Keys are built here and nowhere else: a tier's metric is
// `budget/<metricLabel(mode)>/<name>` (`budget/1024/mean_length`, `budget/natural/accuracy`).

import { metricLabel, type Mode } from './mode';

/** Per-tier metric names (under `budget/<tier>/`; `per_tier[].metrics` keys in schema v2). */
export const TIER_METRICS = [
  'mean_length', 'length_std', 'min_length', 'max_length', 'accuracy', 'reward', 'truncated',
  'reward/f1', 'reward/f2', 'over_budget', 'advantage/intra', 'advantage/inter',
] as const;
export type TierMetric = (typeof TIER_METRICS)[number];

const TIER_PREFIX = 'budget/';

/** `budget/1024/mean_length` and the like. */
export function tierMetricKey(mode: Mode, name: TierMetric | string): string {
  return `${TIER_PREFIX}${metricLabel(mode)}/${name}`;
}

/** Whether a series key is a per-tier one (tierMetricKey made it). */
export function isTierMetricKey(key: string): boolean {
  return key.startsWith(TIER_PREFIX);
}

/** Step-wide metrics (note: the trainer writes `clip_frac`, not `clip_fraction`). */
export const GLOBAL_METRICS = [
  'loss', 'entropy', 'clip_frac', 'clip_frac/low', 'clip_frac/high', 'approx_kl', 'grad_norm', 'lr',
  'optimizer_steps', 'reward/mean', 'reward/std', 'accuracy', 'length/mean', 'length/std',
  'tokens/generated', 'tokens_per_s', 'time/generate_s', 'time/update_s', 'time/step_s',
] as const;
