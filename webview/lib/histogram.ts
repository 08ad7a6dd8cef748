// Length histograms: bin n_gen (tokens) into equal-width bins with "nice" widths (1, 2, 5 x 10^k),
// shared by every tier of a step so their shapes compare at a glance.
import type { Point } from './series';

/** Smallest width of the form {1, 2, 5} x 10^k (k >= 0: tokens are integers) giving at most `target` bins. */
export function niceBinWidth(range: number, target: number): number {
  if (!(range > 0) || !(target >= 1)) return 1;
  const raw = range / target;
  let scale = 1;
  while (scale * 10 <= raw) scale *= 10;
  for (const m of [1, 2, 5, 10]) if (m * scale >= raw) return m * scale;
  return 10 * scale;
}

/**
 * Edges `0, w, 2w, ...` up to the first edge above `max` (so `max` falls inside the last bin).
 * @param max largest value to cover, tokens
 * @param target about how many bins
 */
export function binEdges(max: number, target = 30): number[] {
  const top = Math.max(1, Math.ceil(max));
  const w = niceBinWidth(top, target);
  const edges: number[] = [];
  for (let e = 0; e <= top; e += w) edges.push(e);
  edges.push(edges[edges.length - 1] + w);
  return edges;
}

/**
 * Counts per bin: bin i holds edges[i] <= v < edges[i+1]. Values below the first edge go to the
 * first bin and values at or above the last edge to the last bin, so nothing is silently dropped.
 */
export function histogram(values: readonly number[], edges: readonly number[]): number[] {
  const bins = edges.length - 1;
  if (bins < 1) throw new Error(`a histogram needs at least two edges, got ${edges.length}`);
  const counts = new Array<number>(bins).fill(0);
  for (const v of values) {
    let lo = 0;
    let hi = bins - 1;
    while (lo < hi) {
      // binary search for the last edge <= v
      const mid = (lo + hi + 1) >> 1;
      if (edges[mid] <= v) lo = mid;
      else hi = mid - 1;
    }
    counts[lo]++;
  }
  return counts;
}

/** Outline of the histogram for a line chart drawn with `stepped: 'before'` (each y held to the next x): up, across each bin, down. */
export function histogramOutline(edges: readonly number[], counts: readonly number[]): Point[] {
  if (counts.length === 0) return [];
  const pts: Point[] = [{ x: edges[0], y: 0 }];
  counts.forEach((c, i) => pts.push({ x: edges[i], y: c }));
  pts.push({ x: edges[counts.length], y: 0 });
  return pts;
}

/** Count, mean and population std (as the trainer's `length_std`), tokens; null mean/std when empty. */
export function lengthStats(values: readonly number[]): { n: number; mean: number | null; std: number | null } {
  const n = values.length;
  if (n === 0) return { n, mean: null, std: null };
  let sum = 0;
  for (const v of values) sum += v;
  const mean = sum / n;
  let ss = 0;
  for (const v of values) ss += (v - mean) ** 2;
  return { n, mean, std: Math.sqrt(ss / n) };
}
