import { modeOfTier, NATURAL } from '../../../common/mode';
import { tierInfoOf } from '../../../common/protocol/dashboard';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DashboardFeed, deviceLabel, tiersOf } from '../../../extension/panels/dashboardData';
import { applyDelta, redrawsFor } from '../../../webview/lib/dashboardStore';
import type { DashboardState } from '../../../common/protocol/dashboard';
import { appendTo, evalLine, line, modelOf, runStart, stepLines } from './fixtures';

const alive = () => true;

test('full state: header, tiers, every series, evals and rollout steps', () => {
  const { dir, model } = modelOf([runStart(), ...stepLines(1), ...stepLines(2), evalLine(2, 'natural', 0.5, 60)]);
  const state = new DashboardFeed(model, 'my run', dir, alive).full();
  assert.deepEqual(state.header, {
    label: 'my run', runDir: dir, method: 'hbpo', status: 'running', step: 2, totalSteps: 6, stepsPerSecond: 0.5,
    etaSeconds: 8, device: 'cpu', errorCount: 0, preparing: null, loading: null,
  });
  assert.deepEqual(state.tiers, [tierInfoOf(modeOfTier(32)), tierInfoOf(modeOfTier(64))]);
  assert.equal(state.maxResponseTokens, 128);
  assert.deepEqual(state.series.loss, { steps: [1, 2], values: [1, 0.5] });
  assert.deepEqual(state.series['budget/32/mean_length'].steps, [1, 2]);
  assert.equal(state.evals.length, 1);
  assert.deepEqual(state.rolloutSteps, [1, 2]);
});

test('increments carry only what is new, nothing when nothing changed, and rebuild the same state', () => {
  const { dir, model } = modelOf([runStart(), ...stepLines(1)]);
  let lines = [runStart(), ...stepLines(1)];
  const feed = new DashboardFeed(model, 'r', dir, alive);
  const webview: DashboardState = structuredClone(feed.full());
  assert.equal(feed.next(), undefined, 'no change, no message');

  lines = appendTo(dir, model, lines, [...stepLines(2), evalLine(2, 'efficiency', 0.7, 40)]);
  const msg = feed.next();
  assert.equal(msg?.type, 'append');
  if (msg?.type !== 'append') return;
  assert.deepEqual(msg.delta.appended.loss, { steps: [2], values: [0.5] }, 'step 1 is not sent again');
  assert.deepEqual(msg.delta.rolloutSteps, [2]);
  assert.equal(msg.delta.evals.length, 1);
  const changes = applyDelta(webview, msg.delta);
  assert.deepEqual(redrawsFor(changes), { tierCharts: true, globalCharts: true, histograms: true, evals: true });

  // Rollouts of step 3 arrive before its step event: only the step list changes.
  const s3 = stepLines(3);
  lines = appendTo(dir, model, lines, s3.slice(0, 3));
  const partial = feed.next();
  assert.equal(partial?.type, 'append');
  if (partial?.type !== 'append') return;
  assert.deepEqual(partial.delta.appended, {});
  assert.deepEqual(partial.delta.rolloutSteps, [3]);
  applyDelta(webview, partial.delta);
  lines = appendTo(dir, model, lines, [...s3.slice(3), line('run_end', 3, { status: 'finished', checkpoint: null })]);
  const end = feed.next();
  assert.equal(end?.type, 'append');
  if (end?.type !== 'append') return;
  assert.equal(end.delta.header.status, 'finished');
  applyDelta(webview, end.delta);

  // The webview's copy, built from increments, equals a fresh full state.
  const fresh = new DashboardFeed(model, 'r', dir, alive).full();
  assert.deepEqual(webview, fresh);
  // A repeated delivery of an old increment adds no duplicate points.
  applyDelta(webview, msg.delta);
  assert.deepEqual(webview.series, fresh.series);
});

test('a resumed run that supersedes steps gets a full state', () => {
  const { dir, model } = modelOf([runStart(), ...stepLines(1), ...stepLines(2)]);
  let lines = [runStart(), ...stepLines(1), ...stepLines(2)];
  const feed = new DashboardFeed(model, 'r', dir, alive);
  feed.full();
  lines = appendTo(dir, model, lines, [runStart(1, 1), ...stepLines(2, 10)]);
  const msg = feed.next();
  assert.equal(msg?.type, 'state');
  if (msg?.type !== 'state') return;
  assert.deepEqual(msg.state.series.loss, { steps: [1, 2], values: [1, 10.5] }, 'the new attempt\'s step 2');
  assert.equal(feed.next(), undefined);
});

test('status change alone (the process died) is an increment', () => {
  let isAlive = true;
  const { dir, model } = modelOf([runStart(), ...stepLines(1)]);
  const feed = new DashboardFeed(model, 'r', dir, () => isAlive);
  feed.full();
  isAlive = false;
  const msg = feed.next();
  assert.equal(msg?.type === 'append' && msg.delta.header.status, 'stale');
});

test('tiers: the run_start tiers and natural from the step metrics, in the one mode order (natural first)', () => {
  const { model } = modelOf([runStart(), line('step', 1, { metrics: { 'budget/natural/mean_length': 5 } })]);
  assert.deepEqual(tiersOf(model), [
    { mode: NATURAL, label: 'natural', budget: null },
    { mode: { kind: 'tier', budget: 32 }, label: '32', budget: 32 },
    { mode: { kind: 'tier', budget: 64 }, label: '64', budget: 64 },
  ]);
});

test('before run_start the header says what the trainer is preparing; once started, nothing', () => {
  const building = line('log', 0, { level: 'info', message: 'testbed: sft step 300/1800 loss 0.8123' });
  const lines = [line('log', 0, { level: 'info', message: 'testbed: building the base model' }), building];
  const { dir, model } = modelOf(lines);
  const feed = new DashboardFeed(model, 'r', dir, alive);
  const early = feed.full().header;
  assert.equal(early.status, 'pending');
  assert.equal(early.preparing, 'testbed: sft step 300/1800 loss 0.8123', 'the latest log line');
  appendTo(dir, model, lines, [runStart()]);
  const msg = feed.next(); // run_start resets the webview: a full state
  assert.equal(msg?.type, 'state');
  assert.equal(msg?.type === 'state' ? msg.state.header.preparing : 'no state', null);
  assert.equal(msg?.type === 'state' ? msg.state.header.status : 'no state', 'running');
});

test('a run of several processes says how many and on what devices in its header', () => {
  assert.equal(deviceLabel({ device: 'cuda' }), 'cuda');
  assert.equal(deviceLabel({ device: 'cpu', world_size: 1, devices: ['cpu'] }), 'cpu');
  assert.equal(deviceLabel({ device: 'cuda:0', world_size: 4, devices: ['cuda:0', 'cuda:1', 'cuda:2', 'cuda:3'] }),
    '4 processes · cuda:0, cuda:1, cuda:2, cuda:3');
  assert.equal(deviceLabel({ device: 'cpu', world_size: 2, devices: ['cpu', 'cpu'] }), '2 processes · cpu');
  const { dir, model } = modelOf([runStart().replace('"device":"cpu"', '"device":"cpu","world_size":2,"devices":["cpu","cpu"]')]);
  assert.equal(new DashboardFeed(model, 'r', dir, alive).full().header.device, '2 processes · cpu');
});
