// The one place that decides a run's status. Everything that shows or acts on a status (the run
// model, the folder index, the Runs view, the supervisor's exit report, the resume and stop guards)
// gathers what it knows and asks `judgeRun`; nothing else compares run_start with run_end or checks
// a pid. No `vscode`, no I/O (a pid check aside): the rules are unit-tested as they are.
import type { RunEndEvent, RunStartEvent } from '../events';
import { isPidAlive, type IsAlive } from './pid';

import type { RunStatus } from '../../common/runData';

export type { RunStatus };
/** `unknown`: events.jsonl has content but does not read as a run (and says nothing else). */
export type JudgedStatus = RunStatus | 'unknown';

/** A run_start or run_end as far as the status goes. */
export type StartMarker = Pick<RunStartEvent, 'type' | 'time' | 'pid'>;
export type EndMarker = Pick<RunEndEvent, 'type' | 'time' | 'status' | 'reason'>;
export type Marker = StartMarker | EndMarker;

/** How a supervised trainer process ended (TrainerExit's fields). */
export interface ExitFacts {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** It could not be started (e.g. ENOENT). */
  error?: string;
}

/** A trainer process this window started and supervises, writing the run. */
export interface ChildFacts {
  pid?: number;
  /** When it was spawned (unix seconds, taken before the spawn): every event of its own is later. */
  since: number;
  /** Its own run_start and run_end, as it printed them on stdout. */
  runStart?: Pick<RunStartEvent, 'pid'>;
  runEnd?: Omit<EndMarker, 'type'>;
  /** Set once it exited. */
  exit?: ExitFacts;
}

export interface RunFacts {
  /** The latest run_start or run_end of events.jsonl, in file order: the one that counts. */
  latest?: Marker;
  /** Why events.jsonl, which has content, does not read as a run (no run_start after its log lines). */
  unreadable?: string;
  /** A trainer process of this window writes the run (running, or just exited). */
  child?: ChildFacts;
  /** What an earlier window recorded: its trainer of this run died without a run_end (survives reloads). */
  failedMark?: string;
  /** Whether the pid of a run_start still runs (default: `isPidAlive`). */
  isAlive?: IsAlive;
}

export type AttemptStatus = 'starting' | 'running' | 'finished' | 'stopped' | 'failed';

export interface Verdict<S extends JudgedStatus = JudgedStatus> {
  status: S;
  /** Why, in words (a run_end's reason, the pid that is gone, how the trainer exited). */
  reason: string;
  /** What decided: a run_end or the lack of a run_start (events), the supervised process, a pid check, or an earlier window's mark. */
  basis: 'events' | 'process' | 'pid' | 'mark';
  /** With a child: how its own attempt went (a resume can fail while the run keeps its earlier end). */
  attempt?: AttemptStatus;
}

/** `exited with code 1`, `was killed by SIGKILL`, `could not start (spawn ENOENT)`. */
export function describeExit(exit: ExitFacts): string {
  if (exit.error) return `could not start (${exit.error})`;
  return exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
}

/**
 * The run_end that belongs to the child's attempt: the one it printed, else a file's latest marker
 * when that is a run_end written after the child was spawned (its stdout may have been lost).
 */
export function childEnd(child: ChildFacts, latest: Marker | undefined): Omit<EndMarker, 'type'> | undefined {
  if (child.runEnd) return child.runEnd;
  return latest?.type === 'run_end' && latest.time >= child.since ? latest : undefined;
}

/**
 * The status of a run from what is known about it.
 *
 * Without a child of this window: the latest run_start/run_end in the file decides. A run_end is
 * final for its attempt (even while its pid is still exiting); after a resume the later run_start
 * wins over the earlier run_end. A run_start whose pid is gone is stale, or failed if an earlier
 * window saw its trainer die. No run_start: pending (or failed by such a mark), or unknown when the
 * file does not read as a run.
 *
 * With a child: its own attempt is the newest fact. Its run_end decides; while it runs without a
 * run_start of its own the run is pending (a resume before its run_start), then running. Once it
 * exited without a run_end (whatever its exit code) the attempt failed: the run is failed, unless
 * the attempt never started and the run had already ended (a failed resume of a stopped run stays
 * stopped; the failure is reported, not written over the run's end).
 */
export function judgeRun(facts: RunFacts & { unreadable?: undefined }): Verdict<RunStatus>;
export function judgeRun(facts: RunFacts): Verdict;
export function judgeRun(facts: RunFacts): Verdict {
  const { latest, child } = facts;
  if (child) {
    const end = childEnd(child, latest);
    if (end) return { status: end.status, reason: end.reason ?? `run_end: ${end.status}`, basis: 'events', attempt: end.status };
    const started = child.runStart !== undefined || (latest?.type === 'run_start' && child.pid !== undefined && latest.pid === child.pid);
    if (child.exit) {
      const reason = `trainer ${describeExit(child.exit)} without writing run_end`;
      if (!started && latest?.type === 'run_end') {
        return { status: latest.status, reason: `${latest.reason ?? `run_end: ${latest.status}`}; a later ${reason}`, basis: 'events', attempt: 'failed' };
      }
      return { status: 'failed', reason, basis: 'process', attempt: 'failed' };
    }
    return started
      ? { status: 'running', reason: `trainer pid ${child.pid} is training`, basis: 'process', attempt: 'running' }
      : { status: 'pending', reason: 'the trainer is starting (no run_start of its own yet)', basis: 'process', attempt: 'starting' };
  }
  if (latest?.type === 'run_end') return { status: latest.status, reason: latest.reason ?? `run_end: ${latest.status}`, basis: 'events' };
  if (latest?.type === 'run_start') {
    if ((facts.isAlive ?? isPidAlive)(latest.pid)) return { status: 'running', reason: `pid ${latest.pid} is alive`, basis: 'pid' };
    if (facts.failedMark !== undefined) return { status: 'failed', reason: facts.failedMark, basis: 'mark' };
    return { status: 'stale', reason: `pid ${latest.pid} is gone and the run has no run_end`, basis: 'pid' };
  }
  if (facts.failedMark !== undefined) return { status: 'failed', reason: facts.failedMark, basis: 'mark' };
  if (facts.unreadable !== undefined) return { status: 'unknown', reason: facts.unreadable, basis: 'events' };
  return { status: 'pending', reason: 'no run_start yet', basis: 'events' };
}

/** The latest marker of a run model (its latest run_start, or the run_end after it). */
export function latestOfModel(model: { readonly info?: Omit<StartMarker, 'type'>; readonly end?: Omit<EndMarker, 'type'> }): Marker | undefined {
  if (model.end) return { type: 'run_end', time: model.end.time, status: model.end.status, reason: model.end.reason };
  if (model.info) return { type: 'run_start', time: model.info.time, pid: model.info.pid };
  return undefined;
}
