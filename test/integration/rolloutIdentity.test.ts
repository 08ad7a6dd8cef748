// A rollout is (step, query, tier, sample): the trainer numbers samples within each (query, tier),
// so a run of the built-in default's shape (8 rollouts over 4 tiers) has samples 0 and 1 in every
// tier. A REAL trainer run of that shape (the tiny model stands in for the testbed model, one step),
// then every rollout opened through the inspector's data path and through its trace address must be
// that rollout's own event line: text, answer, tier and reward; and the run opened through the
// trainer's line map, or through its persisted index, is the run a full scan shows.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { RolloutEvent } from '../../extension/events';
import { readGroup, readRollout } from '../../extension/panels/rolloutData';
import { loadRunFile } from '../../extension/runs';
import { RunModel } from '../../extension/runs/runModel';
import { formatTraceDocument } from '../../extension/traces/traceText';
import { parseTraceUri, traceUriParts } from '../../extension/traces/traceUri';
import { modelView } from '../unit/runs/modelView';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const python = join(root, '.venv', process.platform === 'win32' ? 'Scripts/python.exe' : 'bin/python');
const skip = existsSync(python) ? false : `no trainer venv at ${python}: run \`npm run setup\``;
const tmp = mkdtempSync(join(tmpdir(), 'hbpo-identity-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

test('every rollout of the built-in default shape opens as itself, by inspector and by trace address', { skip, timeout: 600_000 }, async () => {
  // The built-in default (trainer/hbpo/configs/default.yaml: tiers 32/64/128/160, 8 rollouts a query),
  // on the tiny model for one step of 2 queries.
  const overrides = ['model.path=tiny:llama', 'run.device=cpu', 'run.threads=1', 'train.steps=1', 'train.queries_per_step=2',
    'eval.every=0', `run.dir=${join(tmp, 'runs')}`, 'run.name=identity', 'model.tiny.vocab_size=320'];
  const run = spawnSync(python, ['-m', 'hbpo', 'train', ...overrides.flatMap((o) => ['--set', o])], { cwd: root, encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });
  assert.equal(run.status, 0, run.stderr.slice(-3000));
  const runDir = join(tmp, 'runs', 'identity');
  assert.deepEqual(readdirSync(join(tmp, 'runs')), ['identity']);
  const eventsPath = join(runDir, 'events.jsonl');
  const lines = readFileSync(eventsPath, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
  const rollouts = lines.filter((e): e is RolloutEvent => e.type === 'rollout');
  assert.equal(rollouts.length, 16, '2 queries x 8 rollouts');
  for (const q of [0, 1]) {
    const perTier = [32, 64, 128, 160].map((t) => rollouts.filter((e) => e.query_index === q && e.tier === t).map((e) => e.sample));
    assert.deepEqual(perTier, [[0, 1], [0, 1], [0, 1], [0, 1]], 'samples repeat in every tier: the case that needs the tier');
  }

  const model = new RunModel(eventsPath, (await loadRunFile(eventsPath)).state);
  let opened = 0;
  for (const q of [0, 1]) {
    const group = await readGroup(model, 1, q);
    assert.deepEqual(group.errors, []);
    assert.equal(group.rows.length, 8);
    for (const row of group.rows) {
      const line = rollouts.find((e) => e.query_index === q && e.tier === row.tier && e.sample === row.sample)!;
      const where = `query ${q}, tier ${row.tier}, sample ${row.sample}`;
      assert.deepEqual([row.answer, row.nGen, row.reward, row.correct, row.total],
        [line.answer, line.n_gen, line.reward.reward, line.correct, line.advantage.total], where);

      const key = { step: 1, queryIndex: q, tier: row.tier, sample: row.sample };
      const byInspector = await readRollout(model, key);
      assert.deepEqual(byInspector, line, `inspector: ${where}`);

      const parts = traceUriParts({ runDir, label: 'identity', ...key });
      const ref = parseTraceUri(parts.path, parts.query)!;
      const byAddress = await readRollout(model, ref);
      assert.deepEqual(byAddress, line, `trace address ${parts.path}`);
      const doc = formatTraceDocument(byAddress!, 'identity').content;
      assert.ok(doc.includes(`tier: ${row.tier} tokens`), `the trace of ${where} names its tier`);
      assert.ok(doc.endsWith(`${line.text}\n`), `the trace of ${where} is its own text`);
      opened++;
    }
  }
  assert.equal(opened, 16);

  // The same run opened through the trainer's line map (.events.lines), and through the persisted
  // index (.events.index), shows what a full scan shows, and its rollouts open as themselves.
  const scan = await loadRunFile(eventsPath, { index: false, lineMap: false, worker: 'never' });
  const lineCount = readFileSync(eventsPath, 'utf8').split('\n').filter(Boolean).length;
  const scanned = new RunModel(eventsPath, scan.state);
  for (const worker of ['never', 'always'] as const) {
    const mapped = await loadRunFile(eventsPath, { index: false, worker });
    assert.deepEqual(mapped.lineMap, { used: true, records: lineCount }, 'the trainer mapped every line');
    assert.deepEqual(modelView(mapped), modelView(scan));
    const through = new RunModel(eventsPath, mapped.state);
    for (const q of [0, 1]) assert.deepEqual(await readGroup(through, 1, q), await readGroup(scanned, 1, q), `group ${q} through the map`);
  }
  const first = await loadRunFile(eventsPath, { indexMinBytes: 0, lineMap: false });
  assert.equal(first.index?.written, true, JSON.stringify(first.index));
  const second = await loadRunFile(eventsPath, { indexMinBytes: 0, worker: 'always', lineMap: false });
  assert.equal(second.index?.used, true, JSON.stringify(second.index));
  assert.deepEqual(modelView(second), modelView(scan));
  const indexed = new RunModel(eventsPath, second.state);
  for (const q of [0, 1]) assert.deepEqual(await readGroup(indexed, 1, q), await readGroup(model, 1, q), `group ${q} through the index`);
});
