// The dashboard's eval table: per dataset, one row per mode (natural, efficiency, each budget),
// accuracy and mean tokens overall and per difficulty. Mirrors RunModel.evalTable (latest result
// per dataset and mode), computed in the webview from the eval events it holds.
import { compareModeKeys } from '../../common/mode';
import type { EvalResult } from '../../common/runData';

export interface EvalCell {
  n: number;
  accuracy: number | null;
  meanTokens: number | null;
}

export interface EvalRow extends EvalCell {
  mode: string;
  label: string;
  step: number;
  byDifficulty: Record<string, EvalCell>;
}

export interface EvalDatasetTable {
  dataset: string;
  difficulties: string[];
  rows: EvalRow[];
}

/** `tier:512` -> `512 tokens`; `natural` and `efficiency` stay. */
export function modeLabel(mode: string): string {
  const m = /^tier:(\d+)$/.exec(mode);
  return m ? `${m[1]} tokens` : mode;
}

/** Steps that have eval results, ascending. */
export function evalSteps(evals: readonly EvalResult[]): number[] {
  return [...new Set(evals.map((e) => e.step))].sort((a, b) => a - b);
}

/** Latest result per (dataset, mode) at or before `step` (all when undefined). */
export function latestEvals(evals: readonly EvalResult[], step?: number): EvalResult[] {
  const latest = new Map<string, EvalResult>();
  for (const e of evals) if (step === undefined || e.step <= step) latest.set(`${e.dataset}\u0000${e.mode}`, e);
  return [...latest.values()];
}

const DIFFICULTY_ORDER = ['easy', 'medium', 'hard'];

/** Numbers numerically (MATH levels), easy < medium < hard, anything else A-Z after them. */
export function compareDifficulty(a: string, b: string): number {
  const na = Number(a);
  const nb = Number(b);
  if (a !== '' && b !== '' && Number.isFinite(na) && Number.isFinite(nb)) return na - nb;
  const ia = DIFFICULTY_ORDER.indexOf(a.toLowerCase());
  const ib = DIFFICULTY_ORDER.indexOf(b.toLowerCase());
  if (ia !== -1 || ib !== -1) return (ia === -1 ? 99 : ia) - (ib === -1 ? 99 : ib);
  return a.localeCompare(b);
}

export function evalTables(results: readonly EvalResult[]): EvalDatasetTable[] {
  const byDataset = new Map<string, EvalResult[]>();
  for (const r of results) byDataset.set(r.dataset, [...(byDataset.get(r.dataset) ?? []), r]);
  return [...byDataset.keys()].sort().map((dataset) => {
    const list = byDataset.get(dataset)!.sort((a, b) => compareModeKeys(a.mode, b.mode));
    const difficulties = [...new Set(list.flatMap((r) => Object.keys(r.by_difficulty)))].sort(compareDifficulty);
    return {
      dataset,
      difficulties,
      rows: list.map((r) => ({
        mode: r.mode, label: modeLabel(r.mode), step: r.step, n: r.n, accuracy: r.accuracy, meanTokens: r.mean_tokens,
        byDifficulty: Object.fromEntries(Object.entries(r.by_difficulty).map(([d, c]) =>
          [d, { n: c.n, accuracy: c.accuracy, meanTokens: c.mean_tokens }])),
      })),
    };
  });
}
