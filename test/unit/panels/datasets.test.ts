import { modeOfTier, NATURAL } from '../../../common/mode';
import { tierInfoOf } from '../../../common/protocol/dashboard';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BUDGET_DASH, histogramDatasets, lengthDatasets, metricDatasets, rewardCurveDatasets, tierLineDatasets } from '../../../webview/lib/datasets';
import { tierLengthSpecs } from '../../../webview/lib/series';

const colors = ['#3794ff', '#d18616'];
const colorOf = (i: number) => colors[i];

test('length chart: per tier a band (upper, then lower filled to it), the mean, a dashed budget line', () => {
  const specs = tierLengthSpecs({
    'budget/32/mean_length': { steps: [1, 2], values: [20, 22] },
    'budget/32/length_std': { steps: [1, 2], values: [3, 4] },
    'budget/natural/mean_length': { steps: [1, 2], values: [90, 80] },
  }, [tierInfoOf(modeOfTier(32)), tierInfoOf(NATURAL)]);
  const ds = lengthDatasets(specs, colorOf);
  assert.equal(ds.length, 4 + 3, 'natural has no budget line');
  const [upper, lower, mean, budget] = ds;
  assert.equal(upper.fill, false);
  assert.equal(lower.fill, '-1', 'the lower edge fills up to the dataset before it: the upper edge');
  assert.equal(lower.backgroundColor, 'rgba(55, 148, 255, 0.18)');
  assert.deepEqual(upper.data.map((p) => p.y), [23, 26]);
  assert.deepEqual(lower.data.map((p) => p.y), [17, 18]);
  assert.equal(mean.borderColor, '#3794ff');
  assert.deepEqual(budget.borderDash, BUDGET_DASH);
  assert.deepEqual(budget.data, [{ x: 1, y: 32 }, { x: 2, y: 32 }]);
  assert.deepEqual(ds.filter((d) => d.inLegend).map((d) => d.label), ['32 tokens', 'natural'], 'one legend entry per tier');
  assert.deepEqual(ds.slice(0, 4).map((d) => d.group), ['32', '32', '32', '32'], 'a legend click hides the whole tier');
  assert.equal(ds[6].borderColor, '#d18616');
});

test('tier and metric lines', () => {
  const t = tierLineDatasets([{ tier: tierInfoOf(modeOfTier(64)), points: [{ x: 1, y: 0.5 }] }], colorOf);
  assert.equal(t[0].label, '64 tokens');
  assert.equal(t[0].pointRadius, 2, 'a short series shows its points');
  const long = Array.from({ length: 100 }, (_, i) => ({ x: i, y: i }));
  const m = metricDatasets([{ label: 'clip', points: long }, { label: 'low', points: long, dashed: true }], colorOf);
  assert.equal(m[0].pointRadius, 0);
  assert.deepEqual(m[1].borderDash, BUDGET_DASH);
  assert.deepEqual(m[0].borderDash, []);
});

test('histogram: a filled stepped outline and a dashed budget line up to the top', () => {
  const [hist, budget] = histogramDatasets([{ x: 0, y: 0 }, { x: 0, y: 3 }, { x: 10, y: 0 }], 32, 3, '#abc', '32 tokens');
  assert.equal(hist.stepped, 'before');
  assert.equal(hist.fill, 'origin');
  assert.deepEqual(budget.data, [{ x: 32, y: 0 }, { x: 32, y: 3 }]);
  assert.equal(histogramDatasets([], null, 1, '#abc', 'natural').length, 1);
});

test('reward curves: a curve and a budget mark per tier, the zero line, crossing marks', () => {
  const ds = rewardCurveDatasets(
    [{ tier: 32, points: [{ x: 0, y: 1 }] }, { tier: 64, points: [{ x: 0, y: 0.9 }] }],
    [{ n: 40, reward: 0.95, label: '32/64' }], 128, 4, colorOf, '#888');
  assert.deepEqual(ds.map((d) => d.label), ['b = 32', 'budget 32', 'b = 64', 'budget 64', 'wrong or truncated (R = 0)', 'crossings']);
  assert.deepEqual(ds[4].data, [{ x: 0, y: 0 }, { x: 128, y: 0 }]);
  assert.deepEqual(ds[5].data, [{ x: 40, y: 0.95 }]);
  assert.equal(ds[5].showLine, false);
  assert.equal(rewardCurveDatasets([], [], 128, 4, colorOf, '#888').length, 1, 'no marks, no crossing dataset');
});
