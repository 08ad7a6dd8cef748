// The text of a trace document: a short header (where the rollout is, what it was paid and why),
// then the problem, the prompt and the raw trace. Plain text: the trace is untrusted model output
// and is shown exactly as written, never interpreted.
import type { RolloutEvent } from '../events';

const RULE = '─'.repeat(72);

/** One line of an untrusted value for the header: newlines and control characters become spaces. */
export function oneLine(text: string, max = 200): string {
  const t = text.replace(/[\u0000-\u001f\u007f\u2028\u2029]+/g, ' ').trim();
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

const num = (x: number | null, digits = 4) => (x === null ? '—' : x.toFixed(digits));

/** The document text of a trace and the offset where its body (the raw trace) starts. */
export interface TraceLayout {
  content: string;
  bodyOffset: number;
}

/**
 * Lays out a trace document: header lines (kept to one line each), problem, prompt, then the
 * body verbatim, last, followed by one newline. `tokens` is for the trace's rule line.
 */
export function layoutTrace(header: readonly string[], problem: string, prompt: string, text: string, tokens: string): TraceLayout {
  const head = [
    ...header.map((h) => oneLine(h, 4000)),
    '', `${RULE}\nproblem\n${RULE}`, problem,
    '', `${RULE}\nprompt (budget sentence)\n${RULE}`, prompt,
    '', `${RULE}\ntrace (${tokens})\n${RULE}`, '',
  ].join('\n');
  return { content: `${head}${text}\n`, bodyOffset: head.length };
}

export function formatTraceDocument(e: RolloutEvent, runLabel: string): TraceLayout {
  const budget = e.tier === null ? 'natural (no budget)' : `${e.tier} tokens`;
  const vs = e.tier === null ? '' : e.n_gen > e.tier ? ` (${e.n_gen - e.tier} over budget)` : ' (within budget)';
  const r = e.reward;
  // A run read from another tool (runs/sources): token counts may be estimates, reward terms and
  // advantages are recomputed, and the file's own columns are shown as it recorded them.
  const x = e as RolloutEvent & { n_gen_source?: string; recomputed?: string[]; recorded?: Record<string, unknown>; source?: { file?: string; where?: string } };
  const est = x.n_gen_source === 'estimate' ? ' (estimate)' : x.n_gen_source === 'recorded' ? ' (as recorded)' : '';
  const rec = x.recomputed?.length ? ' (recomputed)' : '';
  const header = [
    `HBPO rollout · ${oneLine(runLabel)} · read-only`,
    `step ${e.step} · query ${e.query_index} (${oneLine(e.query_id)}${e.difficulty ? `, ${oneLine(e.difficulty)}` : ''}) · sample ${e.sample}`,
    `tier: ${budget} · tokens: ${e.n_gen}${est}${vs} · truncated: ${e.truncated ? 'yes' : 'no'}`,
    `correct: ${e.correct ? 'yes' : 'no'} · answer: ${e.answer === null ? '—' : oneLine(e.answer)} · ground truth: ${oneLine(e.ground_truth)}`,
    `reward${rec}: ${num(r.reward)} (case ${r.case}) · f1 ${num(r.f1)} · f2 ${num(r.f2)} · cos ${num(r.cos)} · penalty ${num(r.penalty, 6)}`,
    `advantage${rec}: intra ${num(e.advantage.intra)} · inter ${num(e.advantage.inter)} · total ${num(e.advantage.total)}`,
  ];
  if (x.recorded && typeof x.recorded === 'object') {
    const cols = Object.entries(x.recorded).map(([k, v]) => `${oneLine(k, 40)} ${typeof v === 'number' ? num(v) : oneLine(String(v), 60)}`);
    header.push(`recorded by ${oneLine(runLabel)}: ${cols.join(' · ') || '—'}${x.source?.file ? ` · ${oneLine(x.source.file)} ${oneLine(x.source.where ?? '')}` : ''}`);
  }
  return layoutTrace(header, e.problem, e.prompt, e.text, `${e.n_gen} tokens`);
}

export function formatTrace(e: RolloutEvent, runLabel: string): string {
  return formatTraceDocument(e, runLabel).content;
}
