// Aggregates of one run, built from its events in file order (feed it what LineReader returns).
// No `vscode` import: the extension, the parsing worker and the unit tests all use it as is.
import type { CheckpointEvent, LogEvent, RunEndEvent, RunEvent, RunStartEvent } from '../events';
import type { LineError, ParsedChunk } from './lineReader';
import { tierMetricKey } from '../../common/metricKeys';
import { compareModeKeys, compareModes, modeKey, parseModeKey, type Mode, type ModeKey } from '../../common/mode';
import { stepMetrics } from './stepMetrics';
import type { EvalResult, Series } from '../../common/runData';
import { judgeRun, latestOfModel, type RunStatus } from './judge';
import { isPidAlive, type IsAlive } from './pid';
import { readRollouts, type RolloutGroupRead } from './rolloutReader';
import { RolloutIndex, type RolloutIndexState, type RolloutSummary } from './rolloutIndex';

export type { RunStatus };

export type RunInfo = Omit<RunStartEvent, 'type' | 'v'>;
export type RunEnd = Omit<RunEndEvent, 'type' | 'v'>;
export type CheckpointInfo = Omit<CheckpointEvent, 'type' | 'v'>;
export type LogLine = Omit<LogEvent, 'type' | 'v'>;
export type { EvalResult, Series };

/** Plain-data form of a model, for postMessage from the parsing worker. */
export interface RunModelState {
  info?: RunInfo;
  firstStartTime?: number;
  starts: number;
  lastMarker?: 'start' | 'end';
  end?: RunEnd;
  step: number;
  lastTime?: number;
  stepTimes: { step: number; time: number }[];
  metrics: Map<string, Series>;
  /** Keys of the modes (tiers, natural) that step events have per-tier metrics for, first seen first. */
  tierModes: ModeKey[];
  lastMetrics?: Record<string, number | null>;
  evals: EvalResult[];
  checkpoints: CheckpointInfo[];
  logs: LogLine[];
  errors: LineError[];
  errorCount: number;
  rollouts: RolloutIndexState;
}

export const MAX_LOG_LINES = 500;
export const MAX_ERRORS = 200;
const MAX_LOG_MESSAGE = 20_000; // tracebacks are long; a log panel needs the start
const RATE_WINDOW = 20; // step events the steps/s rate looks back over

export class RunModel {
  private s!: RunModelState;
  private index!: RolloutIndex;

  /** `eventsPath`: the file the offsets refer to, for `readRolloutGroup`. */
  constructor(readonly eventsPath: string, state?: RunModelState) {
    this.load(state);
  }

  /** Replace everything (a snapshot from the worker, or nothing: the file was truncated). */
  load(state?: RunModelState): void {
    this.s = state ?? {
      starts: 0, step: 0, stepTimes: [], metrics: new Map(), tierModes: [], evals: [], checkpoints: [], logs: [],
      errors: [], errorCount: 0, rollouts: new RolloutIndex().toState(),
    };
    this.index = new RolloutIndex(this.s.rollouts);
  }

  /** `copy: false`: the rollout index's own columns, for a caller done with this model (RolloutIndex.toState). */
  toState({ copy = true }: { copy?: boolean } = {}): RunModelState {
    return { ...this.s, rollouts: this.index.toState({ copy }) };
  }

  // For a read that parsed ranges of the file elsewhere (parallelRead.ts mergeSegments): what those
  // ranges' lines would have done here, in file order.
  /** Rows [from, to) of a range's rollout index (RolloutIndex.appendRows). */
  appendRollouts(...args: Parameters<RolloutIndex['appendRows']>): void {
    this.index.appendRows(...args);
  }

  /** `n` bad lines counted but not kept (the last MAX_ERRORS are), and the time of the last event. */
  noteRange(droppedErrors: number, lastTime?: number): void {
    this.s.errorCount += droppedErrors;
    if (lastTime !== undefined) this.s.lastTime = lastTime;
  }

  /** Make room for `rows` rollouts in all (see RolloutIndex.reserve). */
  reserveRollouts(rows: number): void {
    this.index.reserve(rows);
  }

  /** The state without its rollouts (cheap: no columns copied), for progress while a big file loads. */
  partialState(): RunModelState {
    return { ...this.s, rollouts: new RolloutIndex().toState() };
  }

