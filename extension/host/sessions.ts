// The trainer processes this window started: an output channel per run (stdout/stderr lines), the
// registry told when a run folder appears and when the process ends, and a notification when a
// trainer dies (its last stderr lines) or ends by itself.
import { basename } from 'node:path';
import * as vscode from 'vscode';
import { describeExit, judgeRun } from '../runs/judge';
import type { StopResult, TrainerExit, TrainerProcess } from '../trainer';
import { lastNonEmpty } from './pure';
import type { RunRegistry } from './runRegistry';

interface Session {
  proc: TrainerProcess;
  label: string;
  runDir?: string;
  output?: vscode.OutputChannel;
  buffered: string[];
  stopRequested: boolean;
}

const MAX_BUFFERED = 5000;

export class TrainerSessions implements vscode.Disposable {
  private readonly sessions = new Set<Session>();
  private readonly channels = new Map<string, vscode.OutputChannel>(); // by run folder

  constructor(private readonly registry: RunRegistry) {}

  /**
   * Callbacks to give startTraining/resumeTraining, and `adopt` to call with what it returns. Lines
   * that arrive before the run folder is known are buffered, then go to the run's channel.
   */
  prepare(label: string): {
    callbacks: { onStdout(line: string): void; onStderr(line: string): void; onRunDir(dir: string): void };
    adopt(proc: TrainerProcess): Session;
  } {
    const s: Session = { proc: undefined as unknown as TrainerProcess, label, buffered: [], stopRequested: false };
    const write = (line: string) => {
      if (s.output) s.output.appendLine(line);
      else if (s.buffered.length < MAX_BUFFERED) s.buffered.push(line);
    };
    return {
      callbacks: {
        onStdout: (line) => write(line),
        onStderr: (line) => write(line),
        onRunDir: (dir) => this.attach(s, dir),
      },
      adopt: (proc) => {
        s.proc = proc;
        this.sessions.add(s);
        if (proc.runDir) this.attach(s, proc.runDir);
        void proc.exited.then((exit) => this.onExit(s, exit));
        return s;
      },
    };
  }

  /** The live process writing `runDir`, if this window started it. */
  processFor(runDir: string): TrainerProcess | undefined {
    for (const s of this.sessions) if (s.runDir === runDir && s.proc.running) return s.proc;
    return undefined;
  }

  /** Stop this window's trainer of `runDir` (SIGINT, final checkpoint, run_end). */
  async stop(runDir: string): Promise<StopResult | undefined> {
    for (const s of this.sessions) {
      if (s.runDir === runDir && s.proc.running) {
        s.stopRequested = true;
        return s.proc.stop();
      }
    }
    return undefined;
  }

  /** The output channel of a run (created, and filled by the caller, if this window never had one). */
  channel(runDir: string, label = basename(runDir)): { channel: vscode.OutputChannel; existed: boolean } {
    const existing = this.channels.get(runDir);
    if (existing) return { channel: existing, existed: true };
    const channel = vscode.window.createOutputChannel(`HBPO: ${label}`);
    this.channels.set(runDir, channel);
    return { channel, existed: false };
  }

  /** Every trainer this window started that still runs. */
  get running(): TrainerProcess[] {
    return [...this.sessions].filter((s) => s.proc.running).map((s) => s.proc);
  }

  /**
   * Trainers are independent processes: closing or reloading the window does not stop them (the
   * next window re-attaches by tailing their folders). Only the channels go.
   */
  dispose(): void {
    for (const c of this.channels.values()) c.dispose();
    this.channels.clear();
    this.sessions.clear();
  }

  private attach(s: Session, dir: string): void {
    if (s.runDir) return;
    s.runDir = dir;
    s.label = basename(dir);
    s.output = this.channel(dir, s.label).channel;
    for (const line of s.buffered) s.output.appendLine(line);
    s.buffered = [];
    this.registry.adopt(dir, () => (s.proc as TrainerProcess | undefined)?.facts());
  }

  private async onExit(s: Session, exit: TrainerExit): Promise<void> {
    this.sessions.delete(s);
    if (!s.output) {
      // Died before it named its run folder (e.g. the model failed to load): keep its output anyway.
      s.output = vscode.window.createOutputChannel(`HBPO: ${s.label}`);
      this.channels.set(`pending:${s.label}:${Date.now()}`, s.output);
      for (const line of s.buffered) s.output.appendLine(line);
    }
    const how = describeExit(exit);
    s.output.appendLine(`[HBPO Studio] trainer ${how}${exit.runEnd ? `; run_end: ${exit.runEnd.status}` : ''}`);
    const status = exit.runEnd?.status;
    // The run store judges the attempt: its own run_end (stdout, else the file), else failed, whatever the exit code.
    const verdict = judgeRun({ child: s.proc.facts() });
    const ok = verdict.attempt === 'finished' || verdict.attempt === 'stopped';
    if (s.runDir) {
      if (!ok && status !== 'failed') this.registry.markFailed(s.runDir, `trainer ${how}`);
      this.registry.released(s.runDir);
    }
    if (ok) {
      if (status === 'finished' && !s.stopRequested) {
        const choice = await vscode.window.showInformationMessage(`HBPO: run ${s.label} finished (${exit.runEnd?.step ?? '?'} steps).`, 'Open Dashboard');
        if (choice && s.runDir) await vscode.commands.executeCommand('hbpo.openDashboard', s.runDir);
      }
      return;
    }
    const tail = lastNonEmpty(exit.stderrTail, 6);
    const why = exit.runEnd ? `the trainer ${how}.${exit.runEnd.reason ? ` ${exit.runEnd.reason}.` : ''}` : `the ${verdict.reason}.`;
    const choice = await vscode.window.showErrorMessage(
      `HBPO: training run ${s.label} failed: ${why}${tail.length ? ` Last output: ${tail.join(' ⏎ ')}` : ''}`,
      'Show Output',
    );
    if (choice === 'Show Output') s.output.show(true);
  }
}
