/**
 * Budget math of Hierarchical Budget Policy Optimization (arXiv 2507.15844); the formulas: docs/ARCHITECTURE.md.
 *
 * Pure functions, no VS Code API: the extension host and the webviews both import this file for
 * live "what if" curves. The trainer has the same math in Python (`trainer/hbpo/reward.py`,
 * `trainer/hbpo/advantage.py`); both must match `test/vectors/*.json` to 1e-9.
 *
 * Units: every length (`nGen`, `budget`, `lMax`) is in tokens. `nGen` counts the tokens generated
 * after the prompt (budget sentence excluded, EOS included). `alpha` is reward per token, `beta`
 * is reward; rewards and advantages are unitless.
 */

/** Reward functions a run can be configured with (one name in a config, like verl's registry). */
export type RewardName = 'hbpo' | 'cosine' | 'binary' | 'l1-exact';
/** `paper`: f2 within budget, f1 over it. `reference`: min(f1, f2), as the released code does. */
export type HbpoVariant = 'paper' | 'reference';
/** Advantage estimators; `hbpo-reference` adds `A_intra` twice, as the authors' released code does. */
export type EstimatorName = 'hbpo' | 'hbpo-reference' | 'grpo';
/** Why a rollout got its reward. `natural`: correct, no budget (natural mode). */
export type RewardCase = 'truncated' | 'wrong' | 'within' | 'over' | 'natural';

export const REWARD_NAMES: readonly RewardName[] = ['hbpo', 'cosine', 'binary', 'l1-exact'];
export const HBPO_VARIANTS: readonly HbpoVariant[] = ['paper', 'reference'];
export const ESTIMATOR_NAMES: readonly EstimatorName[] = ['hbpo', 'hbpo-reference', 'grpo'];

/** Defaults from the paper (docs/ARCHITECTURE.md). */
export const HBPO_DEFAULTS = {
  /** Budget tiers `b_1 < ... < b_k`, tokens. */
  tiers: [512, 1024, 2048, 2560] as readonly number[],
  /** Rollouts per query, split equally over the tiers. */
  rollouts: 16,
  /** Training context for the response, tokens. */
  lMax: 4096,
  /** Reward scale. */
  beta: 4,
  /** Length penalty per token; the paper uses `1 / lMax` (a run of the `l1-exact` reward: L1's 0.0003). */
  alpha: 1 / 4096,
  /** Added to the group std in the inter-group advantage. */
  eps: 1e-6,
} as const;

/** Parameters of the length terms. */
export interface RewardParams {
  /** Training context for the response, tokens (> 0). */
  lMax: number;
  /** Length penalty per token of distance from the budget. */
  alpha: number;
  /** Reward scale: the cosine term runs from `beta` (n = 0) to 0 (n = lMax). */
  beta: number;
}

/**
 * Cosine length term `beta * cos(pi * min(n, lMax) / (2 * lMax))`.
 * @param n tokens generated; clamped to `lMax` (a longer response is truncated and earns 0 anyway)
 * @returns reward in `[0, beta]`
 */
export function cosineTerm(n: number, p: Pick<RewardParams, 'lMax' | 'beta'>): number {
  return p.beta * Math.cos((Math.PI * Math.min(n, p.lMax)) / (2 * p.lMax));
}

/**
 * Tier ceiling `f2(b) = beta * cos(pi * b / (2 * lMax))`: what a correct answer within budget `b`
 * earns (paper variant), and what the intra-tier advantage measures a tier against.
 * @param b budget tier, tokens (normally `<= lMax`)
 */
export function f2(b: number, p: Pick<RewardParams, 'lMax' | 'beta'>): number {
  return p.beta * Math.cos((Math.PI * b) / (2 * p.lMax));
}

/**
 * Budget-deviation reward `f1(n, b) = cosineTerm(n) - alpha * |n - b|`.
 * @param n tokens generated
 * @param b budget tier, tokens
 */
