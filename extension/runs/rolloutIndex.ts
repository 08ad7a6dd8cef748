// Index of a run's rollouts, keyed by (step, query_index), that keeps only the small fields.
// A paper-sized run has ~650k rollouts (629 steps x 64 queries x 16), so the fields live in typed
// columns (49 bytes a rollout instead of a few hundred as objects) that also cross from the
// parsing worker without a copy. Text, prompt, problem, and the reward terms and advantages beyond
// the reward itself stay in the file: each row keeps the byte range of its line so they are read
// back when a group is shown (rolloutReader.ts), which reads those lines anyway for their answers.
import type { RolloutKey } from '../../common/rolloutKey';
import type { RewardTerms, RolloutEvent } from '../events';
import { metricLabel, modeOfTier } from '../../common/mode';

/** The small fields of one rollout; its (step, queryIndex, tier, sample) is its key. */
export interface RolloutSummary extends RolloutKey {
  row: number;
  nGen: number;
  correct: boolean;
  truncated: boolean;
  /** The reward and its case; the other terms and the advantages are on the line (read it back). */
  reward: Pick<RewardTerms, 'reward' | 'case'>;
  queryId: string;
  difficulty: string | null;
  /** Where the event's line is in events.jsonl (bytes, newline excluded) and its line number. */
  offset: number;
  length: number;
  line: number;
}

export const CASES: readonly RewardTerms['case'][] = ['truncated', 'wrong', 'within', 'over', 'natural'];
const CORRECT = 1;
const TRUNCATED = 2;
const CASE_SHIFT = 2;

// Int32 columns hold only what fits them exactly: the event schema bounds step, query_index, sample,
// tier and n_gen to 0..2^31-1 (a line with a larger value is refused), and `length` is at most
// MAX_LINE_BYTES. Offsets and line numbers are not bounded by anything in the line (a file of
// billions of blank lines), so they live in Float64 columns, exact to 2^53.
const INT_COLUMNS = ['step', 'queryIndex', 'sample', 'tier', 'nGen', 'length'] as const;
const FLOAT_COLUMNS = ['offset', 'line', 'reward'] as const;
type IntColumn = (typeof INT_COLUMNS)[number];
type FloatColumn = (typeof FLOAT_COLUMNS)[number];

interface GroupInfo {
  queryId: string;
  difficulty: string | null;
  rows: number[];
}

/** Plain-data form, for postMessage from the worker (typed arrays transfer, Maps clone). */
export interface RolloutIndexState {
  size: number;
  ints: Record<IntColumn, Int32Array>;
  floats: Record<FloatColumn, Float64Array>;
  flags: Uint8Array;
  groups: Map<string, GroupInfo>;
}

/**
 * The groups as columns, to cross threads or go to a file: a paper-size run has ~40 K groups (2 M
 * rollouts: 125 K), whose objects and row lists cost seconds to clone; these are three string lists
 * and one transferable column. Group `n` is keys[n]; `groupOf[row]` is the group of each row, whose
 * rows are those rows in order.
 */
export interface PackedGroups {
  keys: string[];
  queryIds: string[];
  difficulties: (string | null)[];
  groupOf: Int32Array;
}

export type PackedRolloutIndexState = Omit<RolloutIndexState, 'groups'> & { packed: PackedGroups };

/** A state with its groups packed (see PackedGroups). */
export function packRollouts(state: RolloutIndexState): PackedRolloutIndexState {
  const { groups, ...columns } = state;
  const keys: string[] = [];
  const queryIds: string[] = [];
  const difficulties: (string | null)[] = [];
  const groupOf = new Int32Array(state.size);
  for (const [k, g] of groups) {
    for (const row of g.rows) groupOf[row] = keys.length;
    keys.push(k);
    queryIds.push(g.queryId);
    difficulties.push(g.difficulty);
  }
  return { ...columns, packed: { keys, queryIds, difficulties, groupOf } };
}

/** The inverse of packRollouts; throws on a group number out of range (a corrupt file). */
export function unpackRollouts(state: PackedRolloutIndexState): RolloutIndexState {
  const { packed: p, ...columns } = state;
  const infos: GroupInfo[] = p.keys.map((_, n) => ({ queryId: p.queryIds[n], difficulty: p.difficulties[n], rows: [] }));
  if (p.groupOf.length !== state.size) throw new Error(`${p.groupOf.length} group numbers for ${state.size} rows`);
  for (let row = 0; row < state.size; row++) {
    const g = infos[p.groupOf[row]];
    if (!g) throw new Error(`row ${row}: no group ${p.groupOf[row]}`);
    g.rows.push(row);
  }
  return { ...columns, groups: new Map(p.keys.map((k, n) => [k, infos[n]])) };
}

