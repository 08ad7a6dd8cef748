// A budget comparison end to end below the panel: the real inference worker (node-llama-cpp on the
// project's own model, the testbed's base model exported to GGUF by test/fixtures/testbedGguf.mjs),
// the real grader (`python -m hbpo grade` from the project's .venv), every column streaming,
// finishing, graded and scored. Needs the .venv (npm run setup); the first run on a machine builds
// the testbed model (minutes, cached).
import assert from 'node:assert/strict';
import { basename, dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Comparison } from '../../extension/compare/comparison';
import { TrainerGrader } from '../../extension/compare/grader';
import { InferenceClient } from '../../extension/inference/client';
import type { LoadedInfo } from '../../extension/inference/protocol';
import { summarize } from '../../common/compareView';
import type { ColumnState } from '../../common/protocol/compare';
import { testbedGguf } from '../fixtures/testbedGguf.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const PYTHON = join(root, '.venv', 'bin', 'python');
// A testbed problem (trainer/hbpo/testbed/problems.py): easy, two steps, answer 36.
const PROBLEM = 'Let a = 7 + 5, b = a * 3. What is b?';

describe('budget comparison on the testbed model', () => {
  let MODEL = '';
  let client: InferenceClient | undefined;
  let info: LoadedInfo;
  before(async () => {
    MODEL = testbedGguf({ python: PYTHON });
    client = new InferenceClient({ workerPath: join(root, 'extension', 'inference', 'worker.ts') });
    info = await client.load({ modelPath: MODEL, gpu: false, sequences: 3 });
    assert.ok(info.chatTemplate, 'the testbed GGUF carries its chat template');
  });
  after(() => client?.dispose());

  test('every column streams, finishes, is graded by the trainer and scored', async () => {
    const grader = new TrainerGrader(PYTHON, root);
    const chunks = new Map<string, number>();
    const updates: ColumnState[] = [];
    // The built-in default's L_max (256; testbed traces end by 248 tokens) and two of its tiers.
    const settings = { tiers: [32, 128], lMax: 256, modes: ['tier:32', 'tier:128', 'natural', 'efficiency'], samples: 2, temperature: 0.8, seed: 3 };
    const c = new Comparison({ problem: PROBLEM, groundTruth: '36', source: 'test' }, settings, client!, info, grader, {
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
      assert.ok(col.tokens > 0 && col.tokens <= settings.lMax + 1, `${col.key}: ${col.tokens} tokens`);
      assert.ok(col.reward && Number.isFinite(col.reward.reward));
      if (col.stopReason === 'maxTokens') assert.equal(col.reward!.case, 'truncated');
      // The marks end where the text ends, at the tokens llama.cpp counted.
      const marks = c.marks.get(col.key)!;
      assert.equal(marks[marks.length - 1]![1], col.text.length);
      // The chat template's turn, then the problem, as the trainer builds it.
      assert.ok(c.prompts.get(col.key)!.includes(`<|user|>\n${PROBLEM}\n`), c.prompts.get(col.key));
      assert.ok(col.promptTokens! > 5, `${col.key}: prompt of ${col.promptTokens} tokens`);
    }
    // Each column: waiting -> running -> done, reported in that order.
    for (const col of c.columns) {
      assert.deepEqual(updates.filter((u) => u.key === col.key).map((u) => u.status), ['running', 'done']);
    }
    // Different seeds per sample at T > 0; prompts differ by mode.
    assert.notEqual(c.prompts.get('tier:32#0'), c.prompts.get('tier:128#0'));
    assert.ok(c.prompts.get('tier:32#0')!.endsWith('<think>\nI will answer the question within 32 tokens.\n'));
    const summary = summarize(c.columns, settings.modes);
    assert.deepEqual(summary.map((s) => s.n), [2, 2, 2, 2]);
    const exported = JSON.parse(JSON.stringify(c.toJSON(MODEL))) as { columns: { token_marks: unknown[] }[]; summary: unknown[] };
    assert.equal(exported.columns.length, 8);
    assert.ok(exported.columns.every((x) => x.token_marks.length > 1));
    console.log(`# ${basename(MODEL)}: ${c.columns.map((col) => `${col.key} ${col.tokens} ${col.stopReason} ${col.answer ?? '-'} ` +
      `${col.correct ? 'correct' : 'wrong'}`).join('; ')}`);
  });

  test('stop ends every column (stopped or already done), none left running', async () => {
    const settings = { tiers: [32], lMax: 256, modes: ['tier:32', 'natural'], samples: 2, temperature: 0.8, seed: 1 };
    const c = new Comparison({ problem: PROBLEM, groundTruth: null, source: 'test' }, settings, client!, info, undefined, {
      chunk: () => { c.stop(); }, column: () => undefined,
    });
    await c.run();
    assert.ok(c.columns.every((col) => col.status === 'stopped' || col.status === 'done'), c.columns.map((x) => x.status).join());
    assert.ok(c.columns.some((col) => col.status === 'stopped'));
  });
});
