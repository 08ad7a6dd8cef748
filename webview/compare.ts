// Budget comparison (webview side). Speaks common/protocol/compare.ts with
// extension/panels/comparePanel.ts: pick a GGUF model and a problem, choose modes, run; every column
// streams its text (as text: model output is untrusted) with a token meter against its budget, then
// shows the answer, its grade and reward; a chart and a table summarise tokens per mode.
import './ui/litNonce';
import './ui/elements';
import '@vscode-elements/elements/dist/vscode-textarea/index.js';
import './styles/base.css';
import './styles/compare.css';
import { ColumnStore, formOfSettings, summarize, meterOf, offeredModes, parseSettingsForm, tokensPerSecond, type SettingsForm } from '../common/compareView';
import { fmt } from './lib/format';
import { modeKeyLabel } from '../common/mode';
import { type ColumnState, type CompareInput, type CompareRequest, type CompareSettings, type CompareToWebview, type ModelState } from '../common/protocol/compare';
import { SummaryChart } from './compare/summaryChart';
import { fill, h } from './ui/dom';
import { connect } from './ui/vscodeApi';

type Field = HTMLElement & { value: string };

const host = connect<CompareRequest, CompareToWebview>();
const store = new ColumnStore();
let settings: CompareSettings | undefined;
let source = 'typed';

const field = (label: string, control: HTMLElement) => h('label', { class: 'field' }, h('span', { class: 'muted', text: label }), control);
const textfield = (label: string, size = 8) => h('vscode-textfield', { attrs: { 'aria-label': label, size } }) as Field;
const button = (label: string, onClick: () => void, secondary = false) =>
  h('vscode-button', { attrs: { secondary, 'aria-label': label }, text: label, on: { click: onClick } });

const modelLine = h('p', { class: 'model-line', attrs: { 'aria-live': 'polite' } });
const problemBox = h('vscode-textarea', { attrs: { 'aria-label': 'problem', rows: 4, placeholder: 'Type a problem, use the editor selection, or pick a dataset item' } }) as Field;
const truthField = textfield('ground truth', 16);
const sourceLine = h('p', { class: 'muted' });
const tiersField = textfield('tiers', 18);
const lMaxField = textfield('L_max', 6);
const samplesField = textfield('samples', 3);
const tempField = textfield('temperature', 4);
const seedField = textfield('seed', 6);
const modesRow = h('div', { class: 'row modes', attrs: { role: 'group', 'aria-label': 'modes' } });
const formErrors = h('div', { attrs: { 'aria-live': 'polite' } });
const note = h('p', { class: 'muted' });
const runButton = button('Run', () => run());
const stopButton = button('Stop', () => host.post({ type: 'stop' }), true);
const exportButton = button('Export JSON', () => host.post({ type: 'exportResults' }), true);
const columnsRoot = h('div', { class: 'columns' });
const chart = new SummaryChart();
const cards = new Map<string, { card: HTMLElement; meter: HTMLElement; meterFill: HTMLElement; meterLabel: HTMLElement; text: HTMLElement; footer: HTMLElement }>();

document.body.append(
  h('header', {}, h('h1', { text: 'Budget comparison' })),
  h('div', { class: 'row' }, modelLine, button('Choose model…', () => host.post({ type: 'pickModel' }), true)),
  h('h2', { text: 'Problem' }),
  problemBox,
  h('div', { class: 'row' }, field('ground truth (optional)', truthField),
    button('Use selection', () => host.post({ type: 'useSelection' }), true),
    button('Dataset item…', () => host.post({ type: 'pickDatasetItem' }), true)),
  sourceLine,
  h('h2', { text: 'Modes' }),
  h('div', { class: 'row' }, field('tiers', tiersField), field('L_max', lMaxField), field('samples per mode', samplesField),
    field('temperature', tempField), field('seed', seedField)),
  modesRow, formErrors,
  h('div', { class: 'row' }, runButton, stopButton, exportButton),
  note,
  columnsRoot,
  chart.root,
);
tiersField.addEventListener('input', () => renderModes(readForm().modes));
problemBox.addEventListener('input', () => { source = 'typed'; });

function readForm(): SettingsForm {
  const ticked = [...modesRow.querySelectorAll<HTMLElement & { checked: boolean; value: string }>('vscode-checkbox')]
    .filter((c) => c.checked).map((c) => c.value);
  return {
    tiers: tiersField.value, lMax: lMaxField.value, samples: samplesField.value, temperature: tempField.value,
    seed: seedField.value, modes: ticked,
  };
}