/** Capacity grows by half: at 2 M rollouts a doubling would hold up to 2 M empty rows (~210 MB). */
const GROWTH = 1.5;

const key = (step: number, queryIndex: number) => `${step}:${queryIndex}`;

/** column[remap[row]] = column[row] for each row from `from` on that stays (remap >= 0, never above row). */
function moveRows(column: Int32Array | Float64Array | Uint8Array, remap: Int32Array, from: number): void {
  for (let row = from; row < remap.length; row++) if (remap[row] >= 0) column[remap[row]] = column[row];
}


export class RolloutIndex {
  private size = 0;
  private ints = {} as Record<IntColumn, Int32Array>;
  private floats = {} as Record<FloatColumn, Float64Array>;
  private flags: Uint8Array = new Uint8Array(0);
  private groups = new Map<string, GroupInfo>();
  private byStep = new Map<number, number[]>(); // step -> query indices, in first-seen order
  /** The group the last row went to: a group's rollouts come one after another (no key built for them). */
  private recent?: { step: number; queryIndex: number; group: GroupInfo };

  constructor(state?: RolloutIndexState) {
    if (state) this.load(state);
    else this.clear();
  }

  get count(): number {
    return this.size;
  }

  clear(): void {
    this.size = 0;
    for (const c of INT_COLUMNS) this.ints[c] = new Int32Array(1024);
    for (const c of FLOAT_COLUMNS) this.floats[c] = new Float64Array(1024);
    this.flags = new Uint8Array(1024);
    this.groups.clear();
    this.recent = undefined;
    this.byStep.clear();
  }

  add(e: RolloutEvent, offset: number, length: number, line: number): void {
    if (this.size === this.flags.length) this.grow(Math.max(1024, Math.ceil(this.size * GROWTH)));
    const row = this.size++;
    const i = this.ints;
    i.step[row] = e.step;
    i.queryIndex[row] = e.query_index;
    i.sample[row] = e.sample;
    i.tier[row] = e.tier ?? -1; // tiers are >= 1 by the schema, so -1 is free for "natural"
    i.nGen[row] = e.n_gen;
    i.length[row] = length;
    const f = this.floats;
    f.offset[row] = offset;
    f.line[row] = line;
    f.reward[row] = e.reward.reward;
    this.flags[row] = (e.correct ? CORRECT : 0) | (e.truncated ? TRUNCATED : 0) | (CASES.indexOf(e.reward.case) << CASE_SHIFT);
    this.addToGroup(row, e.step, e.query_index, e.query_id, e.difficulty ?? null);
  }

  /**
   * Append rows `from` to `to` of `state` (a block parsed elsewhere: a parallel read's segment),
   * as `add` would have added them one by one in that order: the same columns, groups and steps, in
   * the same order. `lineShift` is added to their line numbers (the block was numbered from 1);
   * `label(row)` gives a row's query id and difficulty (used for the groups a row starts).
   */
  appendRows(
    state: RolloutIndexState, from: number, to: number, lineShift: number,
    label: (row: number) => { queryId: string; difficulty: string | null },
  ): void {
    const n = to - from;
    if (n <= 0) return;
    if (this.size + n > this.flags.length) this.grow(Math.max(1024, Math.ceil(this.size * GROWTH), this.size + n));
    const at = this.size;
    for (const c of INT_COLUMNS) this.ints[c].set(state.ints[c].subarray(from, to), at);
    for (const c of FLOAT_COLUMNS) this.floats[c].set(state.floats[c].subarray(from, to), at);
    this.flags.set(state.flags.subarray(from, to), at);
    if (lineShift !== 0) for (let row = at; row < at + n; row++) this.floats.line[row] += lineShift;
    const steps = state.ints.step;
    const queryIndices = state.ints.queryIndex;
    for (let i = 0; i < n; i++) {
      const src = from + i;
      const step = steps[src];
      const queryIndex = queryIndices[src];
      const g = this.groups.get(key(step, queryIndex));
      if (g) g.rows.push(at + i);
      else {
        const { queryId, difficulty } = label(src);
        this.addToGroup(at + i, step, queryIndex, queryId, difficulty);
      }
    }
    this.size += n;
  }