export function f1(n: number, b: number, p: RewardParams): number {
  return cosineTerm(n, p) - p.alpha * Math.abs(n - b);
}

/** One rollout to score. */
export interface RewardInput extends RewardParams {
  reward: RewardName;
  /** Only for `hbpo`; defaults to `paper`. */
  variant?: HbpoVariant;
  /** Tokens generated after the prompt (EOS included). */
  nGen: number;
  /** The rollout's tier in tokens, or `null` in natural mode (no budget sentence). */
  budget: number | null;
  /** Grader verdict. */
  correct: boolean;
  /** Generation hit the limit; `nGen > lMax` counts as truncated too. */
  truncated: boolean;
}

/**
 * A rollout's reward and the terms behind it. The terms are reported for every rollout, even
 * wrong or truncated ones (what it would have earned); `reward` is what training used.
 * `penalty`, `f1` and `f2` are `null` without a budget.
 */
export interface RewardBreakdown {
  reward: number;
  cos: number;
  penalty: number | null;
  f1: number | null;
  f2: number | null;
  case: RewardCase;
}

/** The length terms of one rollout, as handed to a reward function. */
export interface RewardTerms {
  cos: number;
  penalty: number | null;
  f1: number | null;
  f2: number | null;
}

/**
 * Reward of a rollout from its length terms. `ok` is false for a wrong or truncated rollout, which
 * earns 0 under every reward but `l1-exact` (whose length penalty applies whatever the answer).
 */
export type RewardFn = (terms: RewardTerms, input: RewardInput, ok: boolean) => number;

function requireBudget(name: string, t: RewardTerms): { penalty: number; f1: number; f2: number } {
  if (t.penalty === null || t.f1 === null || t.f2 === null) {
    throw new Error(`reward "${name}" needs a budget tier; got budget null (natural mode)`);
  }
  return { penalty: t.penalty, f1: t.f1, f2: t.f2 };
}

/** The reward functions, by name. */
export const REWARDS: Readonly<Record<RewardName, RewardFn>> = {
  /** HBPO: `f2(b)` within budget and `f1(n, b)` over it (paper), or `min(f1, f2)` (reference). */
  hbpo: (t, input, ok) => {
    const { f1: over, f2: ceiling } = requireBudget('hbpo', t);
    const variant = checkVariant(input.variant ?? 'paper');
    if (!ok) return 0;
    if (variant === 'reference') return Math.min(over, ceiling);
    return input.nGen <= (input.budget as number) ? ceiling : over;
  },
  /** GRPO with a cosine length reward: `beta * cos(pi * n / (2 * lMax))`. */
  cosine: (t, _input, ok) => (ok ? t.cos : 0),
  /** GRPO's plain correctness reward. */
  binary: (_t, _input, ok) => (ok ? 1 : 0),
  /**
   * L1's exact-length reward (Aggarwal & Welleck 2025, LCPO-Exact): `1[correct] - alpha * |n - b|`,
   * `b` the target length the prompt asked for; a wrong or truncated rollout earns `-alpha * |n - b|`.
   */
  'l1-exact': (t, _input, ok) => (ok ? 1 : 0) - requireBudget('l1-exact', t).penalty,
};

function checkVariant(variant: string): HbpoVariant {
  if (!(HBPO_VARIANTS as readonly string[]).includes(variant)) {
    throw new Error(`unknown hbpo variant "${variant}"; expected one of: ${HBPO_VARIANTS.join(', ')}`);
  }
  return variant as HbpoVariant;
}

/** Looks up a reward function; throws a clear error for a name that is not registered. */
export function getReward(name: string): RewardFn {
  if (!Object.hasOwn(REWARDS, name)) {
    throw new Error(`unknown reward "${name}"; expected one of: ${REWARD_NAMES.join(', ')}`);
  }
  return REWARDS[name as RewardName];
}

/**
 * Scores one rollout and explains the score.
 * Truncated (`truncated` or `nGen > lMax`) and wrong rollouts earn 0 (`l1-exact`: minus its length
 * penalty); otherwise the registered reward function decides. `case` is `within`/`over` relative
 * to the budget, or `natural`.
 */