/** Mode checkboxes for the tiers typed; a mode newly offered (a tier just added) starts ticked. */
function renderModes(ticked: string[]): void {
  const before = new Set([...modesRow.querySelectorAll<HTMLElement & { value: string }>('vscode-checkbox')].map((c) => c.value));
  fill(modesRow, ...offeredModes(tiersField.value).map((key) =>
    h('vscode-checkbox', { attrs: { value: key, checked: ticked.includes(key) || !before.has(key), label: modeKeyLabel(key) } })));
}

function setSettings(s: CompareSettings): void {
  settings = s;
  const f = formOfSettings(s);
  tiersField.value = f.tiers;
  lMaxField.value = f.lMax;
  samplesField.value = f.samples;
  tempField.value = f.temperature;
  seedField.value = f.seed;
  modesRow.replaceChildren();
  renderModes(f.modes);
  for (const box of modesRow.querySelectorAll<HTMLElement & { checked: boolean; value: string }>('vscode-checkbox')) {
    box.checked = f.modes.includes(box.value); // the saved choice, including modes left out
  }
}

function setInput(input: CompareInput | null): void {
  if (!input) return;
  problemBox.value = input.problem;
  truthField.value = input.groundTruth ?? '';
  source = input.source;
  sourceLine.textContent = `From: ${input.source}`;
}

function renderModel(m: ModelState): void {
  const name = m.name ?? 'no model';
  switch (m.status) {
    case 'none': modelLine.textContent = 'No model loaded: choose a GGUF file (or set hbpo.inference.modelPath).'; break;
    case 'loading': modelLine.textContent = `Loading ${name}…`; break;
    case 'error': modelLine.textContent = `Could not load ${name}: ${m.message ?? 'unknown error'}`; break;
    case 'loaded':
      modelLine.textContent = `${name} · ${m.gpu ? m.gpu.toUpperCase() : 'CPU'} · ${m.threads} thread${m.threads === 1 ? '' : 's'} · ` +
        `${m.sequences} parallel sequences × ${m.contextSize} tokens · ${m.chatTemplate ? 'chat template' : 'no chat template: plain prompt'}`;
  }
  modelLine.className = `model-line${m.status === 'error' ? ' error-text' : ''}`;
  modelLine.setAttribute('data-status', m.status);
}

function run(): void {
  const parsed = parseSettingsForm(readForm());
  if (!parsed.ok) {
    fill(formErrors, ...parsed.errors.map((e) => h('p', { class: 'error-text', text: e })));
    return;
  }
  fill(formErrors);
  const problem = problemBox.value;
  if (!problem.trim()) {
    fill(formErrors, h('p', { class: 'error-text', text: 'problem: type or pick a problem first' }));
    return;
  }
  const truth = truthField.value.trim();
  host.post({ type: 'run', input: { problem, groundTruth: truth ? truth : null, source }, settings: parsed.settings });
}

function makeCard(c: ColumnState) {
  const meterFill = h('div', { class: 'meter-fill' });
  const meter = h('div', { class: 'meter', attrs: { role: 'meter', 'aria-label': `${modeKeyLabel(c.mode)} tokens`, 'aria-valuemin': 0 } }, meterFill);
  const meterLabel = h('div', { class: 'meter-label muted' });
  const text = h('pre', { class: 'trace-text' });
  const footer = h('div', { class: 'footer' });
  const card = h('div', { class: 'card column', attrs: { 'data-key': c.key, 'data-mode': c.mode } },
    h('div', { class: 'row column-head' }, h('h3', { text: `${modeKeyLabel(c.mode)}${settings && settings.samples > 1 ? ` · sample ${c.sample}` : ''}` }),
      h('vscode-button', { attrs: { secondary: true, 'aria-label': 'open as trace' }, text: 'Open as trace', on: { click: () => host.post({ type: 'openTrace', key: c.key }) } })),
    meter, meterLabel, text, footer);
  return { card, meter, meterFill, meterLabel, text, footer };
}