  /** The rollouts of one query at one step, by tier (natural first), then sample. */
  group(step: number, queryIndex: number): RolloutSummary[] {
    const g = this.groups.get(key(step, queryIndex));
    if (!g) return [];
    return g.rows.map((row) => this.summary(row, g)).sort((a, b) => (a.tier ?? -1) - (b.tier ?? -1) || a.sample - b.sample || a.offset - b.offset);
  }

  /** Query indices that have rollouts at `step`, ascending. */
  queryIndices(step: number): number[] {
    return [...(this.byStep.get(step) ?? [])].sort((a, b) => a - b);
  }

  /** Steps that have rollouts, ascending. */
  steps(): number[] {
    return [...this.byStep.keys()].sort((a, b) => a - b);
  }

  /** n_gen of every rollout at `step`, per tier label (`512`, `natural`): length histograms. */
  lengthsByTier(step: number): Map<string, number[]> {
    const out = new Map<string, number[]>();
    for (const qi of this.byStep.get(step) ?? []) {
      for (const row of this.groups.get(key(step, qi))!.rows) {
        const tier = this.ints.tier[row];
        const label = metricLabel(modeOfTier(tier === -1 ? null : tier));
        let list = out.get(label);
        if (!list) out.set(label, (list = []));
        list.push(this.ints.nGen[row]);
      }
    }
    return out;
  }

  /**
   * Forget rollouts of steps after `step` (superseded by a resumed run). A group's key holds its
   * step, so whole groups go: those of the dropped steps, and no row of a kept group. The trainer
   * writes steps in order, so the dropped rows are usually the last rows: then this costs what is
   * dropped (the size shrinks, the columns stay). Otherwise (a file with steps out of order) the
   * kept rows move up in place, a column at a time, and the kept groups' row numbers follow them.
   */
  dropAfter(step: number): void {
    this.recent = undefined; // its group may go, or be replaced (compact)
    let dropped = 0;
    for (const [s, queryIndices] of this.byStep) {
      if (s <= step) continue;
      for (const qi of queryIndices) {
        const k = key(s, qi);
        dropped += this.groups.get(k)!.rows.length;
        this.groups.delete(k);
      }
      this.byStep.delete(s);
    }
    if (dropped === 0) return;
    const steps = this.ints.step;
    let cut = this.size;
    while (cut > 0 && steps[cut - 1] > step) cut--;
    if (this.size - cut === dropped) {
      this.size = cut; // every dropped row is after every kept one
      return;
    }
    this.compact(step);
  }

  /** Keep the rows of steps up to `step`, in order, renumbered from 0; the groups must hold only those. */
  private compact(step: number): void {
    const steps = this.ints.step;
    const remap = new Int32Array(this.size).fill(-1); // -1: dropped
    const runs: number[] = []; // (from, to, length) of each run of kept rows that moves up
    const maxRuns = 3 * Math.ceil(this.size / 64); // past this many, rows move one by one
    let firstMoved = this.size;
    let kept = 0;
    for (let row = 0; row < this.size; ) {
      if (steps[row] > step) {
        row++;
        continue;
      }
      const from = row;
      for (; row < this.size && steps[row] <= step; row++) remap[row] = kept + row - from;
      if (kept !== from) {
        firstMoved = Math.min(firstMoved, from);
        if (runs.length <= maxRuns) runs.push(from, kept, row - from);
      }
      kept += row - from;
    }
    // Rows only move up, in order: in place, a column at a time. Long runs of kept rows as block
    // copies; many short ones (steps interleaved row by row) a row at a time.
    const columns = [...INT_COLUMNS.map((c) => this.ints[c]), ...FLOAT_COLUMNS.map((c) => this.floats[c]), this.flags];
    if (runs.length > maxRuns) for (const column of columns) moveRows(column, remap, firstMoved);
    else for (let i = 0; i < runs.length; i += 3) for (const column of columns) column.copyWithin(runs[i + 1], runs[i], runs[i] + runs[i + 2]);
    this.size = kept;
    // Rows before the first moved one keep their numbers. New objects for groups that change: a group
    // may be shared with the state this index was loaded from.
    for (const [k, g] of this.groups) {
      if (g.rows.some((row) => row >= firstMoved)) this.groups.set(k, { ...g, rows: g.rows.map((row) => remap[row]) });
    }
  }

