// Run dashboard (webview side). Speaks common/protocol/dashboard.ts with
// extension/panels/dashboardPanel.ts: ready -> full state, then appends; length histograms are
// requested per step. Redraws are coalesced to one per chart group per animation frame.
import './ui/litNonce';
import './ui/elements';
import './styles/base.css';
import { applyDelta, redrawsFor } from './lib/dashboardStore';
import type { CollapseSpan } from './lib/collapse';
import { evalSteps, latestEvals } from './lib/evalTable';
import { FrameCoalescer } from './lib/coalesce';
import { RequestIds } from '../common/protocol/common';
import type { DashboardRequest, DashboardState, DashboardToWebview } from '../common/protocol/dashboard';
import { renderHeader } from './dashboard/header';
import { GlobalCharts } from './dashboard/globalCharts';
import { followStep, Histograms } from './dashboard/histograms';
import { renderEvals } from './dashboard/evalView';
import { renderCollapseWarnings, TierCharts, tierCollapses } from './dashboard/tierCharts';
import { applyTheme } from './ui/charts';
import { fill, h } from './ui/dom';
import { onThemeChange, readTheme } from './ui/theme';
import { connect } from './ui/vscodeApi';

/** What survives VS Code reloading the hidden webview. */
interface ViewState {
  /** The run on show: VS Code hands this state back to the host when it restores the panel. */
  runDir?: string;
  follow: boolean;
  histStep?: number;
  evalStep?: number;
}

const host = connect<DashboardRequest, DashboardToWebview>();
const view: ViewState = { follow: true, ...host.getState<ViewState>() };
const frames = new FrameCoalescer((cb) => requestAnimationFrame(cb));
const ids = new RequestIds();
let theme = readTheme();
let state: DashboardState | undefined;
let spans = new Map<string, CollapseSpan[]>();
const lengthCache = new Map<number, Record<string, number[]>>();
const pendingLengths = new Map<number, number>(); // request id -> step

// ---- layout -------------------------------------------------------------------------------------
const header = h('header', { attrs: { 'aria-live': 'polite' } }, h('p', { class: 'muted', text: 'Loading run…' }));
const warnings = h('div');
const tierGrid = h('div', { class: 'grid' });
const slider = h('input', { attrs: { type: 'range', min: 0, max: 0, value: 0, 'aria-label': 'histogram step' } }) as HTMLInputElement;
const stepLabel = h('span', { text: '' });
const follow = h('vscode-checkbox', { attrs: { label: 'follow the latest step', checked: view.follow } }) as HTMLElement & { checked: boolean };
const inspect = h('vscode-button', { attrs: { secondary: true }, text: 'Inspect rollouts at this step' });
const histEmpty = h('p', { class: 'muted' });
const histGrid = h('div', { class: 'grid small' });
const globalGrid = h('div', { class: 'grid' });
const evalSelect = h('vscode-single-select', { attrs: { 'aria-label': 'eval step' } }) as HTMLElement & { value: string };
const evalRoot = h('div', { class: 'stack' });
const curves = h('vscode-button', { attrs: { secondary: true }, text: 'Reward curves…' });

document.body.append(
  h('div', { class: 'row' }, header, curves),
  warnings,
  h('h2', { text: 'Budget tiers' }), tierGrid,
  h('h2', { text: 'Length distribution per tier' }),
  h('div', { class: 'row' }, slider, stepLabel, follow, inspect), histEmpty, histGrid,
  h('h2', { text: 'Training' }), globalGrid,
  h('h2', { text: 'Evaluation' }), h('div', { class: 'row' }, h('span', { class: 'muted', text: 'results at' }), evalSelect), evalRoot,
);

const tierCharts = new TierCharts(tierGrid);
const globalCharts = new GlobalCharts(globalGrid);
const histograms = new Histograms(histGrid, histEmpty);

// ---- drawing ------------------------------------------------------------------------------------
function saveView(): void {
  host.setState(view);
}

/** The histogram step: the followed one, else the chosen one if it still has rollouts. */
function histStep(s: DashboardState): number | undefined {
  if (view.follow || view.histStep === undefined || !s.rolloutSteps.includes(view.histStep)) {
    return followStep(s.rolloutSteps, s.header.step);
  }
  return view.histStep;
}

function drawHistograms(): void {
  if (!state) return;
  const s = state;
  const step = histStep(s);
  slider.max = String(Math.max(0, s.rolloutSteps.length - 1));
  slider.disabled = s.rolloutSteps.length < 2;
  if (step !== undefined) slider.value = String(s.rolloutSteps.indexOf(step));
  stepLabel.textContent = step === undefined ? '' : `step ${step}`;
  const lengths = step === undefined ? undefined : lengthCache.get(step);
  if (step !== undefined && !lengths && ![...pendingLengths.values()].includes(step)) {
    const id = ids.next();
    pendingLengths.set(id, step);
    host.post({ type: 'lengths', id, step });
  }
  histograms.draw(s, step, lengths, spans, theme);
}

