// Reward-curve explorer (webview side): R(n | b) of a correct answer for every tier, n = 0..L_max,
// from common/budgetMath.ts, with editable parameters and the lengths where adjacent tiers'
// curves cross. The host only seeds the parameters (common/protocol/rewardExplorer.ts).
import './ui/litNonce';
import './ui/elements';
import './styles/base.css';
import { f2 } from '../common/budgetMath';
import { rewardCurveDatasets } from './lib/datasets';
import { FrameCoalescer } from './lib/coalesce';
import { fmt } from './lib/format';
import { adjacentCrossings, thin, tierCurves, type Crossing } from './lib/rewardCurves';
import { defaultParams, effectiveAlpha, formOf, parseRewardForm, type FormField, type RewardForm } from '../common/rewardForm';
import type { RewardExplorerParams, RewardExplorerRequest, RewardExplorerToWebview } from '../common/protocol/rewardExplorer';
import { applyTheme, chartBox, createLineChart, setDatasets } from './ui/charts';
import { fill, h } from './ui/dom';
import { colorAt, onThemeChange, readTheme } from './ui/theme';
import { connect } from './ui/vscodeApi';

/** Points drawn per curve (the crossings are computed on every integer n). */
const DRAW_POINTS = 800;

interface ViewState {
  form: RewardForm;
  seeded: RewardExplorerParams;
  source: string;
}

type Field = HTMLElement & { value: string };

const host = connect<RewardExplorerRequest, RewardExplorerToWebview>();
const saved = host.getState<ViewState>();
let seeded = saved?.seeded ?? defaultParams();
let source = saved?.source ?? 'paper defaults';
let good: RewardExplorerParams = seeded;
let theme = readTheme();
const frames = new FrameCoalescer((cb) => requestAnimationFrame(cb));

const fields: Record<FormField, Field> = {
  tiers: h('vscode-textfield', { attrs: { 'aria-label': 'budget tiers' } }) as Field,
  lMax: h('vscode-textfield', { attrs: { 'aria-label': 'L_max', type: 'text' } }) as Field,
  alpha: h('vscode-textfield', { attrs: { 'aria-label': 'alpha' } }) as Field,
  beta: h('vscode-textfield', { attrs: { 'aria-label': 'beta' } }) as Field,
  variant: h('vscode-single-select', { attrs: { 'aria-label': 'variant' } },
    h('vscode-option', { attrs: { value: 'paper' }, text: 'paper: f2 within budget, f1 over it' }),
    h('vscode-option', { attrs: { value: 'reference' }, text: 'reference: min(f1, f2) (released code)' })) as Field,
};
const sourceNote = h('span', { class: 'muted' });
const reset = h('vscode-button', { attrs: { secondary: true }, text: 'Reset' });
const errors = h('div', { attrs: { role: 'alert' } });
const { box, canvas } = chartBox('chart tall');
const crossingList = h('div');

const labelled = (label: string, hint: string, control: HTMLElement) =>
  h('label', { class: 'field', title: hint }, h('span', { class: 'muted', text: label }), control);
document.body.append(
  h('header', { class: 'row' }, h('h1', { text: 'Reward curves R(n | b)' }), sourceNote),
  h('div', { class: 'row' },
    labelled('tiers (tokens)', 'budgets b, comma separated', fields.tiers),
    labelled('L_max (tokens)', 'training context for the response', fields.lMax),
    labelled('alpha (per token)', `length penalty; 1/L_max is the paper's`, fields.alpha),
    labelled('beta', 'reward scale', fields.beta),
    labelled('variant', 'how a correct answer within its budget is paid', fields.variant),
    reset),
  errors,
  h('p', { class: 'muted', text:
    'Correct answer: R = f2(b) = beta·cos(πb/2L) when n ≤ b (paper), f1(n, b) = beta·cos(πn/2L) − alpha·|n − b| when n > b; ' +
    'reference variant: min(f1, f2). Wrong, unanswered or truncated (n > L_max): R = 0.' }),
  h('div', { class: 'card' }, box),
  h('h2', { text: 'Where adjacent tiers cross' }), crossingList,
);

const chart = createLineChart(canvas, { xTitle: 'n_gen (tokens)', yTitle: 'reward R', digits: 3 });

