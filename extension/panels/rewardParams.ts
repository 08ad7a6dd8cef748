// Seeding the reward explorer: from the contract's RewardParamsInput, or from a run's run_start
// (tiers, max_response_tokens and the resolved config's reward section). Invalid input falls back
// to the paper's defaults with the reasons, rather than drawing nonsense.
import { defaultParams, formOf, parseRewardForm } from '../../common/rewardForm';
import type { RewardExplorerParams } from '../../common/protocol/rewardExplorer';

/** The same shape as RewardParamsInput in ./index.ts (kept here so this file needs no `vscode`). */
export interface ParamsInput {
  tiers: number[];
  maxResponseTokens: number;
  alpha?: number;
  beta?: number;
  variant?: 'paper' | 'reference';
}

export function explorerParams(input?: ParamsInput): { params: RewardExplorerParams; problems: string[] } {
  if (!input) return { params: defaultParams(), problems: [] };
  const d = defaultParams();
  const lMax = input.maxResponseTokens;
  // alpha equal to 1/L_max is shown as "1/L_max", so editing L_max keeps the paper's coupling.
  const alpha = input.alpha === undefined || Math.abs(input.alpha - 1 / lMax) < 1e-15 ? null : input.alpha;
  const candidate: RewardExplorerParams = {
    tiers: input.tiers, lMax, alpha, beta: input.beta ?? d.beta, variant: input.variant ?? d.variant,
  };
  const checked = parseRewardForm(formOf(candidate));
  return checked.ok ? { params: checked.params, problems: [] } : { params: d, problems: checked.errors.map((e) => e.message) };
}


/**
 * The seed a restored explorer page saved in its webview state (`{ seeded, source }`), checked like
 * any input, so the page keeps its edited form; undefined when the state is missing or malformed.
 */
export function revivedParams(state: unknown): { params: RewardExplorerParams; source: string } | undefined {
  if (typeof state !== 'object' || state === null) return undefined;
  const { seeded, source } = state as { seeded?: unknown; source?: unknown };
  if (typeof seeded !== 'object' || seeded === null || typeof source !== 'string') return undefined;
  const s = seeded as Record<string, unknown>;
  if (!Array.isArray(s.tiers) || !s.tiers.every((t) => typeof t === 'number') || typeof s.lMax !== 'number' ||
    typeof s.beta !== 'number' || (s.alpha !== null && typeof s.alpha !== 'number') || typeof s.variant !== 'string') {
    return undefined;
  }
  const checked = parseRewardForm(formOf(seeded as RewardExplorerParams));
  return checked.ok ? { params: checked.params, source: source.slice(0, 200) } : undefined;
}