  ingest(chunk: ParsedChunk): void {
    for (const p of chunk.events) this.apply(p.event, p.offset, p.length, p.line);
    for (const e of chunk.errors) {
      this.s.errorCount++;
      this.s.errors.push(e);
      if (this.s.errors.length > MAX_ERRORS) this.s.errors.shift();
    }
  }

  apply(event: RunEvent, offset = 0, length = 0, line = 0): void {
    const s = this.s;
    s.lastTime = event.time;
    switch (event.type) {
      case 'run_start': {
        const { type: _t, v: _v, ...info } = event;
        if (event.resumed_from_step !== null) this.supersedeAfter(event.resumed_from_step);
        s.info = info;
        s.firstStartTime ??= event.time;
        s.starts++;
        s.lastMarker = 'start';
        s.end = undefined;
        s.step = event.step;
        s.stepTimes = []; // a restart's loading time is not training speed
        break;
      }
      case 'rollout':
        this.index.add(event, offset, length, line);
        break;
      case 'step': {
        s.step = event.step;
        const { global, perTier } = stepMetrics(event);
        const flat = { ...global };
        for (const t of perTier) {
          const mk = modeKey(t.mode);
          if (!s.tierModes.includes(mk)) s.tierModes.push(mk);
          for (const [name, value] of Object.entries(t.metrics)) flat[tierMetricKey(t.mode, name)] = value;
        }
        s.lastMetrics = flat;
        s.stepTimes.push({ step: event.step, time: event.time });
        if (s.stepTimes.length > RATE_WINDOW) s.stepTimes.shift();
        for (const [k, value] of Object.entries(flat)) {
          let series = s.metrics.get(k);
          if (!series) s.metrics.set(k, (series = { steps: [], values: [] }));
          series.steps.push(event.step);
          series.values.push(value);
        }
        break;
      }
      case 'eval': {
        const { type: _t, v: _v, ...result } = event;
        s.evals.push(result);
        break;
      }
      case 'checkpoint': {
        const { type: _t, v: _v, ...ckpt } = event;
        s.checkpoints.push(ckpt);
        break;
      }
      case 'log': {
        const { type: _t, v: _v, ...log } = event;
        if (log.message.length > MAX_LOG_MESSAGE) log.message = `${log.message.slice(0, MAX_LOG_MESSAGE)} [...]`;
        s.logs.push(log);
        if (s.logs.length > MAX_LOG_LINES) s.logs.shift();
        break;
      }
      case 'run_end': {
        const { type: _t, v: _v, ...end } = event;
        s.end = end;
        s.lastMarker = 'end';
        s.step = Math.max(s.step, event.step);
        break;
      }
    }
  }

  /** The latest run_start (a resumed run has several). */
  get info(): RunInfo | undefined {
    return this.s.info;
  }

  /** Time of the first run_start: when the run began. */
  get startTime(): number | undefined {
    return this.s.firstStartTime;
  }

  /** run_end of the latest attempt, if it ended. */
  get end(): RunEnd | undefined {
    return this.s.end;
  }

  /** How many times the run was started (1 + resumes). */
  get starts(): number {
    return this.s.starts;
  }

  /** Last completed optimizer step. */
  get step(): number {
    return this.s.step;
  }

  get lastEventTime(): number | undefined {
    return this.s.lastTime;
  }

  /** What the events say (judge.ts decides), with `isAlive` for the pid of an unended run_start. */
  status(isAlive: IsAlive = isPidAlive): RunStatus {
    return judgeRun({ latest: latestOfModel(this), isAlive }).status;
  }

  /** Optimizer steps per second over the last few step events of this attempt; null before two. */
  stepsPerSecond(): number | null {
    const t = this.s.stepTimes;
    if (t.length < 2) return null;
    const steps = t[t.length - 1].step - t[0].step;
    const seconds = t[t.length - 1].time - t[0].time;
    return steps > 0 && seconds > 0 ? steps / seconds : null;
  }

  /** Seconds to `total_steps` at the current rate, or null when unknown. */
  etaSeconds(): number | null {
    const rate = this.stepsPerSecond();
    const total = this.s.info?.total_steps;
    return rate && total !== undefined ? Math.max(0, total - this.s.step) / rate : null;
  }

