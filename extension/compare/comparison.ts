// One budget comparison: a problem sent to the loaded model under every chosen mode (N samples
// each), all columns generating in parallel as sequences of the worker's one context (more than it
// has sequences wait their turn there). Streams each column, then grades it with the trainer's grader
// when the ground truth is known, and scores it with the HBPO reward (common/budgetMath.ts).
// No `vscode`: the panel host wires it, tests drive it with the real worker.
import { HBPO_DEFAULTS, rewardBreakdown, type RewardBreakdown } from '../../common/budgetMath';
import type { GenerateOptions } from '../inference/client';
import type { GenerateResult, TokenMark } from '../inference/protocol';
import { summarize } from '../../common/compareView';
import { parseModeKey } from '../../common/mode';
import type { ColumnState, CompareInput, CompareSettings } from '../../common/protocol/compare';
import type { AnswerGrader } from './grader';
import { buildPrompt, type ModelTemplate } from './prompt';

export interface Generator {
  generate(options: GenerateOptions): { result: Promise<GenerateResult>; abort(): void };
}

export interface ComparisonListener {
  /** New text of a column; `tokens` counts the tokens of all its text so far. */
  chunk(key: string, text: string, tokens: number): void;
  /** A column changed status (started, finished, failed). */
  column(column: ColumnState): void;
}

/** The columns of a comparison, in display order: modes as given, samples within each. */
export function planColumns(settings: CompareSettings): ColumnState[] {
  const columns: ColumnState[] = [];
  for (const mode of settings.modes) {
    const m = parseModeKey(mode);
    if (!m) throw new Error(`unknown mode "${mode}"`);
    for (let sample = 0; sample < settings.samples; sample++) {
      columns.push({
        key: `${mode}#${sample}`, mode, sample, budget: m.kind === 'tier' ? m.budget : null,
        maxTokens: settings.lMax, status: 'waiting', text: '', tokens: 0,
      });
    }
  }
  return columns;
}

/**
 * Tokens as the trainer counts them (`n_gen`): llama.cpp does not count the end-of-sequence token
 * it stopped at, the trainer's response includes it.
 */
export function trainerTokens(result: Pick<GenerateResult, 'tokens' | 'stopReason'>): number {
  return result.tokens + (result.stopReason === 'eos' ? 1 : 0);
}

/**
 * The column's reward: HBPO (paper variant, alpha = 1/L_max, beta 4) against its budget; natural and
 * efficiency columns have no budget, so they get the cosine length term. `correct: null` (unknown)
 * is scored as if correct (the panel says so).
 */
export function scoreColumn(
  column: Pick<ColumnState, 'budget' | 'tokens' | 'stopReason'>, correct: boolean | null, lMax: number,
): RewardBreakdown {
  return rewardBreakdown({
    reward: column.budget === null ? 'cosine' : 'hbpo', variant: 'paper',
    lMax, alpha: 1 / lMax, beta: HBPO_DEFAULTS.beta,
    nGen: column.tokens, budget: column.budget, correct: correct ?? true,
    truncated: column.stopReason === 'maxTokens',
  });
}

export class Comparison {
  readonly columns: ColumnState[];
  /** Per column: its prompt, and the token marks of its text ([tokens, chars], from the model's tokenizer). */
  readonly prompts = new Map<string, string>();
  readonly marks = new Map<string, TokenMark[]>();
  private readonly aborts: Array<() => void> = [];
  private stopped = false;

  constructor(
    readonly input: CompareInput,
    readonly settings: CompareSettings,
    private readonly generator: Generator,
    private readonly model: ModelTemplate,
    private readonly grader: AnswerGrader | undefined,
    private readonly listener: ComparisonListener,
  ) {
    this.columns = planColumns(settings);
  }

  column(key: string): ColumnState | undefined {
    return this.columns.find((c) => c.key === key);
  }

  /** Runs every column; resolves when all have ended (done, stopped or failed). */
  async run(): Promise<void> {
    await Promise.all(this.columns.map((c) => this.runColumn(c)));
  }

  stop(): void {
    this.stopped = true;
    for (const abort of this.aborts) abort();
  }

  private update(column: ColumnState, patch: Partial<ColumnState>): void {
    Object.assign(column, patch);
    this.listener.column({ ...column });
  }

  private async runColumn(column: ColumnState): Promise<void> {
    if (this.stopped) return this.update(column, { status: 'stopped' });
    let prompt;
    try {
      prompt = buildPrompt(this.model, this.input.problem, column.mode);
    } catch (err) {
      return this.update(column, { status: 'error', error: (err as Error).message });
    }
    this.prompts.set(column.key, prompt.text);
    const marks: TokenMark[] = [[0, 0]];
    this.marks.set(column.key, marks);
    this.update(column, { status: 'running' });
    const generation = this.generator.generate({
      prompt: prompt.text, specialTokens: prompt.specialTokens, maxTokens: column.maxTokens,
      temperature: this.settings.temperature, seed: this.settings.seed + column.sample,
      onChunk: (c) => {
        column.text += c.text;
        column.tokens = c.tokens;
        if (c.tokens > marks[marks.length - 1]![0]) marks.push([c.tokens, column.text.length]);
        this.listener.chunk(column.key, c.text, c.tokens);
      },
    });
    this.aborts.push(() => generation.abort());
    let result: GenerateResult;
    try {
      result = await generation.result;
    } catch (err) {
      return this.update(column, { status: 'error', error: (err as Error).message });
    }
    this.marks.set(column.key, result.marks);
    const tokens = trainerTokens(result);
    if (result.stopReason === 'abort') {
      return this.update(column, { status: 'stopped', text: result.text, tokens, stopReason: 'abort', ms: result.ms });
    }
    let answer: string | null = null;
    let correct: boolean | null = null;
    let error: string | undefined;
    if (this.grader && this.input.groundTruth !== null) {
      try {
        ({ answer, correct } = await this.grader.grade(result.text, this.input.groundTruth));
      } catch (err) {
        error = (err as Error).message;
      }
    }
    const done = { text: result.text, tokens, stopReason: result.stopReason, ms: result.ms, promptTokens: result.promptTokens };
    this.update(column, {
      status: 'done', ...done, answer, correct, reward: scoreColumn({ ...done, budget: column.budget }, correct, this.settings.lMax),
      ...(error ? { error } : {}),
    });
  }

  /** Everything a comparison produced, as exported to JSON. */
  toJSON(modelPath: string | undefined): unknown {
    return {
      format: 'hbpo-studio.comparison/1',
      model: modelPath ?? null,
      input: this.input,
      settings: this.settings,
      summary: summarize(this.columns, this.settings.modes),
      columns: this.columns.map((c) => ({ ...c, prompt: this.prompts.get(c.key) ?? null, token_marks: this.marks.get(c.key) ?? [] })),
    };
  }
}