function renderColumn(c: ColumnState, fullText: boolean): void {
  let parts = cards.get(c.key);
  if (!parts) {
    parts = makeCard(c);
    cards.set(c.key, parts);
    columnsRoot.append(parts.card);
    fullText = true;
  }
  const m = meterOf(c);
  parts.meterFill.className = `meter-fill${m.over ? ' over' : ''}`;
  parts.meterFill.setAttribute('data-fraction', m.fraction.toFixed(3));
  // The CSP forbids inline styles; the width is a CSS custom property set through the CSSOM.
  parts.meterFill.style.setProperty('--fill', String(m.fraction));
  parts.meter.setAttribute('aria-valuenow', String(c.tokens));
  parts.meter.setAttribute('aria-valuemax', String(c.budget ?? c.maxTokens));
  parts.meterLabel.textContent = m.label;
  parts.card.setAttribute('data-status', c.status);
  parts.card.setAttribute('data-tokens', String(c.tokens));
  if (fullText || parts.text.textContent !== c.text) parts.text.textContent = c.text;
  const tps = tokensPerSecond(c);
  const verdict = c.correct === true ? 'correct' : c.correct === false ? 'wrong' : 'not graded';
  const r = c.reward;
  fill(parts.footer,
    h('div', { class: 'status', text: c.status === 'running' || c.status === 'waiting' ? c.status + '…'
      : `${c.status}${c.stopReason ? ` (${c.stopReason})` : ''}${c.ms !== undefined ? ` · ${(c.ms / 1000).toFixed(1)} s` : ''}${tps ? ` · ${tps.toFixed(1)} tokens/s` : ''}` +
        `${c.promptTokens ? ` · prompt ${c.promptTokens} tokens` : ''}` }),
    c.status === 'done' ? h('div', { class: 'answer' }, 'answer: ', h('code', { text: c.answer ?? '—' }), ` · ${verdict}`) : null,
    r ? h('div', { class: 'reward', text: `reward ${fmt(r.reward)} (${r.case}) · cos ${fmt(r.cos)}` +
      (r.f2 !== null ? ` · f2 ${fmt(r.f2)} · penalty ${fmt(r.penalty, 4)} · f1 ${fmt(r.f1)}` : '') }) : null,
    c.error ? h('div', { class: 'error-text', text: c.error }) : null,
  );
}

function renderAll(): void {
  columnsRoot.replaceChildren();
  cards.clear();
  for (const c of store.columns) renderColumn(c, true);
  renderSummary();
  renderRunning();
}

function renderSummary(): void {
  if (!settings) return;
  chart.update(summarize(store.columns, settings.modes), settings.samples);
}

function renderRunning(): void {
  runButton.toggleAttribute('disabled', store.running);
  stopButton.toggleAttribute('disabled', !store.running);
  exportButton.toggleAttribute('disabled', store.columns.length === 0 || store.running);
  document.body.setAttribute('data-running', String(store.running));
}

host.onMessage((msg) => {
  switch (msg.type) {
    case 'state':
      renderModel(msg.model);
      setInput(msg.input);
      setSettings(msg.settings);
      note.textContent = msg.gradingNote ?? '';
      store.apply(msg);
      renderAll();
      return;
    case 'model':
      renderModel(msg.model);
      return;
    case 'input':
      setInput(msg.input);
      return;
    case 'columns':
      settings = msg.settings;
      note.textContent = msg.gradingNote ?? '';
      store.apply(msg);
      renderAll();
      return;
    case 'error':
      fill(formErrors, h('p', { class: 'error-text', text: msg.message }));
      return;
    default: {
      const changed = store.apply(msg);
      if (changed.includes('*')) {
        renderSummary();
        renderRunning();
        return;
      }
      for (const key of changed) {
        const c = store.columns.find((x) => x.key === key);
        if (!c) continue;
        if (msg.type === 'chunk') appendChunk(c, msg.text);
        else renderColumn(c, true);
      }
      if (msg.type === 'column') renderSummary();
    }
  }
});

/** Streaming: append the new text node instead of re-setting the whole column. */
function appendChunk(c: ColumnState, text: string): void {
  const parts = cards.get(c.key);
  if (!parts) return renderColumn(c, true);
  parts.text.append(document.createTextNode(text));
  const m = meterOf(c);
  parts.meterFill.className = `meter-fill${m.over ? ' over' : ''}`;
  parts.meterFill.style.setProperty('--fill', String(m.fraction));
  parts.meterFill.setAttribute('data-fraction', m.fraction.toFixed(3));
  parts.meter.setAttribute('aria-valuenow', String(c.tokens));
  parts.meterLabel.textContent = m.label;
  parts.card.setAttribute('data-status', c.status);
  parts.card.setAttribute('data-tokens', String(c.tokens));
}

host.post({ type: 'ready' });
