// One trainer process (`python -m hbpo train|resume ... --events-stdout`): spawned without a shell in
// its own process group, its output delivered line by line, its run folder discovered, and stopped the
// way the trainer expects (SIGINT: abandon the step, checkpoint, run_end "stopped", exit 0).
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { RunEndEvent, RunEvent, RunStartEvent } from '../events';
import { childEnd, type ChildFacts } from '../runs/judge';
import { parseEventText } from '../runs/lineReader';
import { readRunMarks } from '../runs/runIndex';
import { trainerEnv } from './exec';
import { readLines, Tail } from './lines';

export interface TrainerCallbacks {
  /** A stdout line that is not a valid event (events go to onEvent instead; a malformed one comes here). */
  onStdout?: (line: string) => void;
  /** A stderr line: the trainer's human-readable log, warnings, tracebacks. */
  onStderr?: (line: string) => void;
  /** A validated event from the trainer's stdout (the same ones it appends to events.jsonl). */
  onEvent?: (event: RunEvent) => void;
  /** The run folder, once known (at once for a resume). */
  onRunDir?: (runDir: string) => void;
}

export interface TrainerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The last ~50 stderr lines: the place to look when code is not 0. */
  stderrTail: string[];
  runDir?: string;
  /** This session's run_end event (from stdout, or else from the end of events.jsonl). */
  runEnd?: RunEndEvent;
  /** The process could not be started (e.g. ENOENT). */
  error?: string;
}

export interface StopResult extends TrainerExit {
  /** Whether this session wrote its run_end event. */
  runEndWritten: boolean;
  /** The run's last checkpoint folder (absolute) that run_end names, or null (e.g. stopped at step 0). */
  checkpoint: string | null;
  /** Whether that checkpoint folder is on disk. */
  checkpointWritten: boolean;
  /** The signals stop sent, in order: SIGINT, then SIGTERM after the grace period, SIGKILL (group) at the timeout. */
  signalsSent: NodeJS.Signals[];
}

export interface StopOptions {
  /** When to SIGKILL the whole process group (default 120 s: a final checkpoint of a big model takes a while). */
  timeoutMs?: number;
  /** When to follow SIGINT with SIGTERM (default half the timeout). */
  graceMs?: number;
}

export interface SpawnSpec {
  python: string;
  args: string[];
  cwd: string;
  env?: NodeJS.ProcessEnv;
  /** Known up front for a resume. */
  runDir?: string;
  /** The runs folder (run.dir, absolute), to find the run folder from run_start's run_id if need be. */
  runsDir?: string;
}

const RUN_FOLDER_LINE = /^hbpo: run folder (.+)$/;
const CLOSE_WAIT_MS = 2000;

export class TrainerProcess {
  /** Every trainer process this module started that has not exited yet. */
  static readonly live = new Set<TrainerProcess>();

  readonly pid: number | undefined;
  /** Resolves once the process has exited and its output is drained; never rejects. */
  readonly exited: Promise<TrainerExit>;
  /** Resolves with the run folder as soon as it is known, or undefined if the process exits first. */
  readonly runDirKnown: Promise<string | undefined>;

  private readonly child: ChildProcess;
  private readonly tail = new Tail(50);
  private readonly startedAt = Date.now() / 1000; // before the spawn: every event of its own is later
  private _runDir: string | undefined;
  private _runStart: RunStartEvent | undefined;
  private _runEnd: RunEndEvent | undefined;
  private _lastStep: number | undefined;
  private _exit: TrainerExit | undefined;
  private closed = false; // exited and drained (the exit report may still be on its way)
  private stopping: Promise<StopResult> | undefined;
  private resolveRunDir!: (dir: string | undefined) => void;

  constructor(private readonly spec: SpawnSpec, private readonly callbacks: TrainerCallbacks = {}) {
    this.runDirKnown = new Promise((r) => { this.resolveRunDir = r; });
    this.child = spawn(spec.python, spec.args, {
      cwd: spec.cwd,
      env: trainerEnv(spec.env),
      shell: false,
      detached: process.platform !== 'win32', // its own process group, so stop can end all of it
      stdio: ['ignore', 'pipe', 'pipe'],
      windowsHide: true,
    });
    this.pid = this.child.pid;
    TrainerProcess.live.add(this);
    if (spec.runDir) this.setRunDir(spec.runDir);

    const flushOut = readLines(this.child.stdout!, (line) => this.onStdoutLine(line));
    const flushErr = readLines(this.child.stderr!, (line) => this.onStderrLine(line));
    this.exited = new Promise((resolveExit) => {
      let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
      let error: string | undefined;
      let closeTimer: NodeJS.Timeout | undefined;
      const finalize = async () => {
        if (this.closed) return;
        this.closed = true;
        if (closeTimer) clearTimeout(closeTimer);
        flushOut();
        flushErr();
        // A grandchild holding the pipes open must not keep us waiting.
        this.child.stdout?.destroy();
        this.child.stderr?.destroy();
        TrainerProcess.live.delete(this);
        if (!this._runEnd && this._runDir) this._runEnd = await this.runEndOnDisk(this._runDir);
        this.resolveRunDir(this._runDir);
        this._exit = {
          code: exitInfo?.code ?? null, signal: exitInfo?.signal ?? null, stderrTail: this.tail.get(),
          runDir: this._runDir, runEnd: this._runEnd, ...(error ? { error } : {}),
        };
        resolveExit(this._exit);
      };
      this.child.on('error', (err) => {
        error = err.message;
        this.tail.push(`failed to start ${spec.python}: ${err.message}`);
        if (this.child.pid === undefined) void finalize();
      });
      this.child.on('exit', (code, signal) => {
        exitInfo = { code, signal };
        closeTimer = setTimeout(() => void finalize(), CLOSE_WAIT_MS);
      });
      this.child.on('close', (code, signal) => {
        exitInfo ??= { code, signal };
        void finalize();
      });
    });
  }

