// Messages of the rollout-group inspector (extension/panels/rolloutPanel.ts <-> webview/rollouts.ts).
//
// webview -> host: ready | queries (request: the queries of a step) | group (request: one
//                  query's rollouts) | openTrace (open one rollout as a read-only document) | compare (pose the
//                  query's problem to a local model under every budget: the comparison panel)
// host -> webview: state (answers ready) | steps (the steps with rollouts grew or changed)
//                  | select (openRolloutInspector was called again with a target)
//                  | queries, group (answers) | error (answer)
//
// Problem, answer and ground truth come from the model's training data and output: the webview
// renders them as text only (never markup).
import { isRolloutKey, type RolloutKey } from '../rolloutKey';
import type { RewardCase } from '../budgetMath';
import { hasOnlyKeys, isInt, isRecord, isRequestId, type ErrorMessage, type ReadyMessage, type RequestId } from './common';

/** One rollout's numbers, as the table shows them. (tier, sample) names it within its group. */
export interface RolloutRow {
  /** Index within its (query, tier): every tier has a sample 0. */
  sample: number;
  /** Budget in tokens, or null (natural mode). */
  tier: number | null;
  nGen: number;
  /** n_gen against the tier's budget. */
  budget: 'within' | 'over' | 'none';
  truncated: boolean;
  correct: boolean;
  /** The graded answer the model gave (untrusted text), null when none was found. */
  answer: string | null;
  reward: number;
  f1: number | null;
  f2: number | null;
  cos: number;
  penalty: number | null;
  case: RewardCase;
  intra: number;
  inter: number;
  total: number;
}

/** A query at a step, for the query picker. */
export interface QueryInfo {
  queryIndex: number;
  queryId: string;
  difficulty: string | null;
  /** The start of the problem text (untrusted); empty when its line could not be read. */
  problem: string;
  rollouts: number;
  correct: number;
  meanReward: number;
}

export interface GroupView {
  step: number;
  queryIndex: number;
  queryId: string;
  difficulty: string | null;
  problem: string;
  groundTruth: string;
  rows: RolloutRow[];
  /** Rollouts that could not be read back (file replaced, say). */
  errors: string[];
}

export interface InspectorState {
  label: string;
  runDir: string;
  /** Steps with rollouts, ascending. */
  steps: number[];
  tiers: number[];
  maxResponseTokens: number | null;
  /** Where to start (from openRolloutInspector), else the webview picks the latest step. */
  target: { step?: number; queryIndex?: number };
}

export type RolloutsToWebview =
  | { type: 'state'; state: InspectorState }
  | { type: 'steps'; steps: number[] }
  | { type: 'select'; step?: number; queryIndex?: number }
  | { type: 'queries'; id: RequestId; step: number; queries: QueryInfo[] }
  | { type: 'group'; id: RequestId; group: GroupView }
  | ErrorMessage;

export type RolloutsRequest =
  | ReadyMessage
  | { type: 'queries'; id: RequestId; step: number }
  | { type: 'group'; id: RequestId; step: number; queryIndex: number }
  | { type: 'openTrace'; key: RolloutKey }
  | { type: 'compare'; step: number; queryIndex: number };

/** The message if it is a well-formed inspector request, else undefined (dropped by the host). */
export function parseRolloutsRequest(msg: unknown): RolloutsRequest | undefined {
  if (!isRecord(msg)) return undefined;
  switch (msg.type) {
    case 'ready':
      return hasOnlyKeys(msg, ['type']) ? { type: 'ready' } : undefined;
    case 'queries':
      return hasOnlyKeys(msg, ['type', 'id', 'step']) && isRequestId(msg.id) && isInt(msg.step)
        ? { type: 'queries', id: msg.id, step: msg.step }
        : undefined;
    case 'group':
      return hasOnlyKeys(msg, ['type', 'id', 'step', 'queryIndex']) && isRequestId(msg.id) && isInt(msg.step) &&
        isInt(msg.queryIndex)
        ? { type: 'group', id: msg.id, step: msg.step, queryIndex: msg.queryIndex }
        : undefined;
    case 'openTrace':
      return hasOnlyKeys(msg, ['type', 'key']) && isRolloutKey(msg.key)
        ? { type: 'openTrace', key: { step: msg.key.step, queryIndex: msg.key.queryIndex, tier: msg.key.tier, sample: msg.key.sample } }
        : undefined;
    case 'compare':
      return hasOnlyKeys(msg, ['type', 'step', 'queryIndex']) && isInt(msg.step) && isInt(msg.queryIndex)
        ? { type: 'compare', step: msg.step, queryIndex: msg.queryIndex }
        : undefined;
    default:
      return undefined;
  }
}
