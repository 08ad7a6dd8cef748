// chart.js set-up shared by the panels: only the pieces used are registered (smaller bundle), no
// animation (live data would animate forever), linear step/token axes, theme colours applied on
// creation and on every theme change, and a legend whose entries toggle a whole tier (its band
// and budget line with it).
import {
  Chart, Filler, Legend, LinearScale, LineController, LineElement, PointElement, ScatterController, Tooltip,
  type ChartConfiguration, type LegendItem,
} from 'chart.js';
import type { LineDataset } from '../lib/datasets';
import { readTheme, type ChartTheme } from './theme';

Chart.register(LineController, ScatterController, LineElement, PointElement, LinearScale, Filler, Legend, Tooltip);

export type LineChart = Chart<'line', LineDataset['data']>;

export interface LineChartOptions {
  xTitle: string;
  yTitle: string;
  /** y axis starts at 0 (lengths, counts, rates). */
  yFromZero?: boolean;
  yMin?: number;
  yMax?: number;
  xMin?: number;
  xMax?: number;
  legend?: boolean;
  /** Digits in tooltips. */
  digits?: number;
}

function groupOf(chart: Chart, index: number): string | undefined {
  return (chart.data.datasets[index] as LineDataset | undefined)?.group;
}

export function createLineChart(canvas: HTMLCanvasElement, o: LineChartOptions): LineChart {
  const config: ChartConfiguration<'line', LineDataset['data']> = {
    type: 'line',
    data: { datasets: [] },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      parsing: false,
      normalized: true,
      spanGaps: false,
      interaction: { mode: 'nearest', axis: 'x', intersect: false },
      scales: {
        x: { type: 'linear', title: { display: true, text: o.xTitle }, min: o.xMin, max: o.xMax, ticks: { precision: 0 } },
        y: { type: 'linear', title: { display: true, text: o.yTitle }, beginAtZero: o.yFromZero ?? false, min: o.yMin, max: o.yMax },
      },
      plugins: {
        legend: {
          display: o.legend ?? true,
          position: 'bottom',
          labels: {
            boxWidth: 12,
            filter: (item: LegendItem, data) => (data.datasets[item.datasetIndex ?? -1] as LineDataset | undefined)?.inLegend === true,
          },
          // Toggle every dataset of the clicked entry's group: a tier's mean, band and budget line.
          onClick: (_e, item, legend) => {
            const chart = legend.chart;
            const group = groupOf(chart, item.datasetIndex ?? -1);
            const show = !chart.isDatasetVisible(item.datasetIndex ?? 0);
            chart.data.datasets.forEach((_d, i) => {
              if (groupOf(chart, i) === group) chart.setDatasetVisibility(i, show);
            });
            chart.update('none');
          },
        },
        tooltip: {
          filter: (item) => (item.dataset as LineDataset).inLegend === true,
          callbacks: {
            label: (item) => {
              const y = (item.raw as { y: number | null }).y;
              return `${item.dataset.label ?? ''}: ${y === null ? '—' : y.toFixed(o.digits ?? 3)}`;
            },
          },
        },
      },
    },
  };
  const chart = new Chart(canvas, config);
  applyTheme(chart, readTheme());
  return chart;
}

/** Text, grid and tooltip colours from the theme (dataset colours are set by whoever fills the datasets). */
export function applyTheme(chart: Chart, t: ChartTheme): void {
  Chart.defaults.font.family = t.fontFamily;
  Chart.defaults.font.size = Math.max(10, t.fontSize - 1);
  Chart.defaults.color = t.foreground;
  const opts = chart.options;
  for (const scale of Object.values(opts.scales ?? {})) {
    if (!scale) continue;
    scale.grid = { ...scale.grid, color: t.grid };
    scale.ticks = { ...scale.ticks, color: t.muted };
    if ('title' in scale && scale.title) scale.title = { ...scale.title, color: t.muted };
    if ('border' in scale) scale.border = { ...scale.border, color: t.grid };
  }
  const plugins = opts.plugins;
  if (plugins?.legend?.labels) plugins.legend.labels.color = t.foreground;
  if (plugins?.tooltip) {
    plugins.tooltip.backgroundColor = t.background;
    plugins.tooltip.titleColor = t.foreground;
    plugins.tooltip.bodyColor = t.foreground;
    plugins.tooltip.borderColor = t.grid;
    plugins.tooltip.borderWidth = 1;
  }
}

/** Replace a chart's datasets, keeping what the user hid in the legend hidden. */
export function setDatasets(chart: LineChart, datasets: LineDataset[]): void {
  const hidden = new Set<string>();
  chart.data.datasets.forEach((d, i) => {
    const group = (d as LineDataset).group;
    if (group !== undefined && !chart.isDatasetVisible(i)) hidden.add(group);
  });
  chart.data.datasets = datasets;
  datasets.forEach((d, i) => {
    if (d.group !== undefined && hidden.has(d.group)) chart.setDatasetVisibility(i, false);
  });
  chart.update('none');
}

/** A canvas in a sized box (chart.js's responsive mode needs a positioned parent of its own). */
export function chartBox(className = 'chart'): { box: HTMLDivElement; canvas: HTMLCanvasElement } {
  const box = document.createElement('div');
  box.className = className;
  const canvas = document.createElement('canvas');
  box.appendChild(canvas);
  return { box, canvas };
}
