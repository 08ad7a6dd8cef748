// Trace text, problems, answers and labels are untrusted: they must reach the page as text nodes.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { renderEvals } from '../../../webview/dashboard/evalView';
import { renderHeader } from '../../../webview/dashboard/header';
import { groupRows, NO_FILTER } from '../../../webview/lib/rolloutTable';
import type { RolloutRow } from '../../../common/protocol/rollouts';
import { renderRolloutTable } from '../../../webview/rollouts/table';
import { fill, h } from '../../../webview/ui/dom';
import { FakeElement, installFakeDocument } from './fakeDom';
import { PAYLOAD } from './fixtures';

const row: RolloutRow = {
  sample: 3, tier: 512, nGen: 600, budget: 'over', truncated: false, correct: false, answer: PAYLOAD, reward: 0,
  f1: 3.2, f2: 3.9, cos: 3.8, penalty: 0.02, case: 'wrong', intra: -0.4, inter: -1, total: -1.4,
};

function withDom(fn: (created: FakeElement[]) => void): void {
  const dom = installFakeDocument();
  try {
    fn(dom.created);
  } finally {
    dom.restore();
  }
}

/** Nothing the payload describes became an element: no script, no img, no handler attribute. */
function assertNoInjectedElements(created: FakeElement[]): void {
  assert.deepEqual(created.filter((e) => e.tagName === 'script' || e.tagName === 'img'), []);
  for (const e of created) for (const name of e.attributes.keys()) assert.doesNotMatch(name, /^on/i);
}

test('h() and fill() put a payload in a text node, verbatim', () => {
  withDom((created) => {
    const pre = h('pre', { text: PAYLOAD });
    const div = h('div', {}, 'before ', PAYLOAD);
    fill(div, PAYLOAD);
    assert.equal(pre.textContent, PAYLOAD);
    assert.deepEqual((div as unknown as FakeElement).texts(), [PAYLOAD]);
    assertNoInjectedElements(created);
  });
});

test('h() refuses inline handlers and inline styles', () => {
  withDom(() => {
    assert.throws(() => h('div', { attrs: { onclick: 'alert(1)' } }), /refusing attribute onclick/);
    assert.throws(() => h('div', { attrs: { OnError: 'x' } }), /refusing/);
    assert.throws(() => h('div', { attrs: { style: 'color: red' } }), /refusing attribute style/);
  });
});

test('the rollout table shows a markup answer as text, and a click opens that rollout', () => {
  withDom((created) => {
    const opened: number[] = [];
    const table = renderRolloutTable(groupRows([row], NO_FILTER, { key: 'sample', dir: 'asc' }), { key: 'sample', dir: 'asc' },
      () => {}, (r) => opened.push(r.sample)) as unknown as FakeElement;
    assert.ok(table.texts().includes(PAYLOAD), 'the answer cell holds the payload as one text node');
    assertNoInjectedElements(created);
    const tr = table.all().find((e) => e.getAttribute('data-sample') === '3')!;
    tr.dispatch('click');
    tr.dispatch('keydown', { key: 'Enter' });
    tr.dispatch('keydown', { key: 'a' });
    assert.deepEqual(opened, [3, 3]);
  });
});

test('header and eval table show run labels and dataset names as text', () => {
  withDom((created) => {
    const root = h('header') as unknown as FakeElement;
    renderHeader(root as unknown as HTMLElement, {
      label: PAYLOAD, runDir: '/r', method: PAYLOAD, status: 'running', step: 1, totalSteps: 2, stepsPerSecond: null,
      etaSeconds: null, device: 'cpu', errorCount: 0, preparing: PAYLOAD, loading: null,
    });
    assert.ok(root.texts().includes(PAYLOAD));
    assert.ok(root.texts().includes(`preparing · ${PAYLOAD}`));
    const evals = h('div') as unknown as FakeElement;
    renderEvals(evals as unknown as HTMLElement, [{
      step: 1, time: 1, dataset: PAYLOAD, mode: 'natural', n: 1, accuracy: 1, mean_tokens: 5, by_difficulty: { [PAYLOAD]: { n: 1, accuracy: 1, mean_tokens: 5 } },
    }]);
    assert.ok(evals.texts().includes(PAYLOAD), 'the dataset name');
    assert.ok(evals.texts().includes(`difficulty ${PAYLOAD}`), 'the difficulty name');
    assertNoInjectedElements(created);
  });
});

test('no webview source parses markup (innerHTML and friends)', () => {
  const root = join(__dirname, '../../../webview');
  const files = readdirSync(root, { recursive: true }).map(String).filter((f) => f.endsWith('.ts'));
  assert.ok(files.length > 10, 'found the webview sources');
  const forbidden = [
    /\.innerHTML\s*\+?=/, /\.outerHTML\s*\+?=/, /insertAdjacentHTML\s*\(/, /document\.write/, /createContextualFragment/,
    /new\s+DOMParser/, /\bunsafeHTML\b/, /\bsrcdoc\b/,
  ];
  for (const f of files) {
    const text = readFileSync(join(root, f), 'utf8');
    for (const re of forbidden) assert.doesNotMatch(text, re, `${f} uses ${re}`);
  }
});
