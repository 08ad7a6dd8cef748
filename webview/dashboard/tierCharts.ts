// Per-tier curves over steps: mean length with a ±std band and a dashed line at the budget,
// accuracy, reward and intra-tier advantage; plus the collapse warnings for the whole run.
import { collapseSpans, describeCollapse, ongoingCollapse, type CollapseSpan } from '../lib/collapse';
import { lengthDatasets, tierLineDatasets } from '../lib/datasets';
import { seriesOf, tierLengthSpecs, tierMetricPoints } from '../lib/series';
import { tierMetricKey, type TierMetric } from '../../common/metricKeys';
import type { DashboardState, TierInfo } from '../../common/protocol/dashboard';
import { chartBox, createLineChart, setDatasets, type LineChart, type LineChartOptions } from '../ui/charts';
import { fill, h } from '../ui/dom';
import { colorAt, type ChartTheme } from '../ui/theme';

interface MetricChart {
  metric: TierMetric;
  title: string;
  options: LineChartOptions;
}

const METRICS: MetricChart[] = [
  { metric: 'accuracy', title: 'Accuracy per tier', options: { xTitle: 'step', yTitle: 'accuracy', yMin: 0, yMax: 1 } },
  { metric: 'reward', title: 'Reward per tier', options: { xTitle: 'step', yTitle: 'mean reward' } },
  { metric: 'advantage/intra', title: 'Intra-tier advantage', options: { xTitle: 'step', yTitle: 'A_intra (≤ 0)' } },
];

/** Colour of a tier: by its position among the run's tiers, so every chart agrees. */
export function tierColor(tiers: readonly TierInfo[], label: string, theme: ChartTheme): string {
  const i = tiers.findIndex((t) => t.label === label);
  return colorAt(theme, i === -1 ? tiers.length : i);
}

export class TierCharts {
  private length: LineChart;
  private metrics: { spec: MetricChart; chart: LineChart }[] = [];

  constructor(grid: HTMLElement) {
    const card = (title: string, hint: string, opts: LineChartOptions): LineChart => {
      const { box, canvas } = chartBox();
      grid.appendChild(h('div', { class: 'card' }, h('h3', { text: title, title: hint }), box));
      return createLineChart(canvas, opts);
    };
    this.length = card('Mean length per tier', 'mean n_gen, shaded ±1 std; dashed: the tier budget',
      { xTitle: 'step', yTitle: 'tokens', yFromZero: true, digits: 1 });
    for (const spec of METRICS) this.metrics.push({ spec, chart: card(spec.title, spec.metric, spec.options) });
  }

  draw(state: DashboardState, theme: ChartTheme): void {
    const color = (tiers: readonly TierInfo[]) => (i: number) => tierColor(state.tiers, tiers[i].label, theme);
    const specs = tierLengthSpecs(state.series, state.tiers);
    setDatasets(this.length, lengthDatasets(specs, color(specs.map((s) => s.tier))));
    for (const { spec, chart } of this.metrics) {
      const lines = tierMetricPoints(state.series, state.tiers, spec.metric);
      setDatasets(chart, tierLineDatasets(lines, color(lines.map((l) => l.tier))));
    }
  }

  charts(): LineChart[] {
    return [this.length, ...this.metrics.map((m) => m.chart)];
  }
}

/** Every collapse per tier label. */
export function tierCollapses(state: DashboardState): Map<string, CollapseSpan[]> {
  const out = new Map<string, CollapseSpan[]>();
  for (const t of state.tiers) {
    const mean = seriesOf(state.series, tierMetricKey(t.mode, 'mean_length'));
    const std = seriesOf(state.series, tierMetricKey(t.mode, 'length_std'));
    out.set(t.label, collapseSpans(mean, std));
  }
  return out;
}

/** Banner lines for tiers whose spread is collapsed at the latest step. */
export function renderCollapseWarnings(root: HTMLElement, state: DashboardState, spans: Map<string, CollapseSpan[]>): void {
  const lines: HTMLElement[] = [];
  for (const t of state.tiers) {
    const span = ongoingCollapse(spans.get(t.label) ?? [], seriesOf(state.series, tierMetricKey(t.mode, 'mean_length')));
    if (span) lines.push(h('div', { class: 'warning', attrs: { role: 'status' }, text: describeCollapse(t.label, span, true) }));
  }
  fill(root, ...lines);
}
