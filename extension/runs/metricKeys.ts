// Metric keys of `step` events, as trainer/hbpo/metrics.py (per tier) and trainer/hbpo/update.py
// and train.py (global) write them. Kept in one place so charts do not spell keys by hand.

/** Namespace of a tier in metric keys: the budget in tokens, or `natural` for budget-free runs. */
export function tierLabel(tier: number | null): string {
  return tier === null ? 'natural' : String(tier);
}

/** Per-tier metric names, under `budget/<label>/`. */
export const TIER_METRICS = [
  'mean_length', 'length_std', 'min_length', 'max_length', 'accuracy', 'reward', 'truncated',
  'reward/f1', 'reward/f2', 'over_budget', 'advantage/intra', 'advantage/inter',
] as const;
export type TierMetric = (typeof TIER_METRICS)[number];

/** `budget/1024/mean_length` and the like. */
export function tierMetricKey(tier: number | null | string, name: TierMetric): string {
  return `budget/${typeof tier === 'string' ? tier : tierLabel(tier)}/${name}`;
}

/** Step-wide metrics (note: the trainer writes `clip_frac`, not `clip_fraction`). */
export const GLOBAL_METRICS = [
  'loss', 'entropy', 'clip_frac', 'clip_frac/low', 'clip_frac/high', 'approx_kl', 'grad_norm', 'lr',
  'optimizer_steps', 'reward/mean', 'reward/std', 'accuracy', 'length/mean', 'length/std',
  'tokens/generated', 'tokens_per_s', 'time/generate_s', 'time/update_s', 'time/step_s',
] as const;

/** The tier labels that appear in a set of metric keys, budgets ascending, `natural` etc. last. */
export function tierLabelsOf(keys: Iterable<string>): string[] {
  const labels = new Set<string>();
  for (const key of keys) {
    const m = /^budget\/([^/]+)\//.exec(key);
    if (m) labels.add(m[1]);
  }
  return [...labels].sort(compareModeLabels);
}

/** Budgets in numeric order, then named modes (`efficiency`, `natural`) alphabetically. */
export function compareModeLabels(a: string, b: string): number {
  const na = /^\d+$/.test(a) ? Number(a) : NaN;
  const nb = /^\d+$/.test(b) ? Number(b) : NaN;
  if (!Number.isNaN(na) && !Number.isNaN(nb)) return na - nb;
  if (!Number.isNaN(na)) return -1;
  if (!Number.isNaN(nb)) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}