function readForm(): RewardForm {
  return {
    tiers: fields.tiers.value, lMax: fields.lMax.value, alpha: fields.alpha.value, beta: fields.beta.value,
    variant: fields.variant.value || 'paper',
  };
}

function writeForm(form: RewardForm): void {
  for (const k of Object.keys(fields) as FormField[]) fields[k].value = form[k];
}

function describeCrossing(c: Crossing): string {
  const winner = c.upperReward > c.lowerReward ? c.upper : c.lower;
  return `b = ${c.lower} vs b = ${c.upper}: from n = ${c.n} tokens a correct answer earns more in tier ${winner} ` +
    `(R = ${fmt(c.lowerReward, 4)} in ${c.lower}, ${fmt(c.upperReward, 4)} in ${c.upper}).`;
}

function draw(): void {
  const p = good;
  const params = { tiers: p.tiers, lMax: p.lMax, alpha: effectiveAlpha(p), beta: p.beta, variant: p.variant };
  const curves = tierCurves(params);
  const crossings = adjacentCrossings(curves);
  const keep = [...p.tiers.flatMap((b) => [b, b + 1]), ...crossings.flatMap((c) => [c.n - 1, c.n])];
  const points = curves.map((c) => ({ tier: c.tier, points: thin(c.correct, DRAW_POINTS, keep).map(([x, y]) => ({ x, y })) }));
  const marks = crossings.map((c) => ({ n: c.n, reward: c.upperReward, label: `${c.lower}/${c.upper}` }));
  setDatasets(chart, rewardCurveDatasets(points, marks, p.lMax, p.beta, (i) => colorAt(theme, i), theme.muted));
  chart.options.scales!.x!.min = 0;
  chart.options.scales!.x!.max = p.lMax;
  chart.options.scales!.y!.min = 0;
  chart.options.scales!.y!.max = p.beta;
  chart.update('none');
  fill(crossingList,
    h('p', { text: `alpha = ${fmt(params.alpha, 6)}${p.alpha === null ? ' (1/L_max)' : ''} · tier ceilings: ` +
      p.tiers.map((b) => `f2(${b}) = ${fmt(f2(b, params))}`).join(', ') }),
    crossings.length === 0
      ? h('p', { class: 'muted', text: 'No adjacent tiers cross: a correct answer of any length earns at least as much in the smaller tier.' })
      : h('ul', {}, ...crossings.map((c) => h('li', { text: describeCrossing(c) }))));
}

function update(): void {
  const form = readForm();
  const result = parseRewardForm(form);
  if (result.ok) {
    good = result.params;
    fill(errors);
    frames.schedule('chart', draw);
  } else {
    // Keep the last good chart; say what is wrong.
    fill(errors, ...result.errors.map((e) => h('div', { class: 'error-text', text: e.message })));
  }
  host.setState<ViewState>({ form, seeded, source });
}

function seed(params: RewardExplorerParams, from: string): void {
  seeded = params;
  source = from;
  good = params;
  sourceNote.textContent = `seeded from ${from}`;
  writeForm(formOf(params));
  fill(errors);
  frames.schedule('chart', draw);
  host.setState<ViewState>({ form: formOf(params), seeded, source });
}

for (const f of Object.values(fields)) {
  f.addEventListener('input', () => frames.schedule('form', update));
  f.addEventListener('change', () => frames.schedule('form', update));
}
reset.addEventListener('click', () => seed(seeded, source));

let restoring = saved !== undefined;
host.onMessage((msg) => {
  if (msg.type !== 'params') return;
  // The host answers `ready` with the run's parameters: after a reload they are what was seeded
  // before, and the user's edits (restored above) win.
  const same = JSON.stringify(msg.params) === JSON.stringify(seeded) && msg.source === source;
  if (!(restoring && same)) seed(msg.params, msg.source);
  restoring = false;
});

onThemeChange(() => {
  theme = readTheme();
  applyTheme(chart, theme);
  frames.schedule('chart', draw);
});

// Restore an edited form after VS Code reloaded the webview; the host's `params` replace it only
// when the explorer is opened again with other parameters.
sourceNote.textContent = `seeded from ${source}`;
writeForm(saved?.form ?? formOf(seeded));
update();
host.post({ type: 'ready' });
