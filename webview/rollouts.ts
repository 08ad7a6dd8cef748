// Rollout-group inspector (webview side). Speaks common/protocol/rollouts.ts with
// extension/panels/rolloutPanel.ts: pick a step and a query, see its rollouts by tier with every
// reward term and advantage; click a rollout to open its trace as a read-only document.
import './ui/litNonce';
import './ui/elements';
import './styles/base.css';
import { preview } from './lib/format';
import { groupRows, nextSort, NO_FILTER, type RowFilter, type SortSpec } from './lib/rolloutTable';
import { RequestIds } from '../common/protocol/common';
import type { GroupView, InspectorState, QueryInfo, RolloutsRequest, RolloutsToWebview } from '../common/protocol/rollouts';
import { renderRolloutTable } from './rollouts/table';
import { append, fill, h } from './ui/dom';
import { connect } from './ui/vscodeApi';

interface ViewState {
  /** The run on show: VS Code hands this state back to the host when it restores the panel. */
  runDir?: string;
  step?: number;
  queryIndex?: number;
  filter: RowFilter;
  sort: SortSpec;
}

type Select = HTMLElement & { value: string };

const host = connect<RolloutsRequest, RolloutsToWebview>();
const view: ViewState = { filter: NO_FILTER, sort: { key: 'sample', dir: 'asc' }, ...host.getState<ViewState>() };
const ids = new RequestIds();
let info: InspectorState | undefined;
let queries: QueryInfo[] = [];
let group: GroupView | undefined;
let queriesRequest = 0;
let groupRequest = 0;

const title = h('h1', { text: 'Rollouts' });
const stepSelect = h('vscode-single-select', { attrs: { 'aria-label': 'step' } }) as Select;
const querySelect = h('vscode-single-select', { attrs: { 'aria-label': 'query', combobox: true } }) as Select;
const tierSelect = h('vscode-single-select', { attrs: { 'aria-label': 'tier filter' } }) as Select;
const correctSelect = h('vscode-single-select', { attrs: { 'aria-label': 'correctness filter' } }) as Select;
const status = h('p', { class: 'muted', attrs: { 'aria-live': 'polite' } });
const problem = h('div');
const tableRoot = h('div');

const field = (label: string, control: HTMLElement) => h('label', { class: 'field' }, h('span', { class: 'muted', text: label }), control);
document.body.append(
  h('header', {}, title),
  h('div', { class: 'row' }, field('step', stepSelect), field('query', querySelect), field('tier', tierSelect), field('correct', correctSelect)),
  status, problem, tableRoot,
);
fill(correctSelect, ...(['all', 'correct', 'incorrect'] as const).map((v) =>
  h('vscode-option', { attrs: { value: v, selected: view.filter.correct === v }, text: v === 'incorrect' ? 'wrong or truncated' : v })));

function save(): void {
  host.setState(view);
}

function option(value: string, text: string, selected: boolean): HTMLElement {
  return h('vscode-option', { attrs: { value, selected }, text });
}

function renderSteps(): void {
  const steps = info?.steps ?? [];
  if (view.step === undefined || !steps.includes(view.step)) view.step = steps[steps.length - 1];
  fill(stepSelect, ...steps.map((s) => option(String(s), `step ${s}`, s === view.step)));
  if (steps.length === 0) status.textContent = 'No rollouts in this run yet.';
}

function renderTierFilter(): void {
  const tiers = [...new Set(group?.rows.map((r) => r.tier) ?? info?.tiers ?? [])];
  const value = (t: number | null) => (t === null ? 'natural' : String(t));
  const current = view.filter.tier === 'all' ? 'all' : String(view.filter.tier);
  fill(tierSelect, option('all', 'all tiers', current === 'all'),
    ...tiers.sort((a, b) => (a ?? Infinity) - (b ?? Infinity)).map((t) => option(value(t), t === null ? 'natural' : `${t} tokens`, value(t) === current)));
}

function requestQueries(): void {
  if (view.step === undefined) return;
  queriesRequest = ids.next();
  status.textContent = `Loading the queries of step ${view.step}…`;
  host.post({ type: 'queries', id: queriesRequest, step: view.step });
}