  /**
   * Trimmed copies of the columns (transferable) and the groups. `copy: false`: views of this index's
   * own columns and groups instead, for a caller that writes them out or hands them over and drops
   * this index (no second copy of a paper-size index: ~70 MB); they change if this index does.
   */
  toState({ copy = true }: { copy?: boolean } = {}): RolloutIndexState {
    const ints = {} as Record<IntColumn, Int32Array>;
    const floats = {} as Record<FloatColumn, Float64Array>;
    const cut = <T extends Int32Array | Float64Array | Uint8Array>(a: T): T => (copy ? a.slice(0, this.size) : a.subarray(0, this.size)) as T;
    for (const c of INT_COLUMNS) ints[c] = cut(this.ints[c]);
    for (const c of FLOAT_COLUMNS) floats[c] = cut(this.floats[c]);
    const groups = copy ? new Map([...this.groups].map(([k, g]) => [k, { ...g, rows: [...g.rows] }])) : this.groups;
    return { size: this.size, ints, floats, flags: cut(this.flags), groups };
  }

  /** Make room for `rows` rollouts in all (a reader that can estimate the count grows once, not log n times). */
  reserve(rows: number): void {
    if (rows > this.flags.length) this.grow(rows);
  }

  /** The buffers of a state, to pass as postMessage's transfer list (columns may share one buffer). */
  static transferables(state: RolloutIndexState | PackedRolloutIndexState): ArrayBuffer[] {
    const arrays: ArrayBufferView[] = [...Object.values(state.ints), ...Object.values(state.floats), state.flags];
    if ('packed' in state) arrays.push(state.packed.groupOf);
    return [...new Set(arrays.map((a) => a.buffer as ArrayBuffer))];
  }

  private load(state: RolloutIndexState): void {
    this.size = state.size;
    this.ints = { ...state.ints };
    this.floats = { ...state.floats };
    this.flags = state.flags;
    this.groups = new Map(state.groups);
    this.recent = undefined;
    this.byStep = new Map();
    for (const k of this.groups.keys()) {
      const [step, qi] = k.split(':').map(Number);
      let list = this.byStep.get(step);
      if (!list) this.byStep.set(step, (list = []));
      list.push(qi);
    }
    if (this.size === 0) this.grow(1024);
  }

  private addToGroup(row: number, step: number, queryIndex: number, queryId: string, difficulty: string | null): void {
    const r = this.recent;
    if (r && r.step === step && r.queryIndex === queryIndex) {
      r.group.rows.push(row);
      return;
    }
    const k = key(step, queryIndex);
    let g = this.groups.get(k);
    if (!g) {
      this.groups.set(k, (g = { queryId, difficulty, rows: [] }));
      let list = this.byStep.get(step);
      if (!list) this.byStep.set(step, (list = []));
      list.push(queryIndex);
    }
    g.rows.push(row);
    this.recent = { step, queryIndex, group: g };
  }

  private grow(capacity: number): void {
    for (const c of INT_COLUMNS) {
      const next = new Int32Array(capacity);
      next.set(this.ints[c].subarray(0, this.size));
      this.ints[c] = next;
    }
    for (const c of FLOAT_COLUMNS) {
      const next = new Float64Array(capacity);
      next.set(this.floats[c].subarray(0, this.size));
      this.floats[c] = next;
    }
    const flags = new Uint8Array(capacity);
    flags.set(this.flags.subarray(0, this.size));
    this.flags = flags;
  }

  private summary(row: number, g: GroupInfo): RolloutSummary {
    const i = this.ints;
    const f = this.floats;
    const flags = this.flags[row];
    const tier = i.tier[row];
    return {
      row,
      step: i.step[row],
      queryIndex: i.queryIndex[row],
      sample: i.sample[row],
      tier: tier === -1 ? null : tier,
      nGen: i.nGen[row],
      correct: (flags & CORRECT) !== 0,
      truncated: (flags & TRUNCATED) !== 0,
      reward: { reward: f.reward[row], case: CASES[flags >> CASE_SHIFT] },
      queryId: g.queryId,
      difficulty: g.difficulty,
      offset: f.offset[row],
      length: i.length[row],
      line: f.line[row],
    };
  }
}
