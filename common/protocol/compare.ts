// Messages of the budget-comparison panel (extension/panels/comparePanel.ts <-> webview/compare.ts).
// One problem goes to a local GGUF model under several prompt modes at once (every tier's budget
// sentence, natural, efficiency), optionally N samples each; every column streams its text.
//
// webview -> host: ready; run; stop; pickModel; useSelection; pickDatasetItem; exportResults; openTrace
// host -> webview: state (answers ready: everything), model, input, columns (a run starts),
//                  chunk (text streams into one column), column (a column's final state), runEnd
import type { RewardBreakdown } from '../budgetMath';
import { checkModeKey, shown, type ModeKey } from '../mode';
import { hasOnlyKeys, isInt, isRecord, type ReadyMessage } from './common';

export interface CompareInput {
  problem: string;
  /** Known answer (from a dataset item or a rollout); null when typed or selected. */
  groundTruth: string | null;
  /** Where the problem came from, for the panel's caption. */
  source: string;
}

export interface CompareSettings {
  /** Budget tiers, tokens, ascending. */
  tiers: number[];
  /** L_max of the reward (and each column's generation limit). */
  lMax: number;
  modes: ModeKey[];
  /** Samples per mode, 1..16. */
  samples: number;
  temperature: number;
  /** First sample's seed; sample i uses seed + i. */
  seed: number;
}

export const SETTINGS_LIMITS = { samples: 16, lMax: 32768, tiers: 8, temperature: 2 } as const;

export interface ModelState {
  status: 'none' | 'loading' | 'loaded' | 'error';
  path?: string;
  /** File name, for the caption. */
  name?: string;
  /** The backend it runs on: cuda / vulkan / metal, or false for CPU. */
  gpu?: string | false;
  threads?: number;
  contextSize?: number;
  sequences?: number;
  /** The GGUF has a chat template (else prompts are plain text). */
  chatTemplate?: boolean;
  message?: string;
}

export type ColumnStatus = 'waiting' | 'running' | 'done' | 'stopped' | 'error';

export interface ColumnState {
  /** `<mode>#<sample>`. */
  key: string;
  mode: ModeKey;
  sample: number;
  /** The mode's budget in tokens, null for natural and efficiency. */
  budget: number | null;
  maxTokens: number;
  status: ColumnStatus;
  /** Untrusted model output: rendered as text only. */
  text: string;
  /** Tokens generated so far (the end-of-sequence token included once done, as the trainer counts). */
  tokens: number;
  stopReason?: string;
  ms?: number;
  /** Tokens of the prompt as the model evaluated it (BOS included). */
  promptTokens?: number;
  /** Extracted answer (untrusted), null when none was found. */
  answer?: string | null;
  /** null when there is no ground truth or grading is unavailable. */
  correct?: boolean | null;
  reward?: RewardBreakdown | null;
  error?: string;
}

export interface CompareState {
  model: ModelState;
  input: CompareInput | null;
  settings: CompareSettings;
  runId: number;
  columns: ColumnState[];
  running: boolean;
  /** Why answers are not graded (no ground truth, no trainer), when they are not. */
  gradingNote?: string;
}

export type CompareToWebview =
  | ({ type: 'state' } & CompareState)
  | { type: 'model'; model: ModelState }
  | { type: 'input'; input: CompareInput }
  | { type: 'columns'; runId: number; columns: ColumnState[]; settings: CompareSettings; gradingNote?: string }
  | { type: 'chunk'; runId: number; key: string; text: string; tokens: number }
  | { type: 'column'; runId: number; column: ColumnState }
  | { type: 'runEnd'; runId: number }
  | { type: 'error'; id: number; message: string };

export type CompareRequest =
  | ReadyMessage
  | { type: 'run'; input: CompareInput; settings: CompareSettings }
  | { type: 'stop' }
  | { type: 'pickModel' }
  | { type: 'useSelection' }
  | { type: 'pickDatasetItem' }
  | { type: 'exportResults' }
  | { type: 'openTrace'; key: string };

const SIMPLE = ['ready', 'stop', 'pickModel', 'useSelection', 'pickDatasetItem', 'exportResults'] as const;

