// Answer checking for the comparison panel with the trainer's own grader (math-verify, the same
// function rollouts are scored with): one `python -m hbpo grade` process per comparison, fed JSON
// lines on stdin, answering one JSON line per item. No shell; the process ends when stdin closes.
import { spawn, type ChildProcess } from 'node:child_process';
import { trainerEnv } from '../trainer/exec';
import { readLines } from '../trainer/lines';

export interface Verdict {
  /** The extracted answer (untrusted model text), null when none was found. */
  answer: string | null;
  correct: boolean;
}

export interface AnswerGrader {
  grade(text: string, groundTruth: string): Promise<Verdict>;
  dispose(): void;
}

/** Grades through a long-lived `python -m hbpo grade`; a failure rejects with what the process said. */
export class TrainerGrader implements AnswerGrader {
  private child: ChildProcess | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: Verdict) => void; reject: (e: Error) => void }>();
  private stderr = '';
  private failure: Error | undefined;

  constructor(private readonly python: string, private readonly cwd?: string) {}

  private start(): ChildProcess {
    if (this.child) return this.child;
    const child = spawn(this.python, ['-m', 'hbpo', 'grade'], {
      cwd: this.cwd, env: trainerEnv(), shell: false, stdio: ['pipe', 'pipe', 'pipe'], windowsHide: true,
    });
    this.child = child;
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (s: string) => { this.stderr = (this.stderr + s).slice(-4000); });
    child.stdin!.on('error', () => undefined); // a dead grader is reported by 'close'
    readLines(child.stdout!, (line) => this.onLine(line));
    const fail = (why: string) => {
      this.failure = new Error(`the answer grader (${this.python} -m hbpo grade) ${why}` +
        (this.stderr.trim() ? `: ${this.stderr.trim().split('\n').slice(-3).join(' | ')}` : ''));
      for (const p of this.pending.values()) p.reject(this.failure);
      this.pending.clear();
    };
    child.on('error', (err) => fail(`could not start (${err.message})`));
    child.on('close', (code, signal) => fail(`exited (${signal ?? `code ${code}`})`));
    return child;
  }

  private onLine(line: string): void {
    let msg: { id?: unknown; answer?: unknown; correct?: unknown; error?: unknown };
    try {
      msg = JSON.parse(line);
    } catch {
      return; // not ours (a stray print): the item times out with the process, not silently wrong
    }
    const id = typeof msg.id === 'number' ? msg.id : -1;
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    if (typeof msg.error === 'string') p.reject(new Error(`grading: ${msg.error}`));
    else if (typeof msg.correct === 'boolean' && (msg.answer === null || typeof msg.answer === 'string')) {
      p.resolve({ answer: msg.answer as string | null, correct: msg.correct });
    } else p.reject(new Error(`grading: unexpected reply ${line.slice(0, 200)}`));
  }

  grade(text: string, groundTruth: string): Promise<Verdict> {
    if (this.failure) return Promise.reject(this.failure);
    const child = this.start();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      child.stdin!.write(`${JSON.stringify({ id, text, ground_truth: groundTruth })}\n`);
    });
  }

  dispose(): void {
    this.child?.stdin?.end();
    const child = this.child;
    if (child && child.exitCode === null) setTimeout(() => { if (child.exitCode === null) child.kill(); }, 5000).unref();
  }
}
