// Length-spread collapse: the warning sign that a tier has stopped exploring lengths (every rollout
// of the tier comes out nearly the same length), which in HBPO usually means the tier's budget no
// longer shapes anything and its advantages carry no length signal.
//
// Rule (per tier, over its step series of mean_length and length_std, tokens):
//   a step is "collapsed" when  std < minStd  or  std < minRelStd * mean;
//   a collapse is a run of at least `minSteps` consecutive reported steps that are all collapsed.
// A step where the mean or the std is null (NaN in the trainer) or missing is not evidence either
// way and ends a run. Defaults: std under 2 tokens or under 5 % of the mean, for 3 steps.
import type { Series } from '../../common/runData';

export interface CollapseRule {
  /** Absolute floor on the std, tokens. */
  minStd: number;
  /** Relative floor: std / mean. */
  minRelStd: number;
  /** Consecutive collapsed steps before it counts. */
  minSteps: number;
}

export const DEFAULT_COLLAPSE_RULE: Readonly<CollapseRule> = { minStd: 2, minRelStd: 0.05, minSteps: 3 };

export interface CollapseSpan {
  /** First and last step of the run, inclusive. */
  from: number;
  to: number;
  /** How many reported steps it covers. */
  steps: number;
  /** mean and std at `to`, tokens. */
  mean: number;
  std: number;
}

export function isCollapsedPoint(mean: number, std: number, rule: CollapseRule = DEFAULT_COLLAPSE_RULE): boolean {
  return std < rule.minStd || std < rule.minRelStd * mean;
}

/** Every collapse of a tier, in step order. */
export function collapseSpans(mean: Series, std: Series, rule: CollapseRule = DEFAULT_COLLAPSE_RULE): CollapseSpan[] {
  const stdAt = new Map(std.steps.map((x, i) => [x, std.values[i]] as const));
  const out: CollapseSpan[] = [];
  let run: CollapseSpan | undefined;
  const close = () => {
    if (run && run.steps >= rule.minSteps) out.push(run);
    run = undefined;
  };
  mean.steps.forEach((x, i) => {
    const m = mean.values[i];
    const s = stdAt.get(x);
    if (m === null || m === undefined || s === null || s === undefined || !isCollapsedPoint(m, s, rule)) {
      close();
      return;
    }
    if (run) Object.assign(run, { to: x, steps: run.steps + 1, mean: m, std: s });
    else run = { from: x, to: x, steps: 1, mean: m, std: s };
  });
  close();
  return out;
}

/** The collapse that covers `step`, if any. */
export function collapseAt(spans: readonly CollapseSpan[], step: number): CollapseSpan | undefined {
  return spans.find((s) => s.from <= step && step <= s.to);
}

/** The collapse still going on at the series' last step, if any. */
export function ongoingCollapse(spans: readonly CollapseSpan[], mean: Series): CollapseSpan | undefined {
  const last = mean.steps[mean.steps.length - 1];
  const span = spans[spans.length - 1];
  return span && span.to === last ? span : undefined;
}

/** One line for a warning banner. */
export function describeCollapse(tierLabel: string, span: CollapseSpan, ongoing: boolean): string {
  const rel = span.mean > 0 ? ` (${((100 * span.std) / span.mean).toFixed(1)} % of the mean ${span.mean.toFixed(0)})` : '';
  const when = ongoing ? `for the last ${span.steps} steps (since step ${span.from})` : `from step ${span.from} to ${span.to}`;
  return `Tier ${tierLabel}: length spread collapsed ${when}: std ${span.std.toFixed(1)} tokens${rel}.`;
}
