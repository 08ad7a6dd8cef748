// Messages of the reward-curve explorer (extension/panels/rewardPanel.ts <-> webview/rewardExplorer.ts).
// The curves are computed in the webview (common/budgetMath.ts runs there too), so the host only
// seeds the parameters.
//
// webview -> host: ready
// host -> webview: params (answers ready, and again when the explorer is opened with new ones)
import type { HbpoVariant } from '../budgetMath';
import { hasOnlyKeys, isRecord, type ReadyMessage } from './common';

/** The explorer's inputs; `alpha: null` means 1 / L_max (the paper's choice). */
export interface RewardExplorerParams {
  tiers: number[];
  lMax: number;
  alpha: number | null;
  beta: number;
  variant: HbpoVariant;
}

export type RewardExplorerToWebview = { type: 'params'; params: RewardExplorerParams; source: string };

export type RewardExplorerRequest = ReadyMessage;

export function parseRewardExplorerRequest(msg: unknown): RewardExplorerRequest | undefined {
  return isRecord(msg) && msg.type === 'ready' && hasOnlyKeys(msg, ['type']) ? { type: 'ready' } : undefined;
}
