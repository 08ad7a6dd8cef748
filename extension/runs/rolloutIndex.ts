// Index of a run's rollouts, keyed by (step, query_index), that keeps only the small fields.
// A paper-sized run has ~650k rollouts (629 steps x 64 queries x 16), so the fields live in typed
// columns (about 100 bytes a rollout instead of a few hundred as objects) that also cross from the
// parsing worker without a copy. Text, prompt and problem stay in the file: each row keeps the
// byte range of its line so they can be read back on demand (rolloutReader.ts).
import type { RolloutKey } from '../../common/rolloutKey';
import type { RewardTerms, RolloutEvent } from '../events';
import { metricLabel, modeOfTier } from '../../common/mode';

/** The small fields of one rollout; its (step, queryIndex, tier, sample) is its key. */
export interface RolloutSummary extends RolloutKey {
  row: number;
  nGen: number;
  correct: boolean;
  truncated: boolean;
  reward: RewardTerms;
  advantage: { intra: number; inter: number; total: number };
  queryId: string;
  difficulty: string | null;
  /** Where the event's line is in events.jsonl (bytes, newline excluded) and its line number. */
  offset: number;
  length: number;
  line: number;
}

const CASES: readonly RewardTerms['case'][] = ['truncated', 'wrong', 'within', 'over', 'natural'];
const CORRECT = 1;
const TRUNCATED = 2;
const CASE_SHIFT = 2;

// Int32 columns hold only what fits them exactly: the event schema bounds step, query_index, sample,
// tier and n_gen to 0..2^31-1 (a line with a larger value is refused), and `length` is at most
// MAX_LINE_BYTES. Offsets and line numbers are not bounded by anything in the line (a file of
// billions of blank lines), so they live in Float64 columns, exact to 2^53.
const INT_COLUMNS = ['step', 'queryIndex', 'sample', 'tier', 'nGen', 'length'] as const;
const FLOAT_COLUMNS = ['offset', 'line', 'reward', 'cos', 'penalty', 'f1', 'f2', 'intra', 'inter', 'total'] as const;
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

const key = (step: number, queryIndex: number) => `${step}:${queryIndex}`;
const orNaN = (x: number | null) => (x === null ? NaN : x);
const orNull = (x: number) => (Number.isNaN(x) ? null : x);

export class RolloutIndex {
  private size = 0;
  private ints = {} as Record<IntColumn, Int32Array>;
  private floats = {} as Record<FloatColumn, Float64Array>;
  private flags: Uint8Array = new Uint8Array(0);
  private groups = new Map<string, GroupInfo>();
  private byStep = new Map<number, number[]>(); // step -> query indices, in first-seen order

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
    this.byStep.clear();
  }

  add(e: RolloutEvent, offset: number, length: number, line: number): void {
    if (this.size === this.flags.length) this.grow(Math.max(1024, this.size * 2));
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
    f.cos[row] = e.reward.cos;
    f.penalty[row] = orNaN(e.reward.penalty);
    f.f1[row] = orNaN(e.reward.f1);
    f.f2[row] = orNaN(e.reward.f2);
    f.intra[row] = e.advantage.intra;
    f.inter[row] = e.advantage.inter;
    f.total[row] = e.advantage.total;
    this.flags[row] = (e.correct ? CORRECT : 0) | (e.truncated ? TRUNCATED : 0) | (CASES.indexOf(e.reward.case) << CASE_SHIFT);
    this.addToGroup(row, e.step, e.query_index, e.query_id, e.difficulty ?? null);
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

  /** Forget rollouts of steps after `step` (superseded by a resumed run). */
  dropAfter(step: number): void {
    const keep: number[] = [];
    for (let row = 0; row < this.size; row++) if (this.ints.step[row] <= step) keep.push(row);
    if (keep.length === this.size) return;
    const old = this.toState();
    const oldGroups = new Map([...old.groups.values()].flatMap((g) => g.rows.map((r) => [r, g] as const)));
    this.clear();
    this.grow(Math.max(1024, keep.length));
    for (const from of keep) {
      const row = this.size++;
      for (const c of INT_COLUMNS) this.ints[c][row] = old.ints[c][from];
      for (const c of FLOAT_COLUMNS) this.floats[c][row] = old.floats[c][from];
      this.flags[row] = old.flags[from];
      const g = oldGroups.get(from)!;
      this.addToGroup(row, this.ints.step[row], this.ints.queryIndex[row], g.queryId, g.difficulty);
    }
  }

  /** Trimmed copies of the columns (transferable) and the groups. */
  toState(): RolloutIndexState {
    const ints = {} as Record<IntColumn, Int32Array>;
    const floats = {} as Record<FloatColumn, Float64Array>;
    for (const c of INT_COLUMNS) ints[c] = this.ints[c].slice(0, this.size);
    for (const c of FLOAT_COLUMNS) floats[c] = this.floats[c].slice(0, this.size);
    const groups = new Map([...this.groups].map(([k, g]) => [k, { ...g, rows: [...g.rows] }]));
    return { size: this.size, ints, floats, flags: this.flags.slice(0, this.size), groups };
  }

  /** The buffers of a state, to pass as postMessage's transfer list. */
  static transferables(state: RolloutIndexState): ArrayBuffer[] {
    return [...Object.values(state.ints), ...Object.values(state.floats), state.flags].map((a) => a.buffer as ArrayBuffer);
  }

  private load(state: RolloutIndexState): void {
    this.size = state.size;
    this.ints = { ...state.ints };
    this.floats = { ...state.floats };
    this.flags = state.flags;
    this.groups = new Map(state.groups);
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
    const k = key(step, queryIndex);
    let g = this.groups.get(k);
    if (!g) {
      this.groups.set(k, (g = { queryId, difficulty, rows: [] }));
      let list = this.byStep.get(step);
      if (!list) this.byStep.set(step, (list = []));
      list.push(queryIndex);
    }
    g.rows.push(row);
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
      reward: {
        reward: f.reward[row], cos: f.cos[row], penalty: orNull(f.penalty[row]), f1: orNull(f.f1[row]),
        f2: orNull(f.f2[row]), case: CASES[flags >> CASE_SHIFT],
      },
      advantage: { intra: f.intra[row], inter: f.inter[row], total: f.total[row] },
      queryId: g.queryId,
      difficulty: g.difficulty,
      offset: f.offset[row],
      length: i.length[row],
      line: f.line[row],
    };
  }
}
