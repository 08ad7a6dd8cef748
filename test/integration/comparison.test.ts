// A budget comparison end to end below the panel: the real inference worker (node-llama-cpp on
// stories260K), the real grader (`python -m hbpo grade` from the project's .venv), every column
// streaming, finishing, graded and scored.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Comparison } from '../../extension/compare/comparison';
import { TrainerGrader } from '../../extension/compare/grader';
import { InferenceClient } from '../../extension/inference/client';
import type { LoadedInfo } from '../../extension/inference/protocol';
import { summarize } from '../../webview/lib/compareView';
import type { ColumnState } from '../../webview/protocol/compare';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const MODEL = join(root, '..', 'shared', 'data', 'models', 'stories260K.gguf');
const PYTHON = join(root, '.venv', 'bin', 'python');

describe('budget comparison on stories260K', { skip: !existsSync(MODEL) && `no ${MODEL}` }, () => {
  let client: InferenceClient;
  let info: LoadedInfo;
  before(async () => {
    client = new InferenceClient({ workerPath: join(root, 'extension', 'inference', 'worker.ts') });
    info = await client.load({ modelPath: MODEL, gpu: false, sequences: 3 });
  });
  after(() => client.dispose());

  test('every column streams, finishes, is graded by the trainer and scored', { skip: !existsSync(PYTHON) && 'no .venv (npm run setup)' }, async () => {
    const grader = new TrainerGrader(PYTHON, root);
    const chunks = new Map<string, number>();
    const updates: ColumnState[] = [];
    const settings = { tiers: [16, 32], lMax: 40, modes: ['tier:16', 'tier:32', 'natural', 'efficiency'], samples: 2, temperature: 0.8, seed: 3 };
    const c = new Comparison({ problem: 'Lily has 3 cats. How many cats?', groundTruth: '3', source: 'test' }, settings, client, info, grader, {
      chunk: (key) => chunks.set(key, (chunks.get(key) ?? 0) + 1),
      column: (col) => updates.push(col),
    });
    await c.run();
    grader.dispose();
    assert.equal(c.columns.length, 8);
    for (const col of c.columns) {
      assert.equal(col.status, 'done', `${col.key}: ${col.error ?? ''}`);
      assert.ok((chunks.get(col.key) ?? 0) > 1, `${col.key} streamed in several chunks`);
      assert.equal(typeof col.correct, 'boolean', `${col.key} graded`);
      assert.equal(col.error, undefined);
      assert.ok(col.tokens > 0 && col.tokens <= 41);
      assert.ok(col.reward && Number.isFinite(col.reward.reward));
      if (col.stopReason === 'maxTokens') assert.equal(col.reward!.case, 'truncated');
      // The marks end where the text ends, at the tokens llama.cpp counted.
      const marks = c.marks.get(col.key)!;
      assert.equal(marks[marks.length - 1]![1], col.text.length);
      assert.ok(c.prompts.get(col.key)!.includes('Lily has 3 cats.'));
      assert.ok(col.promptTokens! > 5, `${col.key}: prompt of ${col.promptTokens} tokens`);
    }
    // Each column: waiting -> running -> done, reported in that order.
    for (const col of c.columns) {
      assert.deepEqual(updates.filter((u) => u.key === col.key).map((u) => u.status), ['running', 'done']);
    }
    // Different seeds per sample at T > 0; prompts differ by mode.
    assert.notEqual(c.prompts.get('tier:16#0'), c.prompts.get('tier:32#0'));
    assert.ok(c.prompts.get('tier:16#0')!.endsWith('I will answer the question within 16 tokens.\n'));
    const summary = summarize(c.columns, settings.modes);
    assert.deepEqual(summary.map((s) => s.n), [2, 2, 2, 2]);
    const exported = JSON.parse(JSON.stringify(c.toJSON(MODEL))) as { columns: { token_marks: unknown[] }[]; summary: unknown[] };
    assert.equal(exported.columns.length, 8);
    assert.ok(exported.columns.every((x) => x.token_marks.length > 1));
  });

  test('stop ends every column (stopped or already done), none left running', async () => {
    const settings = { tiers: [16], lMax: 400, modes: ['tier:16', 'natural'], samples: 2, temperature: 0.8, seed: 1 };
    const c = new Comparison({ problem: 'Once upon a time', groundTruth: null, source: 'test' }, settings, client, info, undefined, {
      chunk: () => { c.stop(); }, column: () => undefined,
    });
    await c.run();
    assert.ok(c.columns.every((col) => col.status === 'stopped' || col.status === 'done'), c.columns.map((x) => x.status).join());
    assert.ok(c.columns.some((col) => col.status === 'stopped'));
  });
});
