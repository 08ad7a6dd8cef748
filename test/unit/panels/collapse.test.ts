import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  collapseAt, collapseSpans, DEFAULT_COLLAPSE_RULE, describeCollapse, isCollapsedPoint, ongoingCollapse,
} from '../../../webview/lib/collapse';
import type { Series } from '../../../extension/runs/runModel';

const s = (values: (number | null)[], first = 1): Series => ({ steps: values.map((_, i) => first + i), values });

test('a point collapses below 2 tokens or below 5 % of the mean', () => {
  assert.equal(isCollapsedPoint(10, 1.9), true, 'absolute floor');
  assert.equal(isCollapsedPoint(10, 2), false);
  assert.equal(isCollapsedPoint(1000, 49), true, 'relative floor');
  assert.equal(isCollapsedPoint(1000, 50), false);
  assert.equal(isCollapsedPoint(0, 0), true, 'every rollout empty');
});

test('only runs of at least minSteps consecutive collapsed steps count', () => {
  const mean = s([500, 500, 500, 500, 500, 500, 500, 500]);
  const std = s([100, 10, 10, 100, 10, 10, 10, 10]); // 2 collapsed, a break, then 4
  const spans = collapseSpans(mean, std);
  assert.equal(DEFAULT_COLLAPSE_RULE.minSteps, 3);
  assert.deepEqual(spans, [{ from: 5, to: 8, steps: 4, mean: 500, std: 10 }]);
  assert.equal(collapseAt(spans, 6)?.from, 5);
  assert.equal(collapseAt(spans, 3), undefined, 'the two-step dip is not a collapse');
  assert.equal(ongoingCollapse(spans, mean)?.to, 8);
});

test('a null or missing std ends a run; a recovered tier is not ongoing', () => {
  const mean = s([100, 100, 100, 100, 100, 100, 100]);
  const std = s([1, 1, null, 1, 1, 1, 30]);
  const spans = collapseSpans(mean, std);
  assert.deepEqual(spans.map((x) => [x.from, x.to]), [[4, 6]]);
  assert.equal(ongoingCollapse(spans, mean), undefined, 'step 7 recovered');
  assert.deepEqual(collapseSpans(s([100, 100, 100]), s([1, 1], 2)), [], 'step 1 has no std');
});

test('the rule is a parameter', () => {
  const mean = s([100, 100]);
  const std = s([4, 4]);
  assert.deepEqual(collapseSpans(mean, std), []);
  assert.equal(collapseSpans(mean, std, { minStd: 5, minRelStd: 0, minSteps: 2 }).length, 1);
});

test('describeCollapse names the tier, the steps and the spread', () => {
  const text = describeCollapse('512', { from: 5, to: 8, steps: 4, mean: 500, std: 10 }, true);
  assert.match(text, /Tier 512/);
  assert.match(text, /last 4 steps \(since step 5\)/);
  assert.match(text, /std 10\.0 tokens \(2\.0 % of the mean 500\)/);
});
