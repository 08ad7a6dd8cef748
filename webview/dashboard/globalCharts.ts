// Step-wide training charts: loss, clip fraction (with its low/high sides), entropy, grad norm, tokens/s.
import { metricDatasets } from '../lib/datasets';
import { seriesOf, toPoints } from '../lib/series';
import type { DashboardState } from '../../common/protocol/dashboard';
import { chartBox, createLineChart, setDatasets, type LineChart, type LineChartOptions } from '../ui/charts';
import { h } from '../ui/dom';
import { colorAt, type ChartTheme } from '../ui/theme';

interface GlobalChart {
  title: string;
  /** Metric keys as the trainer writes them (note `clip_frac`), and dashed ones for secondary lines. */
  lines: { key: string; label: string; dashed?: boolean }[];
  options: LineChartOptions;
}

export const GLOBAL_CHARTS: GlobalChart[] = [
  { title: 'Loss', lines: [{ key: 'loss', label: 'loss' }], options: { xTitle: 'step', yTitle: 'loss' } },
  {
    title: 'Clip fraction',
    lines: [
      { key: 'clip_frac', label: 'clipped tokens' },
      { key: 'clip_frac/low', label: 'low side (ratio < 1 − ε_low)', dashed: true },
      { key: 'clip_frac/high', label: 'high side (ratio > 1 + ε_high)', dashed: true },
    ],
    options: { xTitle: 'step', yTitle: 'fraction of tokens', yFromZero: true, digits: 4 },
  },
  { title: 'Entropy', lines: [{ key: 'entropy', label: 'entropy' }], options: { xTitle: 'step', yTitle: 'nats / token', digits: 3 } },
  { title: 'Grad norm', lines: [{ key: 'grad_norm', label: 'grad norm' }], options: { xTitle: 'step', yTitle: 'L2 norm', yFromZero: true } },
  {
    title: 'Generation speed', lines: [{ key: 'tokens_per_s', label: 'tokens/s' }],
    options: { xTitle: 'step', yTitle: 'tokens / s', yFromZero: true, digits: 1 },
  },
];

export class GlobalCharts {
  private charts_: { spec: GlobalChart; chart: LineChart; note: HTMLElement; card: HTMLElement }[] = [];

  constructor(grid: HTMLElement) {
    for (const spec of GLOBAL_CHARTS) {
      const { box, canvas } = chartBox();
      const note = h('span', { class: 'muted' });
      // data-points: how many steps the chart draws (what a reader of the page, or a test, can check).
      const card = h('div', { class: 'card', attrs: { 'data-chart': spec.lines[0].key, 'data-points': '0' } }, h('h3', {}, spec.title, ' ', note), box);
      grid.appendChild(card);
      this.charts_.push({ spec, chart: createLineChart(canvas, { ...spec.options, legend: spec.lines.length > 1 }), note, card });
    }
  }

  draw(state: DashboardState, theme: ChartTheme): void {
    for (const { spec, chart, note, card } of this.charts_) {
      const lines = spec.lines
        .map((l) => ({ label: l.label, dashed: l.dashed, points: toPoints(seriesOf(state.series, l.key)) }))
        .filter((l) => l.points.length > 0);
      note.textContent = lines.length === 0 ? '(not logged yet)' : '';
      card.setAttribute('data-points', String(Math.max(0, ...lines.map((l) => l.points.length))));
      setDatasets(chart, metricDatasets(lines, (i) => colorAt(theme, i)));
    }
  }

  charts(): LineChart[] {
    return this.charts_.map((c) => c.chart);
  }
}
