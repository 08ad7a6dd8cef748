import assert from 'node:assert/strict';
import { test } from 'node:test';
import { f1, f2, rewardBreakdown } from '../../../common/budgetMath';
import { adjacentCrossings, thin, tierCurves } from '../../../webview/lib/rewardCurves';

const paper = { tiers: [1024, 512, 2048, 2560], lMax: 4096, alpha: 1 / 4096, beta: 4, variant: 'paper' as const };

test('curves cover n = 0..L_max per tier, sorted, and agree with budgetMath', () => {
  const curves = tierCurves(paper);
  assert.deepEqual(curves.map((c) => c.tier), [512, 1024, 2048, 2560]);
  for (const c of curves) {
    assert.equal(c.correct.length, 4097);
    assert.deepEqual(c.correct[0], [0, f2(c.tier, paper)], 'n = 0 is within budget: the ceiling');
    for (const n of [1, c.tier, c.tier + 1, 3000, 4096]) {
      const { lMax, alpha, beta } = paper;
      const expected = rewardBreakdown({ reward: 'hbpo', variant: 'paper', nGen: n, budget: c.tier, correct: true, truncated: false, lMax, alpha, beta }).reward;
      assert.equal(c.correct[n][1], expected, `tier ${c.tier}, n = ${n}`);
    }
  }
});

test('paper HBPO: each adjacent pair crosses once, where f1 of the smaller tier drops below the next ceiling', () => {
  const crossings = adjacentCrossings(tierCurves(paper));
  assert.deepEqual(crossings.map((c) => [c.lower, c.upper]), [[512, 1024], [1024, 2048], [2048, 2560]]);
  for (const c of crossings) {
    // brute force, straight from the formulas: first n > b_lower with f1(n, b_lower) < R(n | b_upper)
    const upper = (n: number) => (n <= c.upper ? f2(c.upper, paper) : f1(n, c.upper, paper));
    let expected = -1;
    for (let n = c.lower + 1; n <= paper.lMax; n++) {
      if (f1(n, c.lower, paper) < upper(n)) {
        expected = n;
        break;
      }
    }
    assert.equal(c.n, expected, `${c.lower}/${c.upper}`);
    assert.ok(c.upperReward > c.lowerReward, 'past the crossing the larger tier pays more');
    assert.ok(c.n > c.lower && c.n < c.upper, 'the crossing lies between the budgets');
  }
});

test('identical tiers never cross; touching is not crossing', () => {
  const curves = tierCurves({ ...paper, tiers: [512] });
  assert.deepEqual(adjacentCrossings([curves[0], { tier: 513, correct: curves[0].correct }]), []);
});

test('reference variant: min(f1, f2) is below the ceiling for short answers too', () => {
  const [c] = tierCurves({ ...paper, tiers: [512], variant: 'reference' });
  const [p] = tierCurves({ ...paper, tiers: [512] });
  assert.ok(c.correct[10][1] < f2(512, paper), 'an answer far shorter than its budget is paid f1 < f2');
  assert.equal(p.correct[10][1], f2(512, paper), 'the paper pays the ceiling');
  assert.equal(c.correct[10][1], f1(10, 512, paper));
});

test('thin keeps the ends and the marked lengths', () => {
  const curve = Array.from({ length: 1001 }, (_, n) => [n, n] as [number, number]);
  const t = thin(curve, 50, [513, 777]);
  assert.ok(t.length <= 53);
  assert.deepEqual(t[0], [0, 0]);
  assert.deepEqual(t[t.length - 1], [1000, 1000]);
  assert.ok(t.some(([n]) => n === 513) && t.some(([n]) => n === 777));
  assert.deepEqual(t.map(([n]) => n), [...t.map(([n]) => n)].sort((a, b) => a - b), 'still in order');
  assert.equal(thin(curve.slice(0, 10), 50).length, 10);
});
