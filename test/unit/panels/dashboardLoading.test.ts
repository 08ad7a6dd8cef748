// While a big run's first load is under way the dashboard says how far it is (issue 14): the header
// carries the tailer's progress, each step of it reaches the page, and the page shows one line an
// e2e test finds by data-testid="run-loading", gone once the load is done.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadedPercent, loadedSize, loadingLine, type LoadProgress } from '../../../common/loading';
import type { DashboardHeader, DashboardState } from '../../../common/protocol/dashboard';
import { DashboardFeed } from '../../../extension/panels/dashboardData';
import { renderHeader } from '../../../webview/dashboard/header';
import { applyDelta } from '../../../webview/lib/dashboardStore';
import { h } from '../../../webview/ui/dom';
import { FakeElement, installFakeDocument } from './fakeDom';
import { modelOf, runStart, stepLines } from './fixtures';

const alive = () => true;
const MB = 1e6;

test('the loading line: whole percent and megabytes read of the total', () => {
  const p = { bytes: 3_400 * MB, total: 8_046 * MB };
  assert.equal(loadedPercent(p), 42);
  assert.equal(loadedSize(p), '3,400 of 8,046 MB');
  assert.equal(loadingLine(p), 'Loading… 42 % (3,400 of 8,046 MB): charts fill in as the file is read; rollouts appear when it is done');
  assert.equal(loadedPercent({ bytes: 0, total: 0 }), 0, 'an empty file is 0 %, not NaN');
  assert.equal(loadedPercent({ bytes: 9, total: 8 }), 100, 'a file that grew during the load stops at 100 %');
});

test('the header carries the load\'s progress; each step of it is an increment; null once done', () => {
  const { dir, model } = modelOf([runStart(), ...stepLines(1)]);
  let loading: LoadProgress | undefined = { bytes: 412 * MB, total: 8_046 * MB };
  const feed = new DashboardFeed(model, 'r', dir, alive, () => loading);
  const webview: DashboardState = structuredClone(feed.full());
  assert.deepEqual(webview.header.loading, { bytes: 412 * MB, total: 8_046 * MB });
  assert.equal(feed.next(), undefined, 'no progress, no message');

  loading = { bytes: 3_400 * MB, total: 8_046 * MB };
  const msg = feed.next();
  assert.equal(msg?.type, 'append', 'progress alone reaches the page');
  if (msg?.type !== 'append') return;
  assert.equal(applyDelta(webview, msg.delta).header, true);
  assert.deepEqual(webview.header.loading, loading);

  loading = undefined;
  const done = feed.next();
  assert.equal(done?.type === 'append' && done.delta.header.loading, null);
});

test('the page shows the loading line (data-testid run-loading) only while loading', () => {
  const dom = installFakeDocument();
  try {
    const header: DashboardHeader = {
      label: 'r', runDir: '/r', method: 'hbpo', status: 'running', step: 3, totalSteps: 629, stepsPerSecond: null,
      etaSeconds: null, device: 'cuda', errorCount: 0, preparing: null, loading: { bytes: 3_400 * MB, total: 8_046 * MB },
    };
    const root = h('header') as unknown as FakeElement;
    renderHeader(root as unknown as HTMLElement, header);
    const line = root.all().filter((e) => e.getAttribute('data-testid') === 'run-loading');
    assert.equal(line.length, 1);
    assert.equal(line[0].textContent, 'Loading… 42 % (3,400 of 8,046 MB): charts fill in as the file is read; rollouts appear when it is done');

    renderHeader(root as unknown as HTMLElement, { ...header, loading: null });
    assert.deepEqual(root.all().filter((e) => e.getAttribute('data-testid') === 'run-loading'), [], 'gone once loaded');
  } finally {
    dom.restore();
  }
});
