import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultParams, effectiveAlpha, formOf, parseNumber, parseRewardForm, type RewardForm } from '../../../common/rewardForm';

const good: RewardForm = { tiers: '1024, 512 2048;2560', lMax: '4096', alpha: '1/L_max', beta: '4', variant: 'paper' };

test('a good form gives sorted tiers and alpha null for 1/L_max', () => {
  const r = parseRewardForm(good);
  assert.ok(r.ok);
  assert.deepEqual(r.params, { tiers: [512, 1024, 2048, 2560], lMax: 4096, alpha: null, beta: 4, variant: 'paper' });
  assert.equal(effectiveAlpha(r.params), 1 / 4096);
});

test('alpha: empty, 1/Lmax, a number or a fraction', () => {
  const alpha = (text: string) => {
    const r = parseRewardForm({ ...good, alpha: text });
    return r.ok ? r.params.alpha : 'error';
  };
  assert.equal(alpha(''), null);
  assert.equal(alpha(' 1 / lmax '), null);
  assert.equal(alpha('0'), 0);
  assert.equal(alpha('1/2048'), 1 / 2048);
  assert.equal(alpha('2.5e-4'), 2.5e-4);
  assert.equal(alpha('-0.1'), 'error');
  assert.equal(alpha('1/0'), 'error', 'infinite');
  assert.equal(alpha('abc'), 'error');
});

test('bad values are reported per field, all at once', () => {
  const r = parseRewardForm({ tiers: '512, 512', lMax: '40.5', alpha: 'x', beta: '0', variant: 'paperish' });
  assert.ok(!r.ok);
  assert.deepEqual(r.errors.map((e) => e.field).sort(), ['alpha', 'beta', 'lMax', 'tiers', 'variant']);
});

test('tiers must be whole, distinct, at most L_max, and not too many', () => {
  const tierError = (tiers: string, lMax = '4096') => {
    const r = parseRewardForm({ ...good, tiers, lMax });
    return r.ok ? undefined : r.errors.find((e) => e.field === 'tiers')?.message;
  };
  assert.match(tierError('')!, /at least one/);
  assert.match(tierError('512, 1.5')!, /whole numbers/);
  assert.match(tierError('0')!, /whole numbers/);
  assert.match(tierError('512, 512')!, /differ/);
  assert.match(tierError('512, 8192')!, /at most L_max/);
  assert.match(tierError(Array.from({ length: 13 }, (_, i) => i + 1).join(','))!, /At most 12/);
  assert.equal(tierError('512'), undefined);
  assert.match(parseRewardForm({ ...good, lMax: '100000' }).ok ? '' : 'L_max', /L_max/);
});

test('parseNumber rejects what Number() would accept by accident', () => {
  assert.ok(Number.isNaN(parseNumber('')));
  assert.ok(Number.isNaN(parseNumber('0x10')));
  assert.ok(Number.isNaN(parseNumber('Infinity')));
  assert.equal(parseNumber(' 12 '), 12);
});

test('formOf and parseRewardForm round-trip', () => {
  const p = { ...defaultParams(), alpha: 0.003, variant: 'reference' as const };
  const r = parseRewardForm(formOf(p));
  assert.ok(r.ok);
  assert.deepEqual(r.params, p);
  assert.deepEqual((parseRewardForm(formOf(defaultParams())) as { params: unknown }).params, defaultParams());
});
