// Messages of the run dashboard (extension/panels/dashboardPanel.ts <-> webview/dashboard.ts).
//
// webview -> host: ready | lengths (request: n_gen per tier at a step) | openInspector | openRewardExplorer
// host -> webview: state (full, answers ready and follows a reset) | append (only what is new)
//                  | lengths (answer) | error (answer)
import type { LoadProgress } from '../loading';
import { budgetOf, metricLabel, type Mode } from '../mode';
import type { EvalResult, RunStatus, Series } from '../runData';
import { hasOnlyKeys, isInt, isRecord, isRequestId, type ErrorMessage, type ReadyMessage, type RequestId } from './common';

export type { EvalResult, LoadProgress, RunStatus, Series };

export interface DashboardHeader {
  label: string;
  runDir: string;
  method: string | null;
  status: RunStatus;
  /** Last completed optimizer step. */
  step: number;
  totalSteps: number | null;
  stepsPerSecond: number | null;
  etaSeconds: number | null;
  device: string | null;
  /** Bad lines in events.jsonl so far. */
  errorCount: number;
  /** Before run_start: the trainer's latest log line (what it is preparing, e.g. the testbed's first build). */
  preparing: string | null;
  /** While a big events.jsonl is first read: how far (the charts hold what was read; no rollouts yet). */
  loading: LoadProgress | null;
}

/** A tier as metric keys name it (`512`, `natural`) and its budget in tokens (null: none). */
export interface TierInfo {
  mode: Mode;
  /** Its namespace in metric keys and histograms: `512`, `natural` (metricLabel). */
  label: string;
  budget: number | null;
}

export function tierInfoOf(mode: Mode): TierInfo {
  return { mode, label: metricLabel(mode), budget: budgetOf(mode) };
}

export interface DashboardState {
  header: DashboardHeader;
  tiers: TierInfo[];
  /** L_max of the run, tokens (histogram range); null before run_start. */
  maxResponseTokens: number | null;
  /** Every metric key of the step events, steps ascending. */
  series: Record<string, Series>;
  evals: EvalResult[];
  /** Steps that have rollouts (the histogram step picker). */
  rolloutSteps: number[];
}

/** What changed since the last state or append: points after the last ones sent, new evals and steps. */
export interface DashboardDelta {
  header: DashboardHeader;
  tiers: TierInfo[];
  maxResponseTokens: number | null;
  appended: Record<string, Series>;
  evals: EvalResult[];
  rolloutSteps: number[];
}

export type DashboardToWebview =
  | { type: 'state'; state: DashboardState }
  | { type: 'append'; delta: DashboardDelta }
  | { type: 'lengths'; id: RequestId; step: number; lengths: Record<string, number[]> }
  | ErrorMessage;

export type DashboardRequest =
  | ReadyMessage
  | { type: 'lengths'; id: RequestId; step: number }
  | { type: 'openInspector'; step?: number }
  | { type: 'openRewardExplorer' };

/** The message if it is a well-formed dashboard request, else undefined (dropped by the host). */
export function parseDashboardRequest(msg: unknown): DashboardRequest | undefined {
  if (!isRecord(msg)) return undefined;
  switch (msg.type) {
    case 'ready':
    case 'openRewardExplorer':
      return hasOnlyKeys(msg, ['type']) ? { type: msg.type } : undefined;
    case 'lengths':
      return hasOnlyKeys(msg, ['type', 'id', 'step']) && isRequestId(msg.id) && isInt(msg.step)
        ? { type: 'lengths', id: msg.id, step: msg.step }
        : undefined;
    case 'openInspector':
      if (!hasOnlyKeys(msg, ['type', 'step'])) return undefined;
      if (msg.step === undefined) return { type: 'openInspector' };
      return isInt(msg.step) ? { type: 'openInspector', step: msg.step } : undefined;
    default:
      return undefined;
  }
}
