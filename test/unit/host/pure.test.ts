// The extension wiring's pure helpers: settings paths, config detection, Runs view wording.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  describeRun, expandFolderSetting, formatDuration, formatRate, isInside, isTrainerConfigText, lastNonEmpty, statusBarText,
} from '../../../extension/host/pure';

test('expandFolderSetting resolves against the workspace folder and expands ~ and variables', () => {
  assert.equal(expandFolderSetting('runs', '/ws', '/home/u'), '/ws/runs');
  assert.equal(expandFolderSetting('', '/ws', '/home/u'), '/ws/runs');
  assert.equal(expandFolderSetting('../other/runs', '/ws/a', undefined), '/ws/other/runs');
  assert.equal(expandFolderSetting('/abs/runs/', '/ws', undefined), '/abs/runs');
  assert.equal(expandFolderSetting('~/r', '/ws', '/home/u'), '/home/u/r');
  assert.equal(expandFolderSetting('${userHome}/r', '/ws', '/home/u'), '/home/u/r');
  assert.equal(expandFolderSetting('${workspaceFolder}/out/runs', '/ws', undefined), '/ws/out/runs');
  assert.equal(expandFolderSetting('runs', undefined, '/home/u'), undefined, 'relative without a folder');
});

test('isInside compares whole path segments', () => {
  assert.equal(isInside('/ws/runs/a', '/ws/runs'), true);
  assert.equal(isInside('/ws/runs', '/ws/runs'), true);
  assert.equal(isInside('/ws/runs2/a', '/ws/runs'), false);
  assert.equal(isInside('/ws', '/ws/runs'), false);
});

test('isTrainerConfigText: a top-level method: or tiers: key', () => {
  assert.equal(isTrainerConfigText('# c\nmethod: hbpo\n', 'a.yaml'), true);
  assert.equal(isTrainerConfigText('tiers: [8, 16]\n', 'a.yml'), true);
  assert.equal(isTrainerConfigText('run:\n  method: x\n', 'a.yaml'), false, 'nested keys do not count');
  assert.equal(isTrainerConfigText('name: build\non: push\n', 'ci.yaml'), false);
  assert.equal(isTrainerConfigText('{"method": "grpo"}', 'c.json'), true);
  assert.equal(isTrainerConfigText('{"name": "x", "scripts": {"method": 1}}', 'package.json'), false);
  assert.equal(isTrainerConfigText('[1, 2]', 'c.json'), false);
  assert.equal(isTrainerConfigText('{not json', 'c.json'), false);
});

test('describeRun and statusBarText say status, step/total and the rate while running', () => {
  assert.equal(describeRun({ status: 'running', step: 12, totalSteps: 40, stepsPerSecond: 0.523 }), 'running · 12/40 · 0.52 steps/s');
  assert.equal(describeRun({ status: 'finished', step: 40, totalSteps: 40, stepsPerSecond: 2 }), 'finished · 40/40');
  assert.equal(describeRun({ status: 'pending', step: 0 }), 'starting · 0');
  assert.equal(describeRun({ status: 'running', step: 1, totalSteps: 5, stepsPerSecond: null }), 'running · 1/5');
  assert.equal(statusBarText({ status: 'running', step: 3, totalSteps: 40, stepsPerSecond: 12.4 }), 'HBPO 3/40 · 12 steps/s');
  assert.equal(formatRate(0.01), '0.6 steps/min');
  assert.equal(formatRate(0), undefined);
  assert.equal(formatRate(Number.NaN), undefined);
});

test('formatDuration and lastNonEmpty', () => {
  assert.equal(formatDuration(12.4), '12 s');
  assert.equal(formatDuration(185), '3 min 05 s');
  assert.equal(formatDuration(3720), '1 h 02 min');
  assert.deepEqual(lastNonEmpty(['a', '', 'b', '  ', 'c'], 2), ['b', 'c']);
});