  get runDir(): string | undefined {
    return this._runDir;
  }

  /** This session's run_start event, once it arrived. */
  get runStart(): RunStartEvent | undefined {
    return this._runStart;
  }

  /** The step of the last step event seen. */
  get lastStep(): number | undefined {
    return this._lastStep;
  }

  get running(): boolean {
    return !this.closed && this.pid !== undefined;
  }

  /** What the run store's judge needs to know about this process (judgeRun's `child`). */
  facts(): ChildFacts {
    const exit = this._exit;
    return {
      pid: this.pid, since: this.startedAt, runStart: this._runStart, runEnd: this._runEnd,
      ...(exit ? { exit: { code: exit.code, signal: exit.signal, error: exit.error } } : {}),
    };
  }

  /**
   * SIGINT (the trainer abandons the step in progress, writes a checkpoint and run_end, exits 0),
   * SIGTERM after `graceMs`, SIGKILL to the whole process group after `timeoutMs`. Resolves once the
   * process has exited, with what it left behind. Calling it again returns the same promise; on a
   * process that already exited it just reports.
   */
  stop(opts: StopOptions = {}): Promise<StopResult> {
    this.stopping ??= this.doStop(opts);
    return this.stopping;
  }

  private async doStop({ timeoutMs = 120_000, graceMs }: StopOptions): Promise<StopResult> {
    const signalsSent: NodeJS.Signals[] = [];
    const timers: NodeJS.Timeout[] = [];
    if (this.running) {
      const send = (signal: NodeJS.Signals, group: boolean) => {
        if (!this.running) return;
        signalsSent.push(signal);
        this.signal(signal, group);
      };
      send('SIGINT', false);
      timers.push(setTimeout(() => send('SIGTERM', false), graceMs ?? timeoutMs / 2));
      timers.push(setTimeout(() => send('SIGKILL', true), timeoutMs));
    }
    const exit = await this.exited;
    timers.forEach(clearTimeout);
    const rel = exit.runEnd?.checkpoint ?? null;
    const checkpoint = rel && exit.runDir ? resolve(exit.runDir, rel) : null;
    return {
      ...exit, signalsSent, runEndWritten: exit.runEnd !== undefined,
      checkpoint, checkpointWritten: checkpoint !== null && isDir(checkpoint),
    };
  }

  /** Kill the whole process group now (no checkpoint). For clean-up; prefer stop(). */
  kill(): void {
    if (this.running) this.signal('SIGKILL', true);
  }

  private signal(signal: NodeJS.Signals, group: boolean): void {
    try {
      if (group && this.pid !== undefined && process.platform !== 'win32') process.kill(-this.pid, signal);
      else this.child.kill(signal);
    } catch {
      // already gone (ESRCH)
    }
  }

  private setRunDir(dir: string): void {
    if (this._runDir) return;
    this._runDir = dir;
    this.resolveRunDir(dir);
    this.callbacks.onRunDir?.(dir);
  }

  private onStdoutLine(line: string): void {
    if (line.startsWith('{')) {
      const parsed = parseEventText(line, 0);
      if (parsed.ok) {
        this.onEvent(parsed.event);
        return;
      }
    }
    this.callbacks.onStdout?.(line);
  }

  private onEvent(event: RunEvent): void {
    if (event.type === 'run_start') {
      this._runStart = event;
      if (!this._runDir && this.spec.runsDir) this.setRunDir(join(this.spec.runsDir, event.run_id));
    } else if (event.type === 'step') {
      this._lastStep = event.step;
    } else if (event.type === 'run_end') {
      this._runEnd = event;
    }
    this.callbacks.onEvent?.(event);
  }

  /** The run_end of this process's attempt from the run store, when its stdout did not carry one. */
  private async runEndOnDisk(runDir: string): Promise<RunEndEvent | undefined> {
    try {
      const { latest } = await readRunMarks(runDir);
      return latest?.type === 'run_end' && childEnd({ since: this.startedAt }, latest) ? latest : undefined;
    } catch {
      return undefined;
    }
  }

  private onStderrLine(line: string): void {
    this.tail.push(line);
    const m = RUN_FOLDER_LINE.exec(line);
    if (m) this.setRunDir(resolve(this.spec.cwd, m[1].trim()));
    this.callbacks.onStderr?.(line);
  }
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

export function isNonEmptyDir(path: string): boolean {
  try {
    return readdirSync(path).length > 0;
  } catch {
    return false;
  }
}
