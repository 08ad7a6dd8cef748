// The rollout-group table: filter, sort within each tier, group by tier. Pure, so the order a user
// sees is tested, not eyeballed.
import type { RolloutRow } from '../../common/protocol/rollouts';

export type SortKey =
  | 'sample' | 'nGen' | 'budget' | 'truncated' | 'correct' | 'answer' | 'reward' | 'f1' | 'f2' | 'cos' | 'penalty'
  | 'case' | 'intra' | 'inter' | 'total';

export const SORT_KEYS: readonly SortKey[] = [
  'sample', 'nGen', 'budget', 'truncated', 'correct', 'answer', 'reward', 'f1', 'f2', 'cos', 'penalty', 'case', 'intra',
  'inter', 'total',
];

export interface SortSpec {
  key: SortKey;
  dir: 'asc' | 'desc';
}

export interface RowFilter {
  /** A budget, `natural` (no budget) or `all`. */
  tier: number | 'natural' | 'all';
  correct: 'all' | 'correct' | 'incorrect';
}

export const NO_FILTER: RowFilter = { tier: 'all', correct: 'all' };

export interface TierSummary {
  n: number;
  correct: number;
  meanTokens: number;
  meanReward: number;
  /** The tier's intra advantage (the same for all its rollouts; the first row's). */
  intra: number;
}

export interface TierGroup {
  tier: number | null;
  /** Over all rollouts of the tier, whatever the filter. */
  summary: TierSummary;
  /** The rows that pass the filter, sorted. */
  rows: RolloutRow[];
}

type Value = number | string | boolean | null;

function valueOf(row: RolloutRow, key: SortKey): Value {
  return row[key];
}

/** Ascending order of two cell values; null (no such term) always sorts last, in either direction. */
function compareValues(a: Value, b: Value): number {
  if (typeof a === 'string' && typeof b === 'string') return a.localeCompare(b);
  return Number(a) - Number(b);
}

export function compareRows(a: RolloutRow, b: RolloutRow, sort: SortSpec): number {
  const va = valueOf(a, sort.key);
  const vb = valueOf(b, sort.key);
  if (va === null || vb === null) {
    if (va !== vb) return va === null ? 1 : -1;
    return a.sample - b.sample;
  }
  const c = compareValues(va, vb);
  return (sort.dir === 'asc' ? c : -c) || a.sample - b.sample;
}

export function passes(row: RolloutRow, f: RowFilter): boolean {
  if (f.tier === 'natural' ? row.tier !== null : f.tier !== 'all' && row.tier !== f.tier) return false;
  if (f.correct === 'correct' && !row.correct) return false;
  if (f.correct === 'incorrect' && row.correct) return false;
  return true;
}

function summarize(rows: readonly RolloutRow[]): TierSummary {
  const n = rows.length;
  const sum = (f: (r: RolloutRow) => number) => rows.reduce((s, r) => s + f(r), 0);
  return {
    n,
    correct: rows.filter((r) => r.correct).length,
    meanTokens: sum((r) => r.nGen) / n,
    meanReward: sum((r) => r.reward) / n,
    intra: rows[0].intra,
  };
}

/** Tiers ascending (natural last); a tier with no row passing the filter is left out. */
export function groupRows(rows: readonly RolloutRow[], filter: RowFilter, sort: SortSpec): TierGroup[] {
  const byTier = new Map<number | null, RolloutRow[]>();
  for (const r of rows) {
    const list = byTier.get(r.tier) ?? [];
    list.push(r);
    byTier.set(r.tier, list);
  }
  const tiers = [...byTier.keys()].sort((a, b) => (a === null ? 1 : b === null ? -1 : a - b));
  const out: TierGroup[] = [];
  for (const tier of tiers) {
    const all = byTier.get(tier)!;
    const shown = all.filter((r) => passes(r, filter)).sort((a, b) => compareRows(a, b, sort));
    if (shown.length > 0) out.push({ tier, summary: summarize(all), rows: shown });
  }
  return out;
}

/** Clicking a header: a new column sorts ascending, the same column again flips the direction. */
export function nextSort(current: SortSpec, key: SortKey): SortSpec {
  if (current.key === key) return { key, dir: current.dir === 'asc' ? 'desc' : 'asc' };
  return { key, dir: 'asc' };
}
