/**
 * The TypeScript budget math against the shared vectors (test/vectors/README.md) and a few
 * behaviours the UI relies on. Vectors are regenerated only with `python3 test/vectors/generate.py`.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import {
  HBPO_DEFAULTS,
  advantages,
  crossings,
  f1,
  f2,
  rewardBreakdown,
  rewardCurve,
  type EstimatorName,
  type HbpoVariant,
  type RewardName,
} from '../../common/budgetMath';

const TOL = 1e-9;
const vectorsDir = fileURLToPath(new URL('../vectors/', import.meta.url));

interface RewardVector {
  name: string;
  reward: RewardName;
  variant?: HbpoVariant;
  n_gen: number;
  budget: number | null;
  correct: boolean;
  truncated: boolean;
  L_max: number;
  alpha: number;
  beta: number;
  expected: {
    reward: number;
    cos: number;
    penalty: number | null;
    f1: number | null;
    f2: number | null;
    case: string;
  };
}

interface AdvantageVector {
  name: string;
  estimator: EstimatorName;
  budgets: (number | null)[];
  rewards: number[];
  beta: number;
  L_max: number;
  eps: number;
  expected: { intra: number[]; inter: number[]; total: number[] };
}

function loadCases<T>(file: string): T[] {
  const cases = (JSON.parse(readFileSync(join(vectorsDir, file), 'utf8')) as { cases: T[] }).cases;
  assert.ok(cases.length > 0, `${file} has no cases`);
  return cases;
}

function close(actual: number | null, expected: number | null, what: string): void {
  if (expected === null) {
    assert.equal(actual, null, `${what}: expected null, got ${actual}`);
    return;
  }
  assert.ok(actual !== null, `${what}: expected ${expected}, got null`);
  assert.ok(Math.abs(actual - expected) <= TOL, `${what}: expected ${expected}, got ${actual}`);
}

function closeArray(actual: number[], expected: number[], what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  expected.forEach((e, i) => close(actual[i] as number, e, `${what}[${i}]`));
}

const defaults = { lMax: HBPO_DEFAULTS.lMax, alpha: HBPO_DEFAULTS.alpha, beta: HBPO_DEFAULTS.beta };

describe('reward vectors (test/vectors/reward.json)', () => {
  for (const c of loadCases<RewardVector>('reward.json')) {
    test(c.name, () => {
      const got = rewardBreakdown({
        reward: c.reward,
        variant: c.variant,
        nGen: c.n_gen,
        budget: c.budget,
        correct: c.correct,
        truncated: c.truncated,
        lMax: c.L_max,
        alpha: c.alpha,
        beta: c.beta,
      });
      assert.equal(got.case, c.expected.case, 'case');
      close(got.reward, c.expected.reward, 'reward');
      close(got.cos, c.expected.cos, 'cos');
      close(got.penalty, c.expected.penalty, 'penalty');
      close(got.f1, c.expected.f1, 'f1');
      close(got.f2, c.expected.f2, 'f2');
    });
  }
});

describe('advantage vectors (test/vectors/advantage.json)', () => {
  for (const c of loadCases<AdvantageVector>('advantage.json')) {
    test(c.name, () => {
      const got = advantages({
        estimator: c.estimator,
        budgets: c.budgets,
        rewards: c.rewards,
        beta: c.beta,
        lMax: c.L_max,
        eps: c.eps,
      });
      closeArray(got.intra, c.expected.intra, 'intra');
      closeArray(got.inter, c.expected.inter, 'inter');
      closeArray(got.total, c.expected.total, 'total');
    });
  }
});

describe('budget math behaviour', () => {
  test('a correct answer within budget earns f2(b), whatever its length (paper)', () => {
    for (const b of HBPO_DEFAULTS.tiers) {
      for (const n of [1, Math.floor(b / 3), b]) {
        const r = rewardBreakdown({ reward: 'hbpo', nGen: n, budget: b, correct: true, truncated: false, ...defaults });
        assert.equal(r.case, 'within');
        assert.equal(r.reward, f2(b, defaults));
      }
    }
  });

  test('over budget the paper reward is f1(n, b)', () => {
    const r = rewardBreakdown({ reward: 'hbpo', nGen: 1500, budget: 1024, correct: true, truncated: false, ...defaults });
    assert.equal(r.case, 'over');
    assert.equal(r.reward, f1(1500, 1024, defaults));
  });

  test('rewardCurve is monotone non-increasing past the budget', () => {
    for (const variant of ['paper', 'reference'] as const) {
      for (const b of HBPO_DEFAULTS.tiers) {
        const curve = rewardCurve(b, { ...defaults, variant });
        assert.equal(curve.length, defaults.lMax);
        assert.deepEqual(curve[0], [1, curve[0]![1]]);
        assert.equal(curve.at(-1)![0], defaults.lMax);
        const past = curve.filter(([n]) => n >= b);
        for (let i = 1; i < past.length; i++) {
          assert.ok(past[i]![1] <= past[i - 1]![1], `${variant} b=${b}: R(${past[i]![0]}) > R(${past[i - 1]![0]})`);
        }
      }
    }
  });

  test('rewardCurve with few points keeps the ends and the knee at the budget', () => {
    const curve = rewardCurve(1000, defaults, 5);
    const ns = curve.map(([n]) => n);
    assert.deepEqual(ns, [...ns].sort((a, b) => a - b));
    for (const n of [1, 1000, 1001, defaults.lMax]) assert.ok(ns.includes(n), `missing n=${n}`);
  });

  test('crossings: tier 512 falls below tier 1024 once, between the two budgets', () => {
    const low = rewardCurve(512, defaults);
    const high = rewardCurve(1024, defaults);
    const xs = crossings(low, high);
    assert.equal(xs.length, 1);
    const n = xs[0]!;
    assert.ok(n > 512 && n <= 1024, `crossing at ${n}`);
    // exact to the token: tier 512 is ahead just before n and behind at n
    assert.ok(low[n - 2]![1] > high[n - 2]![1]);
    assert.ok(low[n - 1]![1] < high[n - 1]![1]);
    assert.deepEqual(crossings(low, low), []);
  });

  test('unknown names throw a clear error', () => {
    const base = { nGen: 100, budget: 512, correct: true, truncated: false, ...defaults };
    assert.throws(
      () => rewardBreakdown({ ...base, reward: 'nope' as RewardName }),
      /unknown reward "nope"; expected one of: hbpo, cosine, binary, l1-exact/,
    );
    assert.throws(
      () => rewardBreakdown({ ...base, reward: 'hbpo', variant: 'nope' as HbpoVariant }),
      /unknown hbpo variant "nope"/,
    );
    assert.throws(
      () => advantages({ estimator: 'nope' as EstimatorName, budgets: [512], rewards: [1], beta: 4, lMax: 4096, eps: 1e-6 }),
      /unknown advantage estimator "nope"/,
    );
  });

  test('hbpo needs a budget; mismatched lengths are rejected', () => {
    assert.throws(
      () => rewardBreakdown({ reward: 'hbpo', nGen: 10, budget: null, correct: true, truncated: false, ...defaults }),
      /needs a budget/,
    );
    assert.throws(
      () => advantages({ estimator: 'hbpo', budgets: [null], rewards: [1], beta: 4, lMax: 4096, eps: 1e-6 }),
      /need a budget/,
    );
    assert.throws(
      () => advantages({ estimator: 'grpo', budgets: [512], rewards: [1, 2], beta: 4, lMax: 4096, eps: 1e-6 }),
      /differ in length/,
    );
  });
});
