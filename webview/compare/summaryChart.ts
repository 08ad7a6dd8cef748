// The comparison's chart: tokens per mode (bars: mean over finished samples, points: each sample)
// against the mode's budget (a marker per tier mode); and accuracy per mode when several samples are
// graded. A table under it holds the same figures as text (readable, copyable, and what tests read).
import {
  BarController, BarElement, CategoryScale, Chart, Legend, LinearScale, LineController, LineElement, PointElement,
  ScatterController, Tooltip,
} from 'chart.js';
import type { ModeSummary } from '../../common/compareView';
import { fmt, fmtPct } from '../lib/format';
import { applyTheme, chartBox } from '../ui/charts';
import { fill, h } from '../ui/dom';
import { colorAt, readTheme } from '../ui/theme';

Chart.register(BarController, BarElement, CategoryScale, LinearScale, LineController, LineElement, PointElement, ScatterController, Legend, Tooltip);

export class SummaryChart {
  readonly root: HTMLElement;
  private readonly tokens: Chart;
  private readonly accuracy: Chart;
  private readonly accuracyBox: HTMLElement;
  private readonly table = h('table', { class: 'summary' });

  constructor() {
    const t = chartBox();
    const a = chartBox();
    this.accuracyBox = a.box;
    this.root = h('section', { class: 'summary-section' }, h('h2', { text: 'Tokens per mode' }),
      h('div', { class: 'grid' }, t.box, a.box), this.table);
    const common = {
      animation: false as const, responsive: true, maintainAspectRatio: false,
      plugins: { legend: { position: 'bottom' as const, labels: { boxWidth: 12 } } },
    };
    this.tokens = new Chart(t.canvas, {
      type: 'bar', data: { labels: [], datasets: [] },
      options: { ...common, scales: { y: { beginAtZero: true, title: { display: true, text: 'tokens' } } } },
    });
    this.accuracy = new Chart(a.canvas, {
      type: 'bar', data: { labels: [], datasets: [] },
      options: { ...common, scales: { y: { min: 0, max: 100, title: { display: true, text: 'accuracy, %' } } } },
    });
    for (const c of [this.tokens, this.accuracy]) applyTheme(c, readTheme());
  }

  update(summary: ModeSummary[], samples: number): void {
    const labels = summary.map((s) => s.label);
    const theme = readTheme();
    const colors = summary.map((_s, i) => colorAt(theme, i));
    this.tokens.data.labels = labels;
    this.tokens.data.datasets = [
      { type: 'bar', label: samples > 1 ? 'mean tokens' : 'tokens', data: summary.map((s) => s.meanTokens), backgroundColor: colors },
      {
        type: 'line', label: 'budget', data: summary.map((s) => s.budget), showLine: false, pointStyle: 'line',
        pointRadius: 18, pointBorderWidth: 3, borderColor: readTheme().foreground,
      },
      ...(samples > 1 ? [{
        type: 'scatter' as const, label: 'samples', pointRadius: 3,
        data: summary.flatMap((s) => s.tokens.map((y) => ({ x: s.label, y }))) as unknown as number[],
        backgroundColor: readTheme().muted,
      }] : []),
    ] as never;
    this.tokens.update('none');
    const graded = summary.some((s) => s.accuracy !== null);
    this.accuracyBox.hidden = !(graded && samples > 1);
    this.accuracy.data.labels = labels;
    this.accuracy.data.datasets = [{ label: 'accuracy', data: summary.map((s) => (s.accuracy === null ? null : 100 * s.accuracy)), backgroundColor: colors }];
    this.accuracy.update('none');
    fill(this.table,
      h('thead', {}, h('tr', {}, ...['mode', 'finished', 'budget', 'mean tokens', 'tokens', 'accuracy', 'mean reward'].map((t) => h('th', { text: t })))),
      h('tbody', {}, ...summary.map((s) => h('tr', { attrs: { 'data-mode': s.mode } },
        h('td', { text: s.label }), h('td', { text: String(s.n) }), h('td', { text: s.budget === null ? '—' : String(s.budget) }),
        h('td', { class: 'num', text: fmt(s.meanTokens, 1) }), h('td', { class: 'num', text: s.tokens.join(', ') || '—' }),
        h('td', { class: 'num', text: fmtPct(s.accuracy) }), h('td', { class: 'num', text: fmt(s.meanReward) }),
      ))),
    );
  }
}
