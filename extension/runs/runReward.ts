// What a run's run_start says about its reward: tiers, max_response_tokens and the resolved config's
// `reward.alpha/beta/variant`. Here, in the run store, so the trace annotations and the panels both
// read it without one importing the other.
import type { RunInfo } from './runModel';

/** The reward explorer's input shape (the panels' ParamsInput / RewardParamsInput). */
export interface RunRewardParams {
  tiers: number[];
  maxResponseTokens: number;
  alpha?: number;
  beta?: number;
  variant?: 'paper' | 'reference';
}

export function paramsOfRun(info: RunInfo): RunRewardParams {
  const reward = (info.config as { reward?: Record<string, unknown> }).reward ?? {};
  const num = (x: unknown) => (typeof x === 'number' && Number.isFinite(x) ? x : undefined);
  const variant = reward.variant === 'paper' || reward.variant === 'reference' ? reward.variant : undefined;
  return { tiers: info.tiers, maxResponseTokens: info.max_response_tokens, alpha: num(reward.alpha), beta: num(reward.beta), variant };
}
