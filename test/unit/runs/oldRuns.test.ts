// Runs written by earlier trainers keep opening: test/fixtures/runs/v1-tiny is a real run folder of
// event schema version 1 (reward settings only inside `config`, per-tier metrics only as
// `budget/<tier>/<name>` keys). The same run in version 2 (typed `reward`/`advantage`, `per_tier`)
// must read into the same model.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { modeKey } from '../../../common/mode';
import { parseEventLine } from '../../../extension/events';
import { tiersOf } from '../../../extension/panels/dashboardData';
import { readGroup, readRollout } from '../../../extension/panels/rolloutData';
import { loadRunModel } from '../../../extension/runs/runFile';
import { rewardSettingsOf } from '../../../extension/runs/runReward';

const V1_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures', 'runs', 'v1-tiny');
const V1 = join(V1_DIR, 'events.jsonl');
const tmp = mkdtempSync(join(tmpdir(), 'hbpo-old-runs-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** The v1 file rewritten as version 2: typed settings on run_start, per-tier metrics as per_tier. */
function asVersion2(text: string): string {
  return text.split('\n').filter((l) => l.trim()).map((l) => {
    const e = JSON.parse(l);
    e.v = 2;
    if (e.type === 'run_start') {
      const r = e.config.reward;
      e.reward = { name: r.name, variant: r.variant, alpha: r.alpha, beta: r.beta, max_response_tokens: e.max_response_tokens };
      e.advantage = { ...e.config.advantage };
    }
    if (e.type === 'step') {
      const perTier = new Map<string, Record<string, number | null>>();
      for (const [k, value] of Object.entries(e.metrics as Record<string, number | null>)) {
        const m = /^budget\/(\d+|natural)\/(.+)$/.exec(k);
        if (!m) continue;
        delete e.metrics[k];
        perTier.set(m[1], { ...perTier.get(m[1]), [m[2]]: value });
      }
      e.per_tier = [...perTier].map(([label, metrics]) => ({ tier: label === 'natural' ? null : Number(label), metrics }));
    }
    return `${JSON.stringify(e)}\n`;
  }).join('');
}

test('a version-1 run folder written by an earlier trainer opens whole', async () => {
  const model = await loadRunModel(V1_DIR);
  assert.deepEqual(model.errors, []);
  assert.equal(model.status(() => false), 'finished');
  assert.equal(model.step, 2);
  assert.deepEqual(model.tierModes().map(modeKey), ['tier:8', 'tier:16']);
  assert.deepEqual(tiersOf(model).map((t) => t.label), ['8', '16']);
  assert.equal(model.series('budget/8/mean_length').values.length, 2);
  assert.equal(model.series('loss').values.length, 2);
  assert.deepEqual(model.evalTable().map((e) => e.mode), ['natural', 'efficiency']);
  assert.deepEqual(rewardSettingsOf(model.info!), {
    reward: 'hbpo', variant: 'paper', alpha: 1 / 24, beta: 4, lMax: 24, tiers: [8, 16], estimator: 'hbpo',
  });
  const group = await readGroup(model, 1, 0);
  assert.deepEqual(group.rows.map((r) => [r.tier, r.sample]), [[8, 0], [8, 1], [16, 0], [16, 1]]);
  const last = group.rows[3];
  const e = await readRollout(model, { step: 1, queryIndex: 0, tier: last.tier, sample: last.sample });
  assert.deepEqual([e?.tier, e?.sample, e?.n_gen], [16, 1, last.nGen]);
});

test('the same run in version 2 reads into the same model', async () => {
  const v2 = join(tmp, 'events.jsonl');
  writeFileSync(v2, asVersion2(readFileSync(V1, 'utf8')));
  const [a, b] = [await loadRunModel(V1_DIR), await loadRunModel(tmp)];
  assert.deepEqual(b.errors, []);
  assert.deepEqual(b.metricKeys(), a.metricKeys());
  for (const key of a.metricKeys()) assert.deepEqual(b.series(key), a.series(key), key);
  assert.deepEqual(b.lastMetrics, a.lastMetrics);
  assert.deepEqual(b.tierModes(), a.tierModes());
  assert.deepEqual(rewardSettingsOf(b.info!), rewardSettingsOf(a.info!));
  // Version 2 requires the typed settings on run_start.
  const start = JSON.parse(readFileSync(v2, 'utf8').split('\n')[0]);
  delete start.reward;
  const refused = parseEventLine(JSON.stringify(start), 1);
  assert.equal(refused.ok, false);
  assert.match(!refused.ok ? refused.error : '', /reward/);
});
