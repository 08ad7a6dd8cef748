// Chart specs -> chart.js datasets. Pure (chart.js is only a type here), so what each chart draws
// is unit-tested: band order and fill target, dashed budget lines, legend grouping, colours.
import type { ChartDataset } from 'chart.js';
import { withAlpha } from './color';
import type { Point, TierLengthSpec } from './series';
import type { TierInfo } from '../../common/protocol/dashboard';

/** A line dataset plus the two flags the legend reads (chart.js keeps unknown keys as they are). */
export type LineDataset = ChartDataset<'line', Point[]> & {
  /** Datasets with the same group show and hide together from one legend entry. */
  group?: string;
  /** Listed in the legend (the tier's main line only, not its band or budget line). */
  inLegend?: boolean;
};

export const BAND_ALPHA = 0.18;
export const BUDGET_DASH = [6, 4];

export function tierTitle(tier: TierInfo): string {
  return tier.budget === null ? tier.label : `${tier.label} tokens`;
}

/** Small series get visible points; long ones only a line. */
function pointRadius(points: readonly Point[]): number {
  return points.length <= 30 ? 2 : 0;
}

/**
 * Per tier, in this order: band upper edge, band lower edge (filled to the upper edge: `fill: '-1'`),
 * mean line, dashed budget line.
 */
export function lengthDatasets(specs: readonly TierLengthSpec[], colorOf: (i: number) => string): LineDataset[] {
  const out: LineDataset[] = [];
  specs.forEach((spec, i) => {
    const color = colorOf(i);
    const group = spec.tier.label;
    const edge = { borderWidth: 0, pointRadius: 0, pointHitRadius: 0, borderColor: 'transparent', group };
    out.push({ ...edge, label: `${tierTitle(spec.tier)} + std`, data: spec.upper, fill: false });
    out.push({ ...edge, label: `${tierTitle(spec.tier)} − std`, data: spec.lower, fill: '-1', backgroundColor: withAlpha(color, BAND_ALPHA) });
    out.push({
      label: tierTitle(spec.tier), data: spec.mean, borderColor: color, backgroundColor: color, borderWidth: 2,
      pointRadius: pointRadius(spec.mean), fill: false, group, inLegend: true,
    });
    if (spec.budget.length > 0) {
      out.push({
        label: `budget ${spec.tier.label}`, data: spec.budget, borderColor: color, borderWidth: 1, borderDash: BUDGET_DASH,
        pointRadius: 0, pointHitRadius: 0, fill: false, group,
      });
    }
  });
  return out;
}

/** One line per tier. */
export function tierLineDatasets(
  lines: readonly { tier: TierInfo; points: Point[] }[], colorOf: (i: number) => string,
): LineDataset[] {
  return lines.map(({ tier, points }, i) => ({
    label: tierTitle(tier), data: points, borderColor: colorOf(i), backgroundColor: colorOf(i), borderWidth: 2,
    pointRadius: pointRadius(points), fill: false, group: tier.label, inLegend: true,
  }));
}

/** One line per named global metric (loss, clip fraction...). */
export function metricDatasets(
  lines: readonly { label: string; points: Point[]; dashed?: boolean }[], colorOf: (i: number) => string,
): LineDataset[] {
  return lines.map(({ label, points, dashed }, i) => ({
    label, data: points, borderColor: colorOf(i), backgroundColor: colorOf(i), borderWidth: dashed ? 1 : 2,
    borderDash: dashed ? BUDGET_DASH : [], pointRadius: pointRadius(points), fill: false, group: label, inLegend: true,
  }));
}

/** A tier's length histogram (outline, filled) and a dashed vertical line at its budget up to `top`. */
export function histogramDatasets(
  outline: Point[], budget: number | null, top: number, color: string, label: string,
): LineDataset[] {
  const out: LineDataset[] = [{
    label, data: outline, stepped: 'before', borderColor: color, backgroundColor: withAlpha(color, 0.35),
    borderWidth: 1, pointRadius: 0, fill: 'origin', group: label, inLegend: true,
  }];
  if (budget !== null) {
    out.push({
      label: `budget ${budget}`, data: [{ x: budget, y: 0 }, { x: budget, y: top }], borderColor: color,
      borderWidth: 1.5, borderDash: BUDGET_DASH, pointRadius: 0, pointHitRadius: 0, fill: false, group: label,
    });
  }
  return out;
}

/**
 * The reward explorer's chart: per tier its correct-answer curve (thinned for drawing) and a faint
 * dashed line at its budget; one dashed zero line for wrong or truncated answers; crossing marks.
 */
export function rewardCurveDatasets(
  curves: readonly { tier: number; points: Point[] }[],
  marks: readonly { n: number; reward: number; label: string }[],
  lMax: number, yTop: number, colorOf: (i: number) => string, muted: string,
): LineDataset[] {
  const out: LineDataset[] = [];
  curves.forEach(({ tier, points }, i) => {
    const color = colorOf(i);
    const group = String(tier);
    out.push({
      label: `b = ${tier}`, data: points, borderColor: color, backgroundColor: color, borderWidth: 2, pointRadius: 0,
      fill: false, group, inLegend: true,
    });
    out.push({
      label: `budget ${tier}`, data: [{ x: tier, y: 0 }, { x: tier, y: yTop }], borderColor: withAlpha(color, 0.5),
      borderWidth: 1, borderDash: BUDGET_DASH, pointRadius: 0, pointHitRadius: 0, fill: false, group,
    });
  });
  out.push({
    label: 'wrong or truncated (R = 0)', data: [{ x: 0, y: 0 }, { x: lMax, y: 0 }], borderColor: muted, borderWidth: 2,
    borderDash: BUDGET_DASH, pointRadius: 0, fill: false, group: 'wrong', inLegend: true,
  });
  if (marks.length > 0) {
    out.push({
      label: 'crossings', data: marks.map((m) => ({ x: m.n, y: m.reward })), showLine: false, pointRadius: 5,
      pointHoverRadius: 7, pointStyle: 'crossRot', borderColor: muted, borderWidth: 2, backgroundColor: muted,
      fill: false, group: 'crossings', inLegend: true,
    });
  }
  return out;
}
