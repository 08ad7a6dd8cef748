import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RequestIds } from '../../../common/protocol/common';
import { parseDashboardRequest } from '../../../common/protocol/dashboard';
import { parseRewardExplorerRequest } from '../../../common/protocol/rewardExplorer';
import { parseRolloutsRequest } from '../../../common/protocol/rollouts';

test('dashboard requests: well-formed ones pass through unchanged', () => {
  assert.deepEqual(parseDashboardRequest({ type: 'ready' }), { type: 'ready' });
  assert.deepEqual(parseDashboardRequest({ type: 'lengths', id: 3, step: 0 }), { type: 'lengths', id: 3, step: 0 });
  assert.deepEqual(parseDashboardRequest({ type: 'openInspector' }), { type: 'openInspector' });
  assert.deepEqual(parseDashboardRequest({ type: 'openInspector', step: 7 }), { type: 'openInspector', step: 7 });
  assert.deepEqual(parseDashboardRequest({ type: 'openRewardExplorer' }), { type: 'openRewardExplorer' });
});

test('dashboard requests: malformed ones are dropped', () => {
  const bad: unknown[] = [
    null, undefined, 'ready', 42, [], ['ready'], {}, { type: 'READY' }, { type: 'nope' },
    { type: 'ready', extra: 1 }, // another protocol's message, or a typo
    { type: 'lengths', step: 1 }, // no id
    { type: 'lengths', id: 0, step: 1 }, { type: 'lengths', id: -1, step: 1 }, { type: 'lengths', id: 1.5, step: 1 },
    { type: 'lengths', id: '1', step: 1 }, { type: 'lengths', id: 1, step: -1 }, { type: 'lengths', id: 1, step: 2.5 },
    { type: 'lengths', id: 1, step: Number.NaN }, { type: 'lengths', id: 1, step: 2 ** 60 },
    { type: 'openInspector', step: '3' }, { type: 'openInspector', step: null },
  ];
  for (const msg of bad) assert.equal(parseDashboardRequest(msg), undefined, JSON.stringify(msg));
});

test('inspector requests: well-formed pass, malformed are dropped', () => {
  assert.deepEqual(parseRolloutsRequest({ type: 'queries', id: 1, step: 2 }), { type: 'queries', id: 1, step: 2 });
  assert.deepEqual(parseRolloutsRequest({ type: 'group', id: 2, step: 2, queryIndex: 0 }), { type: 'group', id: 2, step: 2, queryIndex: 0 });
  const key = { step: 2, queryIndex: 1, tier: 128, sample: 5 };
  assert.deepEqual(parseRolloutsRequest({ type: 'openTrace', key }), { type: 'openTrace', key });
  assert.deepEqual(parseRolloutsRequest({ type: 'openTrace', key: { ...key, tier: null } }), { type: 'openTrace', key: { ...key, tier: null } });
  for (const msg of [
    { type: 'group', id: 2, step: 2 }, { type: 'group', id: 2, step: 2, queryIndex: -1 },
    { type: 'openTrace', step: 2, queryIndex: 1, sample: 5 }, // without its tier a sample names no rollout
    { type: 'openTrace', key: { step: 2, queryIndex: 1, sample: 5 } }, { type: 'openTrace', key: { ...key, sample: '5' } },
    { type: 'openTrace', key: { ...key, tier: 0 } }, { type: 'openTrace', key: { ...key, tier: 2 ** 53 } },
    { type: 'openTrace', key: { ...key, path: '/etc/passwd' } }, { type: 'openTrace', key, path: '/etc/passwd' },
    { type: 'queries', id: 1 }, { type: 'lengths', id: 1, step: 1 }, // a dashboard message is not an inspector one
  ]) {
    assert.equal(parseRolloutsRequest(msg), undefined, JSON.stringify(msg));
  }
});

test('explorer requests: only ready', () => {
  assert.deepEqual(parseRewardExplorerRequest({ type: 'ready' }), { type: 'ready' });
  assert.equal(parseRewardExplorerRequest({ type: 'params' }), undefined);
  assert.equal(parseRewardExplorerRequest({ type: 'ready', x: 1 }), undefined);
});

test('request ids are positive and distinct', () => {
  const ids = new RequestIds();
  const seen = new Set([ids.next(), ids.next(), ids.next()]);
  assert.equal(seen.size, 3);
  for (const id of seen) assert.ok(id >= 1);
});

test('rollouts: compare asks for a query of a step, nothing else', () => {
  assert.deepEqual(parseRolloutsRequest({ type: 'compare', step: 3, queryIndex: 1 }), { type: 'compare', step: 3, queryIndex: 1 });
  for (const bad of [{ type: 'compare', step: 3 }, { type: 'compare', step: -1, queryIndex: 0 }, { type: 'compare', step: 1, queryIndex: 0, problem: 'x' }]) {
    assert.equal(parseRolloutsRequest(bad), undefined, JSON.stringify(bad));
  }
});