function requestGroup(): void {
  if (view.step === undefined || view.queryIndex === undefined) return;
  groupRequest = ids.next();
  status.textContent = `Loading query ${view.queryIndex} of step ${view.step}…`;
  host.post({ type: 'group', id: groupRequest, step: view.step, queryIndex: view.queryIndex });
}

function renderQueries(): void {
  if (view.queryIndex === undefined || !queries.some((q) => q.queryIndex === view.queryIndex)) view.queryIndex = queries[0]?.queryIndex;
  fill(querySelect, ...queries.map((q) => option(String(q.queryIndex),
    `#${q.queryIndex} · ${q.queryId}${q.difficulty ? ` (${q.difficulty})` : ''} · ${q.correct}/${q.rollouts} correct · ${preview(q.problem, 70)}`,
    q.queryIndex === view.queryIndex)));
}

function renderGroup(): void {
  if (!group) return;
  const g = group;
  fill(problem,
    h('div', { class: 'row muted' },
      h('span', { text: `query ${g.queryIndex} · ${g.queryId}` }),
      g.difficulty ? h('span', { text: `difficulty ${g.difficulty}` }) : null,
      h('span', {}, 'ground truth: ', h('code', { text: g.groundTruth })),
      h('vscode-button', { attrs: { secondary: true, 'aria-label': 'compare budgets' }, text: 'Compare budgets on a local model…',
        on: { click: () => host.post({ type: 'compare', step: g.step, queryIndex: g.queryIndex }) } })),
    h('pre', { class: 'text', text: g.problem }),
    ...g.errors.map((e) => h('div', { class: 'error-text', text: e })));
  const groups = groupRows(g.rows, view.filter, view.sort);
  const table = renderRolloutTable(groups, view.sort,
    (key) => { view.sort = nextSort(view.sort, key); save(); renderGroup(); },
    (row) => host.post({ type: 'openTrace', key: { step: g.step, queryIndex: g.queryIndex, tier: row.tier, sample: row.sample } }));
  fill(tableRoot, table);
  if (groups.length === 0) append(tableRoot, h('p', { class: 'muted', text: 'No rollout passes the filter.' }));
  status.textContent = `${g.rows.length} rollouts · click one (or press Enter) to open its trace`;
}

host.onMessage((msg) => {
  switch (msg.type) {
    case 'state':
      info = msg.state;
      title.textContent = `Rollouts · ${info.label}`;
      title.title = info.runDir;
      view.runDir = info.runDir;
      save();
      if (info.target.step !== undefined) view.step = info.target.step;
      if (info.target.queryIndex !== undefined) view.queryIndex = info.target.queryIndex;
      renderSteps();
      renderTierFilter();
      requestQueries();
      break;
    case 'steps': {
      if (!info) return;
      const hadStep = view.step;
      info.steps = msg.steps;
      renderSteps();
      if (view.step !== hadStep) requestQueries();
      break;
    }
    case 'select':
      if (msg.step !== undefined) view.step = msg.step;
      if (msg.queryIndex !== undefined) view.queryIndex = msg.queryIndex;
      save();
      renderSteps();
      requestQueries();
      break;
    case 'queries':
      if (msg.id !== queriesRequest) return; // an answer to a step the user has left
      queries = msg.queries;
      renderQueries();
      requestGroup();
      break;
    case 'group':
      if (msg.id !== groupRequest) return;
      group = msg.group;
      renderTierFilter();
      renderGroup();
      break;
    case 'error':
      if (msg.id === queriesRequest || msg.id === groupRequest) status.textContent = msg.message;
      break;
  }
});

stepSelect.addEventListener('change', () => {
  view.step = Number(stepSelect.value);
  view.queryIndex = undefined;
  save();
  requestQueries();
});
querySelect.addEventListener('change', () => {
  const qi = Number.parseInt(querySelect.value, 10);
  if (!Number.isInteger(qi) || qi === view.queryIndex) return; // typed text that matches no query
  view.queryIndex = qi;
  save();
  requestGroup();
});
tierSelect.addEventListener('change', () => {
  const v = tierSelect.value;
  view.filter = { ...view.filter, tier: v === 'all' || v === 'natural' ? v : Number(v) };
  save();
  renderGroup();
});
correctSelect.addEventListener('change', () => {
  view.filter = { ...view.filter, correct: correctSelect.value as RowFilter['correct'] };
  save();
  renderGroup();
});

host.post({ type: 'ready' });