  metricKeys(): string[] {
    return [...this.s.metrics.keys()].sort();
  }

  series(key: string): Series {
    const series = this.s.metrics.get(key);
    return series ? { steps: [...series.steps], values: [...series.values] } : { steps: [], values: [] };
  }

  /** The modes step events have per-tier metrics for: natural, efficiency, then budgets ascending. */
  tierModes(): Mode[] {
    return this.s.tierModes.map((k) => parseModeKey(k)!).sort(compareModes);
  }

  /** Metrics of the last step event (per-tier ones under tierMetricKey). */
  get lastMetrics(): Readonly<Record<string, number | null>> | undefined {
    return this.s.lastMetrics;
  }

  /** Every eval event, in file order. */
  get evals(): readonly EvalResult[] {
    return this.s.evals;
  }

  /** The latest result per (dataset, mode), or the one at `step`: datasets A-Z, then compareModes. */
  evalTable(step?: number): EvalResult[] {
    const latest = new Map<string, EvalResult>();
    for (const e of this.s.evals) if (step === undefined || e.step === step) latest.set(`${e.dataset}\u0000${e.mode}`, e);
    return [...latest.values()].sort((a, b) =>
      a.dataset < b.dataset ? -1 : a.dataset > b.dataset ? 1 : compareModeKeys(a.mode, b.mode));
  }

  get checkpoints(): readonly CheckpointInfo[] {
    return this.s.checkpoints;
  }

  /** The last MAX_LOG_LINES log events. */
  get logs(): readonly LogLine[] {
    return this.s.logs;
  }

  /** The last MAX_ERRORS bad lines, `line N: ...`; `errorCount` counts them all. */
  get errors(): readonly LineError[] {
    return this.s.errors;
  }

  get errorCount(): number {
    return this.s.errorCount;
  }

  get rolloutCount(): number {
    return this.index.count;
  }

  rolloutSteps(): number[] {
    return this.index.steps();
  }

  queryIndices(step: number): number[] {
    return this.index.queryIndices(step);
  }

  /** Small fields of a rollout group (no text), by sample. */
  rolloutGroup(step: number, queryIndex: number): RolloutSummary[] {
    return this.index.group(step, queryIndex);
  }

  /** n_gen per tier label at `step`, for length histograms. */
  lengthsByTier(step: number): Map<string, number[]> {
    return this.index.lengthsByTier(step);
  }

  /** Full rollout events of a group, text included, read from the file by byte range. */
  readRolloutGroup(step: number, queryIndex: number): Promise<RolloutGroupRead> {
    return readRollouts(this.eventsPath, this.index.group(step, queryIndex));
  }

  /**
   * A resumed run restarts from a checkpoint: what was logged for later steps was abandoned. One
   * pass over each series drops its later points and finds its last point at or before `step`;
   * lastMetrics becomes the metrics of the last step event at or before `step`, as the series have them.
   */
  private supersedeAfter(step: number): void {
    const s = this.s;
    this.index.dropAfter(step);
    let last = -1; // the last step at or before `step` that any series has
    const lastOf = new Map<string, { step: number; value: number | null }>();
    for (const [k, series] of s.metrics) {
      let kept: Series | undefined; // a copy, from the first point dropped on
      let best = -1;
      let value: number | null = null;
      for (let i = 0; i < series.steps.length; i++) {
        const x = series.steps[i];
        if (x > step) {
          kept ??= { steps: series.steps.slice(0, i), values: series.values.slice(0, i) };
          continue;
        }
        if (kept) kept.steps.push(x), kept.values.push(series.values[i]);
        if (x >= best) (best = x), (value = series.values[i]); // >=: the last point of a step seen twice
      }
      if (kept && kept.steps.length === 0) s.metrics.delete(k);
      else if (kept) s.metrics.set(k, kept);
      if (best !== -1) lastOf.set(k, { step: best, value });
      if (best > last) last = best;
    }
    if (last === -1) s.lastMetrics = undefined;
    else {
      const out: Record<string, number | null> = {};
      for (const [k, p] of lastOf) if (p.step === last) out[k] = p.value;
      s.lastMetrics = out;
    }
    s.evals = s.evals.filter((e) => e.step <= step);
    s.checkpoints = s.checkpoints.filter((c) => c.step <= step);
  }
}
