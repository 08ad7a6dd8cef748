import assert from 'node:assert/strict';
import { test } from 'node:test';
import { binEdges, histogram, histogramOutline, lengthStats, niceBinWidth } from '../../../webview/lib/histogram';

test('nice bin widths are 1, 2 or 5 times a power of ten, never below one token', () => {
  assert.equal(niceBinWidth(4096, 30), 200); // 136.5 -> 200
  assert.equal(niceBinWidth(300, 30), 10);
  assert.equal(niceBinWidth(301, 30), 20);
  assert.equal(niceBinWidth(12, 30), 1);
  assert.equal(niceBinWidth(0, 30), 1);
});

test('edges start at 0 and the maximum falls inside the last bin', () => {
  assert.deepEqual(binEdges(100, 10), [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110]);
  const e = binEdges(2560, 30);
  assert.equal(e[0], 0);
  assert.ok(e[e.length - 2] <= 2560 && 2560 < e[e.length - 1]);
});

test('values go to [lo, hi) bins; out-of-range values are kept at the ends', () => {
  const edges = [0, 10, 20, 30];
  assert.deepEqual(histogram([0, 9, 10, 19.5, 20, 29, 30, 500, -4], edges), [3, 2, 4]);
  assert.deepEqual(histogram([], edges), [0, 0, 0]);
  assert.throws(() => histogram([1], [0]), /two edges/);
  const values = Array.from({ length: 1000 }, (_, i) => (i * 37) % 997);
  assert.equal(histogram(values, binEdges(997)).reduce((a, b) => a + b, 0), 1000, 'nothing lost');
});

test('outline goes up at the first edge, across each bin, down at the last edge', () => {
  assert.deepEqual(histogramOutline([0, 10, 20], [3, 1]), [
    { x: 0, y: 0 }, { x: 0, y: 3 }, { x: 10, y: 1 }, { x: 20, y: 0 },
  ]);
});

test('lengthStats uses the population std, like the trainer', () => {
  assert.deepEqual(lengthStats([2, 4, 4, 4, 5, 5, 7, 9]), { n: 8, mean: 5, std: 2 });
  assert.deepEqual(lengthStats([]), { n: 0, mean: null, std: null });
});
