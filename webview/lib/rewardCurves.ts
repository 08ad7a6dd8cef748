// Reward curves R(n | b) of the reward-curve explorer, from common/budgetMath.ts (the same math
// the trainer is tested against), and where adjacent tiers' curves cross.
import { crossings, rewardBreakdown, type Curve, type HbpoVariant, type RewardInput } from '../../common/budgetMath';

export interface CurveParams {
  tiers: readonly number[];
  lMax: number;
  alpha: number;
  beta: number;
  variant: HbpoVariant;
}

export interface TierCurve {
  tier: number;
  /** [n, R] for a correct, untruncated answer, every n in 0..lMax. */
  correct: Curve;
}

/**
 * R(n | b) of a correct answer for every tier, n = 0..lMax (integers; tokens). A wrong or
 * truncated answer earns 0 at every n, so it needs no curve of its own.
 */
export function tierCurves(p: CurveParams): TierCurve[] {
  const lMax = Math.floor(p.lMax);
  return [...p.tiers].sort((a, b) => a - b).map((tier) => {
    const input: RewardInput = {
      reward: 'hbpo', variant: p.variant, nGen: 0, budget: tier, correct: true, truncated: false,
      lMax: p.lMax, alpha: p.alpha, beta: p.beta,
    };
    const correct: Curve = [];
    for (let n = 0; n <= lMax; n++) {
      input.nGen = n; // one input object, mutated: lMax x tiers calls, no per-call allocation
      correct.push([n, rewardBreakdown(input).reward]);
    }
    return { tier, correct };
  });
}

export interface Crossing {
  /** The smaller and the larger budget, tokens. */
  lower: number;
  upper: number;
  /** First length at which the two curves are in the other order, tokens. */
  n: number;
  /** Both rewards at `n`. */
  lowerReward: number;
  upperReward: number;
}

/**
 * Where each pair of adjacent tiers (by budget) swaps order, from budgetMath.crossings: the first
 * length `n` after which a correct answer earns more in the other tier. Touching is not crossing.
 */
export function adjacentCrossings(curves: readonly TierCurve[]): Crossing[] {
  const sorted = [...curves].sort((a, b) => a.tier - b.tier);
  const out: Crossing[] = [];
  for (let i = 0; i + 1 < sorted.length; i++) {
    const a = sorted[i];
    const b = sorted[i + 1];
    for (const n of crossings(a.correct, b.correct)) {
      const at = a.correct.findIndex(([x]) => x === n);
      out.push({ lower: a.tier, upper: b.tier, n, lowerReward: a.correct[at][1], upperReward: b.correct[at][1] });
    }
  }
  return out;
}

/**
 * At most about `maxPoints` points of a curve for drawing, always keeping the ends and the lengths
 * in `keep` (budgets, budget + 1, crossings), so knees and marks stay exact.
 */
export function thin(curve: Curve, maxPoints: number, keep: readonly number[] = []): Curve {
  if (curve.length <= maxPoints) return curve.slice();
  const every = Math.ceil(curve.length / Math.max(2, maxPoints));
  const wanted = new Set(keep);
  return curve.filter(([n], i) => i % every === 0 || i === curve.length - 1 || wanted.has(n));
}
