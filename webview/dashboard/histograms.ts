// Per-tier length histograms at one step, with a step slider, a "follow the latest step" switch and
// a warning on a tier whose length spread is collapsed at that step.
import { collapseAt, describeCollapse, type CollapseSpan } from '../lib/collapse';
import { histogramDatasets, tierTitle } from '../lib/datasets';
import { fmt } from '../lib/format';
import { binEdges, histogram, histogramOutline, lengthStats } from '../lib/histogram';
import type { DashboardState, TierInfo } from '../../common/protocol/dashboard';
import { chartBox, createLineChart, setDatasets, type LineChart } from '../ui/charts';
import { fill, h } from '../ui/dom';
import type { ChartTheme } from '../ui/theme';
import { tierColor } from './tierCharts';

/** Bins shared by every tier of the step: 0 to the longest rollout or the largest budget. */
export const TARGET_BINS = 30;

/**
 * The step to show when following: the last completed step that has rollouts (the rollouts of the
 * step in progress are still arriving), else the latest step with any.
 */
export function followStep(rolloutSteps: readonly number[], lastCompleted: number): number | undefined {
  const done = rolloutSteps.filter((s) => s <= lastCompleted);
  return done.length > 0 ? done[done.length - 1] : rolloutSteps[rolloutSteps.length - 1];
}

interface TierCard {
  card: HTMLElement;
  title: HTMLElement;
  stats: HTMLElement;
  warning: HTMLElement;
  chart: LineChart;
}

export class Histograms {
  private cards = new Map<string, TierCard>();

  constructor(private readonly grid: HTMLElement, private readonly empty: HTMLElement) {}

  draw(
    state: DashboardState, step: number | undefined, lengths: Record<string, number[]> | undefined,
    spans: Map<string, CollapseSpan[]>, theme: ChartTheme,
  ): void {
    if (step !== undefined && !lengths) {
      // Keep the step on screen until the requested one arrives: no blank flash on every new step.
      this.empty.textContent = `Loading step ${step}…`;
      return;
    }
    const tiers = state.tiers.filter((t) => lengths && Object.hasOwn(lengths, t.label));
    this.empty.textContent = step === undefined ? 'No rollouts yet.' : '';
    if (!lengths || step === undefined || tiers.length === 0) {
      for (const c of this.cards.values()) c.card.hidden = true;
      return;
    }
    let hi = 1;
    for (const t of tiers) for (const v of lengths[t.label]) hi = Math.max(hi, v);
    for (const t of tiers) if (t.budget !== null) hi = Math.max(hi, t.budget);
    const edges = binEdges(hi, TARGET_BINS);
    for (const c of this.cards.values()) c.card.hidden = true;
    for (const t of tiers) this.drawTier(t, edges, lengths[t.label], step, spans.get(t.label) ?? [], state, theme);
    // Cards in the run's tier order: a tier first seen at an earlier step got its card last.
    const order = state.tiers.map((t) => this.cards.get(t.label)?.card).filter((c): c is HTMLElement => c !== undefined);
    if (order.some((c, i) => this.grid.children[i] !== c)) this.grid.append(...order);
  }

  private drawTier(
    t: TierInfo, edges: number[], values: number[], step: number, spans: CollapseSpan[], state: DashboardState,
    theme: ChartTheme,
  ): void {
    const c = this.card(t);
    c.card.hidden = false;
    c.title.textContent = `${tierTitle(t)} · step ${step}`;
    const counts = histogram(values, edges);
    const s = lengthStats(values);
    const over = t.budget === null ? null : values.filter((v) => v > t.budget!).length;
    c.stats.textContent = `${s.n} rollouts · mean ${fmt(s.mean, 1)} · std ${fmt(s.std, 1)} tokens` +
      (over === null ? '' : ` · ${over} over budget`);
    const span = collapseAt(spans, step);
    c.warning.hidden = !span;
    c.warning.textContent = span ? describeCollapse(t.label, span, false) : '';
    const top = Math.max(1, ...counts);
    const color = tierColor(state.tiers, t.label, theme);
    setDatasets(c.chart, histogramDatasets(histogramOutline(edges, counts), t.budget, top, color, tierTitle(t)));
    c.chart.options.scales!.x!.max = edges[edges.length - 1];
    c.chart.options.scales!.x!.min = 0;
    c.chart.update('none');
  }

  private card(t: TierInfo): TierCard {
    let c = this.cards.get(t.label);
    if (c) return c;
    const { box, canvas } = chartBox();
    const stats = h('div', { class: 'muted' });
    const warning = h('div', { class: 'warning', attrs: { role: 'status' } });
    warning.hidden = true;
    const title = h('h3', { text: tierTitle(t) });
    const card = h('div', { class: 'card' }, title, stats, warning, box);
    this.grid.appendChild(card);
    const chart = createLineChart(canvas, { xTitle: 'n_gen (tokens)', yTitle: 'rollouts', yFromZero: true, legend: false, digits: 0 });
    c = { card, title, stats, warning, chart };
    this.cards.set(t.label, c);
    return c;
  }

  charts(): LineChart[] {
    return [...this.cards.values()].map((c) => c.chart);
  }

  reset(): void {
    for (const c of this.cards.values()) c.chart.destroy();
    this.cards.clear();
    fill(this.grid);
  }
}
