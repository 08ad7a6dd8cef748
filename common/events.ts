// The run event protocol's types: one line of runs/<id>/events.jsonl. The schema,
// trainer/hbpo/schemas/events.schema.json, is the source of truth (the trainer's tests and the
// extension's parser, extension/events.ts, validate against it); these types mirror it for the
// host and the pages. No imports beyond common/.
import type { RewardName } from './budgetMath';

/** The version this extension writes about and reads best; it reads every version in SCHEMA_VERSIONS. */
export const SCHEMA_VERSION = 2;
/** 1: the first. 2: run_start records reward and advantage settings as typed fields, step events
 * carry per-tier metrics as `per_tier` (version 1 only as `budget/<tier>/...` metric keys). */
export const SCHEMA_VERSIONS = [1, 2] as const;

type Num = number | null;
interface Base {
  v: (typeof SCHEMA_VERSIONS)[number];
  time: number; // unix seconds
  step: number;
}
export interface RewardTerms {
  reward: number;
  cos: number;
  penalty: Num;
  f1: Num;
  f2: Num;
  case: 'truncated' | 'wrong' | 'within' | 'over' | 'natural';
}
export interface RunStartEvent extends Base {
  type: 'run_start';
  run_id: string;
  config: Record<string, unknown>;
  method: string;
  tiers: number[];
  max_response_tokens: number;
  total_steps: number;
  device: string;
  dtype: string;
  pid: number;
  resumed_from_step: number | null;
  /** Version 2 (version 1: only inside `config`): the reward the run used, resolved. */
  reward?: { name: RewardName; variant: 'paper' | 'reference'; alpha: number; beta: number; max_response_tokens: number };
  /** Version 2: the advantage estimator and its epsilon. */
  advantage?: { name: string; eps: number };
  /** Processes (torchrun ranks) the run trains with, and each one's device; absent: one process. */
  world_size?: number;
  devices?: string[];
}
export interface RolloutEvent extends Base {
  type: 'rollout';
  query_id: string;
  query_index: number;
  sample: number;
  tier: number | null;
  problem: string;
  difficulty?: string | null;
  prompt: string;
  text: string; // untrusted model output: render as text only
  n_gen: number;
  /** [tokens, chars] pairs: the first `tokens` tokens decode to text.slice(0, chars); every 32 tokens, at each tier, at n_gen. Absent in older runs. */
  token_marks?: [number, number][];
  truncated: boolean;
  correct: boolean;
  answer: string | null;
  ground_truth: string;
  reward: RewardTerms;
  advantage: { intra: number; inter: number; total: number };
}
export interface StepEvent extends Base {
  type: 'step';
  /** Step-wide metrics; in version 1 also the per-tier ones, as `budget/<tier>/<name>` keys. */
  metrics: Record<string, Num>;
  /** Version 2: per-tier metrics, one entry per tier (null: natural mode). */
  per_tier?: { tier: number | null; metrics: Record<string, Num> }[];
}
export interface EvalEvent extends Base {
  type: 'eval';
  dataset: string;
  mode: string;
  n: number;
  accuracy: Num;
  mean_tokens: Num;
  by_difficulty: Record<string, { n: number; accuracy: Num; mean_tokens: Num }>;
}
export interface CheckpointEvent extends Base {
  type: 'checkpoint';
  path: string;
  reason: 'periodic' | 'stop' | 'final';
}
export interface LogEvent extends Base {
  type: 'log';
  level: 'debug' | 'info' | 'warning' | 'error';
  message: string;
}
export interface RunEndEvent extends Base {
  type: 'run_end';
  status: 'finished' | 'stopped' | 'failed';
  reason?: string;
  checkpoint: string | null;
}
export type RunEvent =
  | RunStartEvent | RolloutEvent | StepEvent | EvalEvent | CheckpointEvent | LogEvent | RunEndEvent;
