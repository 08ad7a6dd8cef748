import { modeOfTier, NATURAL } from '../../../common/mode';
import { tierInfoOf } from '../../../common/protocol/dashboard';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { appendSeries, hline, spreadBand, stepRange, tierLengthSpecs, tierMetricPoints, toPoints } from '../../../webview/lib/series';
import type { Series } from '../../../extension/runs/runModel';

test('toPoints keeps nulls as gaps', () => {
  assert.deepEqual(toPoints({ steps: [1, 2, 3], values: [0.5, null, 2] }), [{ x: 1, y: 0.5 }, { x: 2, y: null }, { x: 3, y: 2 }]);
});

test('spreadBand matches steps by value, leaves gaps, clamps the lower edge at 0', () => {
  const mean: Series = { steps: [1, 2, 3, 4], values: [10, 20, null, 5] };
  const std: Series = { steps: [2, 3, 4], values: [3, 1, 8] }; // no std at step 1
  const { upper, lower } = spreadBand(mean, std);
  assert.deepEqual(upper, [{ x: 1, y: null }, { x: 2, y: 23 }, { x: 3, y: null }, { x: 4, y: 13 }]);
  assert.deepEqual(lower, [{ x: 1, y: null }, { x: 2, y: 17 }, { x: 3, y: null }, { x: 4, y: 0 }]);
});

test('hline and stepRange', () => {
  assert.deepEqual(hline(512, 1, 9), [{ x: 1, y: 512 }, { x: 9, y: 512 }]);
  assert.deepEqual(hline(512, 4, 4), [{ x: 4, y: 512 }]);
  assert.deepEqual(stepRange([{ steps: [], values: [] }, { steps: [3, 8], values: [1, 1] }, { steps: [2], values: [0] }]), [2, 8]);
  assert.equal(stepRange([{ steps: [], values: [] }]), null);
});

test('tierLengthSpecs: a band and a budget line per tier that has a mean length', () => {
  const all: Record<string, Series> = {
    'budget/512/mean_length': { steps: [1, 2], values: [400, 450] },
    'budget/512/length_std': { steps: [1, 2], values: [50, 40] },
    'budget/natural/mean_length': { steps: [2], values: [900] },
  };
  const specs = tierLengthSpecs(all, [
    tierInfoOf(modeOfTier(512)), tierInfoOf(modeOfTier(1024)), tierInfoOf(NATURAL),
  ]);
  assert.deepEqual(specs.map((s) => s.tier.label), ['512', 'natural'], 'tier 1024 logged nothing');
  assert.deepEqual(specs[0].budget, [{ x: 1, y: 512 }, { x: 2, y: 512 }]);
  assert.deepEqual(specs[0].upper.map((p) => p.y), [450, 490]);
  assert.deepEqual(specs[1].budget, [], 'natural mode has no budget line');
  assert.deepEqual(specs[1].upper, [{ x: 2, y: null }], 'no std: no band');
});

test('tierMetricPoints reads budget/<label>/<metric>', () => {
  const lines = tierMetricPoints({ 'budget/64/advantage/intra': { steps: [5], values: [-0.3] } },
    [tierInfoOf(modeOfTier(32)), tierInfoOf(modeOfTier(64))], 'advantage/intra');
  assert.deepEqual(lines, [{ tier: tierInfoOf(modeOfTier(64)), points: [{ x: 5, y: -0.3 }] }]);
});

test('appendSeries adds only later steps, so a repeated delta changes nothing', () => {
  const target: Record<string, Series> = { loss: { steps: [1, 2], values: [1, 0.5] } };
  const delta = { loss: { steps: [2, 3], values: [9, 0.25] }, entropy: { steps: [3], values: [1.1] } };
  assert.deepEqual(appendSeries(target, delta).sort(), ['entropy', 'loss']);
  assert.deepEqual(target.loss, { steps: [1, 2, 3], values: [1, 0.5, 0.25] }, 'step 2 is not rewritten');
  assert.deepEqual(appendSeries(target, delta), []);
  assert.deepEqual(target.entropy, { steps: [3], values: [1.1] });
});