export function rewardBreakdown(input: RewardInput): RewardBreakdown {
  const fn = getReward(input.reward);
  const { nGen: n, budget: b } = input;
  const cos = cosineTerm(n, input);
  const terms: RewardTerms =
    b === null
      ? { cos, penalty: null, f1: null, f2: null }
      : { cos, penalty: input.alpha * Math.abs(n - b), f1: f1(n, b, input), f2: f2(b, input) };

  let rewardCase: RewardCase;
  if (input.truncated || n > input.lMax) rewardCase = 'truncated';
  else if (!input.correct) rewardCase = 'wrong';
  else if (b === null) rewardCase = 'natural';
  else rewardCase = n <= b ? 'within' : 'over';

  // A misconfigured reward (hbpo without a budget, a bad variant) fails for every rollout,
  // not only for the correct ones.
  const reward = fn(terms, input, rewardCase !== 'truncated' && rewardCase !== 'wrong');
  return { reward, ...terms, case: rewardCase };
}

/** The rollouts of one query and the estimator to score them with. */
export interface AdvantageInput {
  estimator: EstimatorName;
  /** Tier of each rollout in tokens, rollout order; `null` in natural mode (`grpo` only). */
  budgets: readonly (number | null)[];
  /** Reward of each rollout, same order. */
  rewards: readonly number[];
  beta: number;
  lMax: number;
  /** Added to the std of the group before dividing. */
  eps: number;
}

/** One number per rollout, rollout order. `total` is broadcast to every response token. */
export interface Advantages {
  /** `mean(R of the rollout's tier) - f2(tier)`; 0 for `grpo`. */
  intra: number[];
  /** `(R - mean(R)) / (std(R) + eps)`, unbiased std; 0 when all rewards are equal or n = 1. */
  inter: number[];
  total: number[];
}

export type AdvantageFn = (input: AdvantageInput) => Advantages;

function mean(xs: readonly number[]): number {
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}

/** GRPO's group-normalised advantage over one query's rewards, with the unbiased (n-1) std. */
export function interAdvantage(rewards: readonly number[], eps: number): number[] {
  const n = rewards.length;
  if (n <= 1 || rewards.every((r) => r === rewards[0])) return rewards.map(() => 0);
  const m = mean(rewards);
  let ss = 0;
  for (const r of rewards) ss += (r - m) ** 2;
  const std = Math.sqrt(ss / (n - 1));
  return rewards.map((r) => (r - m) / (std + eps));
}

/** HBPO's intra-tier advantage: each rollout gets `mean(R of its tier) - f2(tier)`. */
export function intraAdvantage(
  budgets: readonly (number | null)[],
  rewards: readonly number[],
  p: Pick<RewardParams, 'lMax' | 'beta'>,
): number[] {
  const byTier = new Map<number, number[]>();
  budgets.forEach((b, i) => {
    if (b === null) throw new Error('hbpo advantages need a budget tier for every rollout; got null');
    const tier = byTier.get(b) ?? [];
    tier.push(rewards[i] as number);
    byTier.set(b, tier);
  });
  const value = new Map([...byTier].map(([b, rs]) => [b, mean(rs) - f2(b, p)] as const));
  return budgets.map((b) => value.get(b as number) as number);
}

function combine(intra: number[], inter: number[], intraWeight: number): Advantages {
  return { intra, inter, total: intra.map((a, i) => intraWeight * a + (inter[i] as number)) };
}

/** The advantage estimators, by name. */
export const ADVANTAGE_ESTIMATORS: Readonly<Record<EstimatorName, AdvantageFn>> = {
  /** Paper: `A = A_intra + A_inter`. */
  hbpo: (x) => combine(intraAdvantage(x.budgets, x.rewards, x), interAdvantage(x.rewards, x.eps), 1),
  /** Released code, for reproduction: `A = 2 * A_intra + A_inter` (`intra` reports one copy). */
  'hbpo-reference': (x) =>
    combine(intraAdvantage(x.budgets, x.rewards, x), interAdvantage(x.rewards, x.eps), 2),
  /** GRPO: `A = A_inter`, tiers ignored. */
  grpo: (x) => combine(x.rewards.map(() => 0), interAdvantage(x.rewards, x.eps), 1),
};