/** Checks compare settings; returns the problems by field (empty when fine). */
export function settingsProblems(s: CompareSettings): string[] {
  const p: string[] = [];
  const L = SETTINGS_LIMITS;
  if (!isInt(s.lMax, 1, L.lMax)) p.push(`L_max: a whole number of tokens from 1 to ${L.lMax}`);
  if (!Array.isArray(s.tiers) || s.tiers.length < 1 || s.tiers.length > L.tiers || !s.tiers.every((t) => isInt(t, 1, L.lMax))) {
    p.push(`tiers: 1 to ${L.tiers} whole numbers of tokens`);
  } else if (s.tiers.some((t, i) => i > 0 && t <= s.tiers[i - 1]!)) p.push('tiers: must ascend');
  else if (isInt(s.lMax, 1) && s.tiers[s.tiers.length - 1]! > s.lMax) p.push('tiers: the largest must not exceed L_max');
  p.push(...modesProblems(s.modes, s.lMax));
  if (!isInt(s.samples, 1, L.samples)) p.push(`samples: 1 to ${L.samples} per mode`);
  if (typeof s.temperature !== 'number' || !(s.temperature >= 0 && s.temperature <= L.temperature)) {
    p.push(`temperature: 0 (greedy) to ${L.temperature}`);
  }
  if (!isInt(s.seed, 0, 2 ** 31)) p.push('seed: a whole number >= 0');
  return p;
}

/** Problems of a list of mode keys: each names the field and the value (empty when fine). */
export function modesProblems(modes: unknown, lMax: unknown): string[] {
  if (!Array.isArray(modes) || modes.length < 1 || modes.length > 16) {
    return ['modes: pick at least one of the tiers, natural, efficiency (at most 16)'];
  }
  const p: string[] = [];
  const seen = new Set<string>();
  for (const key of modes) {
    const r = checkModeKey(key);
    if (!r.ok) p.push(`modes: ${r.error}`);
    else if (seen.has(key as string)) p.push(`modes: ${shown(key)} is listed twice`);
    else if (r.mode.kind === 'tier' && isInt(lMax, 1) && r.mode.budget > lMax) {
      p.push(`modes: ${shown(key)} is above L_max (${lMax} tokens)`);
    }
    if (r.ok) seen.add(key as string);
  }
  return p;
}

/** Why the host dropped a page message, for its log ('' when it would be taken). */
export function compareRequestProblem(msg: unknown): string {
  if (parseCompareRequest(msg) !== undefined) return '';
  if (isRecord(msg) && msg.type === 'run' && isRecord(msg.settings)) {
    const problems = settingsProblems(msg.settings as unknown as CompareSettings);
    if (problems.length > 0) return `run refused: ${problems.join('; ')}`;
  }
  return `message refused: ${shown(isRecord(msg) ? msg.type : msg)} does not fit the compare protocol`;
}

function parseInput(x: unknown): CompareInput | undefined {
  if (!isRecord(x) || !hasOnlyKeys(x, ['problem', 'groundTruth', 'source'])) return undefined;
  if (typeof x.problem !== 'string' || x.problem.length > 200_000 || typeof x.source !== 'string') return undefined;
  if (x.groundTruth !== null && typeof x.groundTruth !== 'string') return undefined;
  return { problem: x.problem, groundTruth: x.groundTruth as string | null, source: x.source.slice(0, 200) };
}

function parseSettings(x: unknown): CompareSettings | undefined {
  if (!isRecord(x) || !hasOnlyKeys(x, ['tiers', 'lMax', 'modes', 'samples', 'temperature', 'seed'])) return undefined;
  const s = x as unknown as CompareSettings;
  return settingsProblems(s).length === 0 ? { ...s, tiers: [...s.tiers], modes: [...s.modes] } : undefined;
}

/** The host's check of a page message; undefined (dropped) when it does not fit. */
export function parseCompareRequest(msg: unknown): CompareRequest | undefined {
  if (!isRecord(msg) || typeof msg.type !== 'string') return undefined;
  if ((SIMPLE as readonly string[]).includes(msg.type)) {
    return hasOnlyKeys(msg, ['type']) ? ({ type: msg.type } as CompareRequest) : undefined;
  }
  if (msg.type === 'openTrace') {
    return hasOnlyKeys(msg, ['type', 'key']) && typeof msg.key === 'string' && msg.key.length < 100
      ? { type: 'openTrace', key: msg.key } : undefined;
  }
  if (msg.type === 'run' && hasOnlyKeys(msg, ['type', 'input', 'settings'])) {
    const input = parseInput(msg.input);
    const settings = parseSettings(msg.settings);
    return input && settings && input.problem.trim() ? { type: 'run', input, settings } : undefined;
  }
  return undefined;
}
