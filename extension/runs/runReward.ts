// What a run's run_start says about its reward and advantage. Schema v2 records them as typed
// fields (`reward: {name, variant, alpha, beta, max_response_tokens}`, `advantage: {name, eps}`);
// a version-1 run_start has them only inside its resolved `config` dict, read here and nowhere else.
// Here, in the run store, so the trace annotations and the panels read it without one importing
// the other.
import { HBPO_DEFAULTS, REWARD_NAMES, type RewardName } from '../../common/budgetMath';
import type { RunInfo } from './runModel';

export interface RunRewardSettings {
  reward: RewardName;
  variant: 'paper' | 'reference';
  alpha: number;
  beta: number;
  /** L_max, tokens. */
  lMax: number;
  tiers: number[];
  /** The advantage estimator (`hbpo`, `grpo`, ...); null when a v1 run did not say. */
  estimator: string | null;
}

const num = (x: unknown) => (typeof x === 'number' && Number.isFinite(x) ? x : undefined);
const rewardName = (x: unknown) => (REWARD_NAMES as readonly unknown[]).includes(x) ? (x as RewardName) : undefined;

/** The reward settings of a run; paper defaults where a version-1 config is silent. */
export function rewardSettingsOf(info: RunInfo): RunRewardSettings {
  const tiers = info.tiers;
  if (info.reward && info.advantage) {
    const r = info.reward;
    return { reward: r.name, variant: r.variant, alpha: r.alpha, beta: r.beta, lMax: r.max_response_tokens, tiers, estimator: info.advantage.name };
  }
  const config = info.config as { reward?: Record<string, unknown>; advantage?: Record<string, unknown> };
  const reward = config.reward ?? {};
  const lMax = info.max_response_tokens;
  return {
    reward: rewardName(reward.name) ?? 'hbpo',
    variant: reward.variant === 'reference' ? 'reference' : 'paper',
    alpha: num(reward.alpha) ?? 1 / lMax,
    beta: num(reward.beta) ?? HBPO_DEFAULTS.beta,
    lMax,
    tiers,
    estimator: typeof config.advantage?.name === 'string' ? config.advantage.name : null,
  };
}

/** The reward explorer's input shape (the panels' ParamsInput / RewardParamsInput). */
export interface RunRewardParams {
  tiers: number[];
  maxResponseTokens: number;
  alpha?: number;
  beta?: number;
  variant?: 'paper' | 'reference';
}

export function paramsOfRun(info: RunInfo): RunRewardParams {
  const s = rewardSettingsOf(info);
  return { tiers: s.tiers, maxResponseTokens: s.lMax, alpha: s.alpha, beta: s.beta, variant: s.variant };
}
