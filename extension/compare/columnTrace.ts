// A comparison column as a live trace document (extension/traces): its header, prompt and text, and
// the spec the annotations are drawn from (tier markers, over-budget shading, reward at any point).
import { HBPO_DEFAULTS } from '../../common/budgetMath';
import type { TokenMark } from '../inference/protocol';
import type { TraceSpec } from '../traces/annotate';
import { oneLine } from '../traces/traceText';
import type { LiveTrace } from '../traces/traceProvider';
import { modeKeyLabel } from '../../common/mode';
import type { ColumnState } from '../../common/protocol/compare';
import type { Comparison } from './comparison';

/**
 * Worker marks count UTF-16 code units (JavaScript string lengths); trace specs count code points
 * (the trainer's Python offsets). Converts the first to the second for `text`.
 */
export function codePointMarks(text: string, marks: readonly TokenMark[]): [number, number][] {
  const out: [number, number][] = [];
  let unit = 0;
  let points = 0;
  for (const [tokens, chars] of marks) {
    while (unit < chars && unit < text.length) {
      const cp = text.codePointAt(unit)!;
      unit += cp > 0xffff ? 2 : 1;
      points += 1;
    }
    out.push([tokens, points]);
  }
  return out;
}

export function columnTrace(c: Comparison, column: ColumnState, modelName: string): LiveTrace {
  const lMax = c.settings.lMax;
  const done = column.status !== 'waiting' && column.status !== 'running';
  const spec: TraceSpec = {
    text: column.text,
    tokens: column.tokens,
    marks: codePointMarks(column.text, c.marks.get(column.key) ?? [[0, 0]]),
    tier: column.budget,
    tiers: c.settings.tiers,
    params: { reward: column.budget === null ? 'cosine' : 'hbpo', variant: 'paper', lMax, alpha: 1 / lMax, beta: HBPO_DEFAULTS.beta },
    correct: column.correct ?? null,
    truncated: column.stopReason === 'maxTokens',
    ...(column.reward ? { reward: column.reward } : {}),
    done,
  };
  const verdict = column.correct === true ? 'correct' : column.correct === false ? 'wrong' : 'not graded';
  const headerLines = [
    `HBPO budget comparison · ${oneLine(modelName)} · read-only`,
    `mode: ${modeKeyLabel(column.mode)} · sample ${column.sample} · seed ${c.settings.seed + column.sample} · temperature ${c.settings.temperature}`,
    `status: ${column.status}${column.stopReason ? ` (${column.stopReason})` : ''} · tokens: ${column.tokens}` +
      (column.budget !== null ? ` of ${column.budget} budgeted` : ''),
    `answer: ${column.answer ? oneLine(column.answer) : '—'} · ${verdict}` +
      (c.input.groundTruth !== null ? ` · ground truth: ${oneLine(c.input.groundTruth)}` : ''),
  ];
  return {
    label: `${modeKeyLabel(column.mode).replace(/\s+/g, '-')}-s${column.sample}`,
    headerLines,
    problem: c.input.problem,
    prompt: c.prompts.get(column.key) ?? '',
    spec,
  };
}
