import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FrameCoalescer } from '../../../webview/lib/coalesce';
import { withAlpha } from '../../../webview/lib/color';
import { fmt, fmtDuration, fmtPct, fmtRate, preview } from '../../../webview/lib/format';

test('withAlpha reads the colour forms VS Code themes use', () => {
  assert.equal(withAlpha('#3794ff', 0.5), 'rgba(55, 148, 255, 0.5)');
  assert.equal(withAlpha('#fff', 0.25), 'rgba(255, 255, 255, 0.25)');
  assert.equal(withAlpha('#ff000080', 0.5), 'rgba(255, 0, 0, 0.251)', 'existing alpha multiplies');
  assert.equal(withAlpha('rgb(1, 2, 3)', 0.2), 'rgba(1, 2, 3, 0.2)');
  assert.equal(withAlpha('rgba(1,2,3,0.5)', 0.5), 'rgba(1, 2, 3, 0.25)');
  assert.equal(withAlpha('var(--x)', 0.5), 'var(--x)', 'unknown forms pass through');
});

test('coalescer: one run per key per frame, the last function wins', () => {
  const frames: (() => void)[] = [];
  const c = new FrameCoalescer((cb) => frames.push(cb));
  const calls: string[] = [];
  c.schedule('a', () => calls.push('a1'));
  c.schedule('a', () => calls.push('a2'));
  c.schedule('b', () => calls.push('b'));
  assert.equal(frames.length, 1, 'one frame requested for three schedules');
  assert.deepEqual([...calls], []);
  frames[0]();
  assert.deepEqual([...calls], ['a2', 'b']);
  c.schedule('a', (): void => {
    throw new Error('broken chart');
  });
  c.schedule('b', () => calls.push('b again'));
  const origError = console.error;
  console.error = () => {};
  try {
    frames[1]();
  } finally {
    console.error = origError;
  }
  assert.deepEqual(calls, ['a2', 'b', 'b again'], 'one failing job does not stop the rest');
});

test('formatting', () => {
  assert.equal(fmt(null), '—');
  assert.equal(fmt(Number.NaN), '—');
  assert.equal(fmt(1.23456, 2), '1.23');
  assert.equal(fmtPct(0.637), '63.7 %');
  assert.equal(fmtDuration(75), '1 min 15 s');
  assert.equal(fmtDuration(3725), '1 h 2 min');
  assert.equal(fmtRate(0.25), '4.0 s/step');
  assert.equal(fmtRate(2), '2.00 steps/s');
  assert.equal(fmtRate(null), '—');
  assert.equal(preview('a\n\n b   c', 80), 'a b c');
  assert.equal(preview('x'.repeat(100), 10), `${'x'.repeat(9)}…`);
});