/** Looks up an estimator; throws a clear error for a name that is not registered. */
export function getEstimator(name: string): AdvantageFn {
  if (!Object.hasOwn(ADVANTAGE_ESTIMATORS, name)) {
    throw new Error(`unknown advantage estimator "${name}"; expected one of: ${ESTIMATOR_NAMES.join(', ')}`);
  }
  return ADVANTAGE_ESTIMATORS[name as EstimatorName];
}

/** Advantages of one query's rollouts under the named estimator. */
export function advantages(input: AdvantageInput): Advantages {
  const fn = getEstimator(input.estimator);
  if (input.budgets.length !== input.rewards.length) {
    throw new Error(`budgets (${input.budgets.length}) and rewards (${input.rewards.length}) differ in length`);
  }
  return fn(input);
}

/** A reward configuration for curves: the parameters plus which reward (default `hbpo`/`paper`). */
export interface CurveParams extends RewardParams {
  reward?: RewardName;
  variant?: HbpoVariant;
}

/** A sampled curve: `[nGen, reward]` pairs in increasing `nGen`. */
export type Curve = Array<[number, number]>;

/**
 * Reward of a correct answer as a function of its length, for n in 1..lMax (tokens).
 * @param budget the tier in tokens, or `null` for natural mode (cosine/binary rewards)
 * @param points how many lengths to sample (default: every integer 1..lMax). When fewer, the
 *   samples are spread evenly and `budget` and `budget + 1` are added, so the knee is exact.
 */
export function rewardCurve(budget: number | null, params: CurveParams, points?: number): Curve {
  const lMax = Math.floor(params.lMax);
  const ns = new Set<number>();
  if (points === undefined || points >= lMax) {
    for (let n = 1; n <= lMax; n++) ns.add(n);
  } else {
    const k = Math.max(2, Math.floor(points));
    for (let i = 0; i < k; i++) ns.add(Math.round(1 + (i * (lMax - 1)) / (k - 1)));
    if (budget !== null) {
      for (const n of [budget, budget + 1]) if (n >= 1 && n <= lMax) ns.add(n);
    }
  }
  const input = {
    reward: params.reward ?? 'hbpo',
    variant: params.variant,
    budget,
    correct: true,
    truncated: false,
    lMax: params.lMax,
    alpha: params.alpha,
    beta: params.beta,
  };
  return [...ns]
    .sort((a, b) => a - b)
    .map((nGen): [number, number] => [nGen, rewardBreakdown({ ...input, nGen }).reward]);
}

/**
 * Where two curves sampled on the same lengths change order: the lengths `n` at which
 * `sign(a(n) - b(n))` becomes the opposite of its last non-zero value. Touching without
 * swapping is not a crossing.
 *
 * Example: for paper HBPO, tier 512's curve falls below tier 1024's ceiling at one length between
 * 512 and 1024 tokens; past it, a correct answer of that length earns more in the larger tier.
 */
export function crossings(a: Curve, b: Curve): number[] {
  if (a.length !== b.length) throw new Error(`curves differ in length (${a.length} vs ${b.length})`);
  const out: number[] = [];
  let last = 0;
  for (let i = 0; i < a.length; i++) {
    const [na, ra] = a[i] as [number, number];
    const [nb, rb] = b[i] as [number, number];
    if (na !== nb) throw new Error(`curves are sampled at different lengths (${na} vs ${nb} at ${i})`);
    const sign = Math.sign(ra - rb);
    if (sign === 0) continue;
    if (last !== 0 && sign !== last) out.push(na);
    last = sign;
  }
  return out;
}
