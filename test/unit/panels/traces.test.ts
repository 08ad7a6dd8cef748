import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readRollout } from '../../../extension/panels/rolloutData';
import { formatTrace, oneLine } from '../../../extension/traces/traceText';
import { parseTraceUri, traceUriParts } from '../../../extension/traces/traceUri';
import { modelOf, PAYLOAD, runStart, stepLines } from './fixtures';

test('trace URIs round-trip, folder and label with odd characters included', () => {
  const ref = { runDir: '/home/u/runs/a b&c?=/x', label: 'my/run\nlabel', step: 12, queryIndex: 3, tier: 128, sample: 15 };
  const parts = traceUriParts(ref);
  assert.equal(parts.path, '/my_run_label/step12-query3-tier128-sample15.txt');
  assert.deepEqual(parseTraceUri(parts.path, parts.query), { ...ref, label: 'my_run_label' });
  const natural = traceUriParts({ ...ref, tier: null });
  assert.equal(natural.path, '/my_run_label/step12-query3-natural-sample15.txt');
  assert.deepEqual(parseTraceUri(natural.path, natural.query), { ...ref, tier: null, label: 'my_run_label' });
  assert.equal(parseTraceUri('/x/step1-query2.txt', parts.query), undefined);
  assert.equal(parseTraceUri('/x/step1-query2-sample3.txt', parts.query), undefined, 'no tier: not a rollout address');
  assert.equal(parseTraceUri('/x/step1-query2-tier0-sample3.txt', parts.query), undefined, 'tiers are >= 1');
  assert.equal(parseTraceUri(parts.path, ''), undefined, 'no run folder');
  assert.equal(parseTraceUri('/x/step99999999999999999999-query1-sample1.txt', parts.query), undefined);
});

test('trace text: header, problem, prompt, then the raw trace exactly as written', async () => {
  const { model } = modelOf([runStart(), ...stepLines(1)]);
  const e = (await readRollout(model, { step: 1, queryIndex: 1, tier: 32, sample: 1 }))!;
  assert.equal(e.text, PAYLOAD, 'the fixture rollout carries the payload');
  const text = formatTrace(e, 'run <b>1</b>');
  const lines = text.split('\n');
  assert.equal(lines[0], 'HBPO rollout · run <b>1</b> · read-only');
  assert.match(lines[1], /^step 1 · query 1 \(q-1-1, hard\) · sample 1$/);
  assert.match(lines[2], new RegExp(`^tier: 32 tokens · tokens: ${e.n_gen}`));
  assert.match(lines[3], /^correct: (yes · answer: 4|no · answer: 5 \(tier 32, sample 1\)) · ground truth: 4$/);
  assert.match(lines[4], /^reward: \S+ \(case \w+\) · f1 1\.8000 · f2 1\.7000 · cos 1\.9000 · penalty 0\.010000$/);
  assert.match(lines[5], /^advantage: intra -0\.2000 · inter \S+ · total \S+$/);
  assert.ok(text.includes(`\nproblem\n`) && text.includes(`Problem ${PAYLOAD}\n`));
  assert.ok(text.includes('I will answer the question within 32 tokens.'));
  assert.ok(text.endsWith(`${PAYLOAD}\n`), 'the trace, verbatim, last');
});

test('header values are kept on one line', () => {
  assert.equal(oneLine('a\nb\r\tc\u2028d'), 'a b c d');
  assert.equal(oneLine('x'.repeat(300), 10), `${'x'.repeat(9)}…`);
});
