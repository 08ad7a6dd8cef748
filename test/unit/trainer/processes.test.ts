// The process counts Start Training offers when several GPUs are visible are exactly those the trainer
// takes (trainer/hbpo/launch.py check_world): each divides the queries a step and a mini-batch's.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { processChoices } from '../../../extension/trainer/processes';

const config = (queries: number, miniBatch: number | null = null, device = 'auto') =>
  ({ run: { device }, train: { queries_per_step: queries }, ppo: { mini_batch_queries: miniBatch } });

/** check_world's rule, stated plainly: the oracle. */
const accepted = (n: number, queries: number, miniBatch: number | null) =>
  n >= 1 && n <= queries && queries % n === 0 && (!miniBatch || miniBatch % n === 0);

test('counts the trainer takes, largest first, on the GPUs there are', () => {
  assert.deepEqual(processChoices(8, config(64)), [8, 4, 2, 1]);
  assert.deepEqual(processChoices(8, config(12)), [6, 4, 3, 2, 1]);
  assert.deepEqual(processChoices(4, config(64, 8)), [4, 2, 1]);
  assert.deepEqual(processChoices(8, config(64, 6)), [2, 1], 'a mini-batch of 6 queries: 1 or 2 processes');
  assert.deepEqual(processChoices(4, config(3)), [3, 1], 'never more processes than queries');
  for (let gpus = 2; gpus <= 16; gpus++) {
    for (const [q, mb] of [[64, null], [12, 4], [30, 10], [7, null], [64, 16]] as const) {
      const want = Array.from({ length: gpus }, (_, i) => gpus - i).filter((n) => accepted(n, q, mb));
      assert.deepEqual(processChoices(gpus, config(q, mb)), want, `${gpus} GPUs, ${q} queries, mini-batch ${mb}`);
    }
  }
});

test('nothing to choose: one GPU or none, or a config pinned to the CPU or to one device', () => {
  assert.deepEqual(processChoices(0, config(64)), [1]);
  assert.deepEqual(processChoices(1, config(64)), [1]);
  assert.deepEqual(processChoices(8, config(64, null, 'cpu')), [1]);
  assert.deepEqual(processChoices(8, config(64, null, 'cuda:3')), [1]);
  assert.deepEqual(processChoices(8, config(64, null, 'cuda')), [8, 4, 2, 1]);
  assert.deepEqual(processChoices(8, undefined), [1], 'no config: one query a step, one process');
});
