// A realistic run, event by event, in the shapes trainer/hbpo/train.py writes (every line is
// checked with parseEventLine, so a schema change breaks the fixture, not the tests silently).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { parseEventLine } from '../../../extension/events';

export const T0 = 1795868000;
export const TIERS = [512, 1024];
export const STEPS = 3;
export const QUERIES = 2;
export const PER_TIER = 2;
export const SECONDS_PER_STEP = 4;

/** One event as a JSON line (no newline), validated against the schema. */
export function line(type: string, step: number, payload: Record<string, unknown>, time = T0 + step * SECONDS_PER_STEP): string {
  const text = JSON.stringify({ v: 1, type, time, step, ...payload });
  const parsed = parseEventLine(text, 0);
  assert.ok(parsed.ok, parsed.ok ? '' : `fixture event does not validate: ${parsed.error}`);
  return text;
}

export function runStart(step = 0, extra: Record<string, unknown> = {}): string {
  return line('run_start', step, {
    run_id: 'hbpo-test', config: { method: 'hbpo', rollout: { tiers: TIERS } }, method: 'hbpo', tiers: TIERS,
    max_response_tokens: 2048, total_steps: STEPS, device: 'cpu', dtype: 'float32', parameters: 1000,
    trainable_parameters: 1000, pid: 4242, resumed_from_step: null, versions: { hbpo: '0.1.0' }, ...extra,
  }, T0 + step * SECONDS_PER_STEP - 1);
}

/** Deterministic n_gen per rollout, so tests can recompute the metrics. */
export function nGen(step: number, query: number, tier: number, j: number): number {
  return Math.round(tier * (0.3 + 0.1 * step + 0.05 * query + 0.2 * j));
}

/** Text with multi-byte characters, a newline, markup and a quote: offsets are bytes, not chars. */
export function rolloutText(step: number, query: number, sample: number): string {
  return `Étape ${step}: ∑ 2+2 — "quoted" <b>bold</b>\nline two 🚀 q${query} s${sample} </think> \\boxed{4}`;
}

export interface Rollout {
  step: number; query_index: number; sample: number; tier: number; n_gen: number; correct: boolean; truncated: boolean;
  text: string; reward: number; intra: number; inter: number;
}

export function rolloutLine(step: number, query: number, sample: number, tier: number, j: number): { text: string; r: Rollout } {
  const n = nGen(step, query, tier, j);
  const correct = (step + query + sample) % 3 !== 0;
  const reward = correct ? 3.5 - sample * 0.1 : 0;
  const r: Rollout = {
    step, query_index: query, sample, tier, n_gen: n, correct, truncated: false, text: rolloutText(step, query, sample),
    reward, intra: -0.25, inter: reward - 2,
  };
  const text = line('rollout', step, {
    query_id: `testbed-train-${step * 10 + query}`, query_index: query, sample, tier, problem: 'Compute 2 + 2.',
    difficulty: query === 0 ? 'easy' : 'hard', prompt: `<think>\nI will answer the question within ${tier} tokens.\n`,
    text: r.text, n_gen: n, truncated: false, correct, answer: correct ? '4' : '5', ground_truth: '4',
    reward: { reward, cos: 3.9, penalty: correct ? 0.01 : null, f1: correct ? 3.4 : null, f2: correct ? 3.5 : null,
      case: correct ? (n <= tier ? 'within' : 'over') : 'wrong' },
    advantage: { intra: r.intra, inter: r.inter, total: r.intra + r.inter },
  });
  return { text, r };
}

/** The rollouts and step event of one step; `bias` shifts the loss (to tell two attempts apart). */
export function stepLines(step: number, bias = 0): { lines: string[]; rollouts: Rollout[]; metrics: Record<string, number | null> } {
  const lines: string[] = [];
  const rollouts: Rollout[] = [];
  for (let q = 0; q < QUERIES; q++) {
    let sample = 0;
    for (const tier of TIERS) {
      for (let j = 0; j < PER_TIER; j++) {
        const { text, r } = rolloutLine(step, q, sample++, tier, j);
        lines.push(text);
        rollouts.push(r);
      }
    }
  }
  const metrics: Record<string, number | null> = {};
  for (const tier of TIERS) {
    const lengths = rollouts.filter((r) => r.tier === tier).map((r) => r.n_gen);
    const mean = lengths.reduce((a, b) => a + b, 0) / lengths.length;
    metrics[`budget/${tier}/mean_length`] = mean;
    metrics[`budget/${tier}/length_std`] = Math.sqrt(lengths.reduce((a, b) => a + (b - mean) ** 2, 0) / lengths.length);
    metrics[`budget/${tier}/accuracy`] = rollouts.filter((r) => r.tier === tier && r.correct).length / lengths.length;
    metrics[`budget/${tier}/reward`] = rollouts.filter((r) => r.tier === tier).reduce((a, r) => a + r.reward, 0) / lengths.length;
  }
  Object.assign(metrics, {
    loss: 0.5 / step + bias, entropy: 1.2, clip_frac: 0.05, grad_norm: 0.8, lr: 1e-6, tokens_per_s: 100 * step,
    approx_kl: null, // NaN in the trainer is written as null
  });
  lines.push(line('step', step, { metrics }));
  return { lines, rollouts, metrics };
}

/** A finished 3-step run with evals, checkpoints and logs. */
export function finishedRun(): { lines: string[]; rollouts: Rollout[]; metrics: Record<string, number | null>[] } {
  const lines = [runStart(), line('log', 0, { level: 'info', message: 'starting step 0 of 3 on cpu (float32)' })];
  const rollouts: Rollout[] = [];
  const metrics: Record<string, number | null>[] = [];
  for (let step = 1; step <= STEPS; step++) {
    const s = stepLines(step);
    lines.push(...s.lines);
    rollouts.push(...s.rollouts);
    metrics.push(s.metrics);
    if (step === 2 || step === STEPS) lines.push(...evalLines(step));
    if (step === 2) lines.push(line('checkpoint', step, { path: 'checkpoints/step-000002', reason: 'periodic' }));
  }
  lines.push(
    line('checkpoint', STEPS, { path: 'checkpoints/step-000003', reason: 'final' }),
    line('log', STEPS, { level: 'info', message: 'run finished: completed 3 steps; checkpoint checkpoints/step-000003' }),
    line('run_end', STEPS, { status: 'finished', reason: 'completed 3 steps', checkpoint: 'checkpoints/step-000003' }),
  );
  return { lines, rollouts, metrics };
}

export function evalLines(step: number): string[] {
  return ['tier:1024', 'natural', 'tier:512', 'efficiency'].map((mode, i) =>
    line('eval', step, {
      dataset: 'testbed:val', mode, n: 4, accuracy: 0.25 * (i + 1) + step / 100, mean_tokens: 100 * (i + 1), truncated: 0,
      by_difficulty: { easy: { n: 2, accuracy: 1, mean_tokens: 50 }, hard: { n: 2, accuracy: 0, mean_tokens: 150 } },
      tokens_per_s: 12.5,
    }));
}

export const jsonl = (lines: string[]) => lines.map((l) => `${l}\n`).join('');

/** A temp folder removed after the test file. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'hbpo-runs-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function writeRun(dir: string, lines: string[], config = true): void {
  writeFileSync(join(dir, 'events.jsonl'), jsonl(lines));
  if (config) writeFileSync(join(dir, 'config.yaml'), 'method: hbpo\n');
}