function drawEvals(): void {
  if (!state) return;
  const steps = evalSteps(state.evals);
  const chosen = view.evalStep !== undefined && steps.includes(view.evalStep) ? String(view.evalStep) : 'latest';
  fill(evalSelect,
    h('vscode-option', { attrs: { value: 'latest', selected: chosen === 'latest' }, text: 'latest' }),
    ...steps.map((s) => h('vscode-option', { attrs: { value: String(s), selected: chosen === String(s) }, text: `step ${s}` })));
  renderEvals(evalRoot, latestEvals(state.evals, chosen === 'latest' ? undefined : Number(chosen)));
}

function drawTiers(): void {
  if (!state) return;
  spans = tierCollapses(state);
  renderCollapseWarnings(warnings, state, spans);
  tierCharts.draw(state, theme);
}

function scheduleAll(): void {
  if (!state) return;
  const s = state;
  frames.schedule('header', () => renderHeader(header, s.header));
  frames.schedule('tiers', drawTiers);
  frames.schedule('global', () => globalCharts.draw(s, theme));
  frames.schedule('histograms', drawHistograms);
  frames.schedule('evals', drawEvals);
}

// ---- messages -----------------------------------------------------------------------------------
host.onMessage((msg) => {
  switch (msg.type) {
    case 'state':
      state = msg.state;
      if (view.runDir !== msg.state.header.runDir) {
        view.runDir = msg.state.header.runDir;
        saveView();
      }
      lengthCache.clear();
      pendingLengths.clear();
      scheduleAll();
      break;
    case 'append': {
      if (!state) return; // an append before the state: the state that follows includes it
      const s = state;
      const changes = applyDelta(s, msg.delta);
      const redraw = redrawsFor(changes);
      if (changes.header) frames.schedule('header', () => renderHeader(header, s.header));
      if (redraw.tierCharts) frames.schedule('tiers', drawTiers);
      if (redraw.globalCharts) frames.schedule('global', () => globalCharts.draw(s, theme));
      if (redraw.histograms) {
        // The step in progress gets more rollouts until its step event: never serve it from cache.
        for (const step of lengthCache.keys()) if (step > s.header.step) lengthCache.delete(step);
        frames.schedule('histograms', drawHistograms);
      }
      if (redraw.evals) frames.schedule('evals', drawEvals);
      break;
    }
    case 'lengths': {
      const step = pendingLengths.get(msg.id);
      pendingLengths.delete(msg.id);
      if (step === undefined || !state) return;
      if (step <= state.header.step) lengthCache.set(step, msg.lengths);
      histograms.draw(state, step, msg.lengths, spans, theme);
      break;
    }
    case 'error':
      pendingLengths.delete(msg.id);
      histEmpty.textContent = msg.message;
      break;
  }
});

// ---- controls -----------------------------------------------------------------------------------
slider.addEventListener('input', () => {
  if (!state) return;
  view.histStep = state.rolloutSteps[Number(slider.value)];
  view.follow = view.histStep === followStep(state.rolloutSteps, state.header.step) ? view.follow : false;
  follow.checked = view.follow;
  saveView();
  frames.schedule('histograms', drawHistograms);
});
follow.addEventListener('change', () => {
  // Unfollowing holds the step on show (with no step chosen, histStep() would go on following).
  const shown = state ? histStep(state) : undefined;
  view.follow = follow.checked;
  if (!view.follow) view.histStep = shown;
  saveView();
  frames.schedule('histograms', drawHistograms);
});
inspect.addEventListener('click', () => {
  const step = state ? histStep(state) : undefined;
  host.post(step === undefined ? { type: 'openInspector' } : { type: 'openInspector', step });
});
curves.addEventListener('click', () => host.post({ type: 'openRewardExplorer' }));
evalSelect.addEventListener('change', () => {
  view.evalStep = evalSelect.value === 'latest' ? undefined : Number(evalSelect.value);
  saveView();
  if (state) renderEvals(evalRoot, latestEvals(state.evals, view.evalStep));
});

onThemeChange(() => {
  theme = readTheme();
  for (const chart of [...tierCharts.charts(), ...globalCharts.charts(), ...histograms.charts()]) applyTheme(chart, theme);
  scheduleAll();
});

host.post({ type: 'ready' });
