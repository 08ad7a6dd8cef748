// The inspector's data from a RunModel: query lists and rollout groups, the text read lazily from
// events.jsonl by byte range. No `vscode`, so it is unit-tested against real run files.
import { rolloutKeyOf, rolloutKeyString } from '../../common/rolloutKey';
import type { RolloutEvent } from '../events';
import { readRollouts } from '../runs/rolloutReader';
import type { RolloutSummary } from '../runs/rolloutIndex';
import type { RunModel } from '../runs/runModel';
import type { GroupView, QueryInfo, RolloutRow } from '../../common/protocol/rollouts';

// One rollout by its RolloutKey is read in the run store (the trace documents need it too).
export { readRollout } from '../runs/rolloutReader';

/** Characters of a problem sent for the query picker (the full text comes with the group). */
export const PROBLEM_PREVIEW = 240;

/** A row of the inspector's table: the index's numbers, the answer and the terms from its line. */
export function rowOf(s: RolloutSummary, e: RolloutEvent): RolloutRow {
  return {
    sample: s.sample,
    tier: s.tier,
    nGen: s.nGen,
    budget: s.tier === null ? 'none' : s.nGen > s.tier ? 'over' : 'within',
    truncated: s.truncated,
    correct: s.correct,
    answer: e.answer,
    reward: s.reward.reward,
    f1: e.reward.f1,
    f2: e.reward.f2,
    cos: e.reward.cos,
    penalty: e.reward.penalty,
    case: s.reward.case,
    intra: e.advantage.intra,
    inter: e.advantage.inter,
    total: e.advantage.total,
  };
}

/** The queries of a step with their counts; the problem text from the first rollout line of each. */
export async function readQueries(model: RunModel, step: number): Promise<QueryInfo[]> {
  const groups = model.queryIndices(step).map((qi) => ({ qi, rows: model.rolloutGroup(step, qi) })).filter((g) => g.rows.length > 0);
  const firsts = await readRollouts(model.eventsPath, groups.map((g) => g.rows[0]));
  const problemOf = new Map(firsts.rollouts.map((e) => [e.query_index, e.problem] as const));
  return groups.map(({ qi, rows }) => ({
    queryIndex: qi,
    queryId: rows[0].queryId,
    difficulty: rows[0].difficulty,
    problem: (problemOf.get(qi) ?? '').slice(0, PROBLEM_PREVIEW),
    rollouts: rows.length,
    correct: rows.filter((r) => r.correct).length,
    meanReward: rows.reduce((a, r) => a + r.reward.reward, 0) / rows.length,
  }));
}

/**
 * One query's rollouts at a step: keys, lengths and rewards from the index, problem, answers and the
 * other reward terms from the file. A rollout whose line no longer reads back is left out (`errors`
 * says which), not shown with numbers the file no longer has.
 */
export async function readGroup(model: RunModel, step: number, queryIndex: number): Promise<GroupView> {
  const rows = model.rolloutGroup(step, queryIndex);
  if (rows.length === 0) throw new Error(`no rollouts for query ${queryIndex} at step ${step}`);
  const read = await readRollouts(model.eventsPath, rows);
  const byKey = new Map<string, RolloutEvent>(read.rollouts.map((e) => [rolloutKeyString(rolloutKeyOf(e)), e]));
  const first = read.rollouts[0];
  return {
    step,
    queryIndex,
    queryId: rows[0].queryId,
    difficulty: rows[0].difficulty,
    problem: first?.problem ?? '',
    groundTruth: first?.ground_truth ?? '',
    rows: rows.flatMap((s) => {
      const e = byKey.get(rolloutKeyString(s));
      return e ? [rowOf(s, e)] : [];
    }),
    errors: read.errors,
  };
}
