// Hand-written run events for the panel tests, in the shapes trainer/hbpo/train.py writes; every
// line is checked with parseEventLine, so a schema change breaks the fixture loudly.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { parseEventLine } from '../../../extension/events';
import { parseLines } from '../../../extension/runs/lineReader';
import { RunModel } from '../../../extension/runs/runModel';

export const T0 = 1795868000;
export const TIERS = [32, 64];
export const L_MAX = 128;

/** Markup and script in model output and data: must reach the screen as these exact characters. */
export const PAYLOAD = `<img src=x onerror="alert(1)"><script>alert('pwned')</script>&amp; </think>`;

export function line(type: string, step: number, payload: Record<string, unknown>, time = T0 + step * 2): string {
  const text = JSON.stringify({ v: 1, type, time, step, ...payload });
  const parsed = parseEventLine(text, 0);
  assert.ok(parsed.ok, parsed.ok ? '' : `fixture event does not validate: ${parsed.error}`);
  return text;
}

export function runStart(step = 0, resumedFrom: number | null = null): string {
  return line('run_start', step, {
    run_id: 'panels-test', method: 'hbpo', tiers: TIERS, max_response_tokens: L_MAX, total_steps: 6, device: 'cpu',
    dtype: 'float32', pid: 4242, resumed_from_step: resumedFrom,
    config: { method: 'hbpo', reward: { variant: 'reference', alpha: 0.01, beta: 2 } },
  }, T0 + step * 2 - 1);
}

export interface RolloutSpec {
  step: number;
  query: number;
  sample: number;
  tier: number;
  nGen: number;
  correct: boolean;
  text?: string;
  answer?: string | null;
}

export function rollout(r: RolloutSpec): string {
  const reward = r.correct ? 2 - r.nGen / 1000 : 0;
  return line('rollout', r.step, {
    query_id: `q-${r.step}-${r.query}`, query_index: r.query, sample: r.sample, tier: r.tier,
    problem: r.query === 1 ? `Problem ${PAYLOAD}` : `What is ${r.query} + 2?`, difficulty: r.query === 0 ? 'easy' : 'hard',
    prompt: `<think>\nI will answer the question within ${r.tier} tokens.\n`, text: r.text ?? `thinking at tier ${r.tier}, sample ${r.sample}`,
    n_gen: r.nGen, truncated: false, correct: r.correct, answer: r.answer === undefined ? (r.correct ? '4' : `5 (tier ${r.tier}, sample ${r.sample})`) : r.answer,
    ground_truth: '4',
    reward: { reward, cos: 1.9, penalty: 0.01, f1: 1.8, f2: 1.7, case: r.correct ? (r.nGen <= r.tier ? 'within' : 'over') : 'wrong' },
    advantage: { intra: -0.2, inter: reward - 1, total: reward - 1.2 },
  });
}

/** Two queries x (2 per tier) rollouts, then the step event with per-tier metrics. As the trainer
 * does, samples are numbered within each (query, tier): every tier has samples 0 and 1. */
export function stepLines(step: number, lossBias = 0): string[] {
  const lines: string[] = [];
  const lengths = new Map<number, number[]>();
  for (let q = 0; q < 2; q++) {
    let k = 0; // position within the query, for a mix of correct and wrong
    for (const tier of TIERS) {
      for (let s = 0; s < 2; s++) {
        const nGen = tier / 2 + step * 3 + q * 5 + s * 7;
        lengths.set(tier, [...(lengths.get(tier) ?? []), nGen]);
        const text = q === 1 && tier === TIERS[0] && s === 1 ? PAYLOAD : undefined; // one trace of untrusted markup
        lines.push(rollout({ step, query: q, sample: s, tier, nGen, correct: (k++ + q) % 3 !== 2, text }));
      }
    }
  }
  const metrics: Record<string, number | null> = { loss: 1 / step + lossBias, clip_frac: 0.1, entropy: 1.5, grad_norm: 0.5, tokens_per_s: 50 };
  for (const [tier, ls] of lengths) {
    const mean = ls.reduce((a, b) => a + b, 0) / ls.length;
    metrics[`budget/${tier}/mean_length`] = mean;
    metrics[`budget/${tier}/length_std`] = Math.sqrt(ls.reduce((a, b) => a + (b - mean) ** 2, 0) / ls.length);
    metrics[`budget/${tier}/accuracy`] = 0.5;
  }
  lines.push(line('step', step, { metrics }));
  return lines;
}

export function evalLine(step: number, mode: string, accuracy: number, tokens: number): string {
  return line('eval', step, {
    dataset: 'testbed:val', mode, n: 4, accuracy, mean_tokens: tokens,
    by_difficulty: { hard: { n: 2, accuracy: 0, mean_tokens: tokens + 10 }, easy: { n: 2, accuracy: 1, mean_tokens: tokens - 10 } },
  });
}

export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'hbpo-panels-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export const jsonl = (lines: string[]) => lines.map((l) => `${l}\n`).join('');

/** A run folder holding `lines`, and a model that read them. */
export function modelOf(lines: string[], dir = tempDir()): { dir: string; model: RunModel } {
  writeFileSync(join(dir, 'events.jsonl'), jsonl(lines));
  const model = new RunModel(join(dir, 'events.jsonl'));
  model.ingest(parseLines(Buffer.from(jsonl(lines))));
  return { dir, model };
}

/** Feed more lines into an existing model (as the tailer does), keeping the file in step. */
export function appendTo(dir: string, model: RunModel, all: string[], more: string[]): string[] {
  const lines = [...all, ...more];
  writeFileSync(join(dir, 'events.jsonl'), jsonl(lines));
  model.ingest(parseLines(Buffer.from(jsonl(more)), Buffer.byteLength(jsonl(all)), all.length + 1));
  return lines;
}
