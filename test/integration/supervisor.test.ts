// The trainer supervisor against the REAL trainer: `python -m hbpo` from the repository's .venv, on a
// tiny config (a ~20k-parameter model, 2 queries x 4 rollouts a step). Asserts behaviour, not speed:
// another process may be using the same cores, so the waits are generous.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { RunEvent, StepEvent } from '../../extension/events';
import {
  InvalidConfigError, locateProblems, resumeTraining, startTraining, TrainerProcess, type StopResult,
} from '../../extension/trainer';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const python = join(root, '.venv', process.platform === 'win32' ? 'Scripts/python.exe' : 'bin/python');
const skip = existsSync(python)
  ? false
  : `no trainer venv at ${python}: run \`npm run setup\` to create it (these tests start the real trainer)`;
if (skip) console.log(`# skipping the supervisor integration tests: ${skip}`);

const WAIT_MS = 240_000; // a cold start imports torch and transformers: seconds alone, minutes on a busy machine
const TEST_TIMEOUT = 420_000;
const env = { OMP_NUM_THREADS: '1', TOKENIZERS_PARALLELISM: 'false' };

/** The tiny config every real-process test uses (test/fixtures/tiny.yaml), with other tiers. */
function tinyConfig(tiers: string): string {
  const text = readFileSync(join(root, 'test', 'fixtures', 'tiny.yaml'), 'utf8');
  if (!/^tiers: \[[\d, ]+\]$/m.test(text)) throw new Error('test/fixtures/tiny.yaml has no one-line tiers: [...]');
  return text.replace(/^tiers: \[[\d, ]+\]$/m, `tiers: ${tiers}`);
}


let tmp = '';
before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'hbpo-supervisor-'));
});
after(() => {
  for (const p of TrainerProcess.live) p.kill(); // a failed test must not leave a trainer running
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** Wait until `ready()` holds; fail early (with the trainer's stderr) if the process exits first. */
async function waitFor(ready: () => boolean, proc: TrainerProcess, what: string): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  let exited = false;
  void proc.exited.then(() => { exited = true; });
  while (!ready()) {
    if (exited) {
      const exit = await proc.exited;
      assert.fail(`the trainer exited (code ${exit.code}, signal ${exit.signal}) before ${what}:\n` +
        exit.stderrTail.join('\n'));
    }
    if (Date.now() > deadline) assert.fail(`no ${what} within ${WAIT_MS / 1000} s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function fileEvents(runDir: string): Array<{ type: string; step: number; [k: string]: unknown }> {
  return readFileSync(join(runDir, 'events.jsonl'), 'utf8').split('\n').filter((l) => l.trim())
    .map((l) => JSON.parse(l));
}

function assertCleanStop(r: StopResult, runDir: string): void {
  const why = `stderr:\n${r.stderrTail.join('\n')}`;
  assert.equal(r.code, 0, why);
  assert.equal(r.signal, null, why);
  assert.deepEqual(r.signalsSent.slice(0, 1), ['SIGINT']);
  assert.equal(r.runDir, runDir);
  assert.ok(r.runEndWritten, why);
  assert.equal(r.runEnd?.status, 'stopped');
  assert.match(r.runEnd?.reason ?? '', /SIGINT|SIGTERM/);
  assert.ok(r.checkpointWritten, `no checkpoint folder ${r.checkpoint}`);
  assert.equal(r.checkpoint, join(runDir, 'checkpoints', `step-${String(r.runEnd!.step).padStart(6, '0')}`));
  assert.ok(existsSync(join(r.checkpoint!, 'model')), 'the checkpoint holds the model');
  const onDisk = fileEvents(runDir);
  const last = onDisk[onDisk.length - 1];
  assert.equal(last.type, 'run_end', 'run_end is the last event in events.jsonl');
  assert.equal(last.status, 'stopped');
}

// One after the other (side by side they only compete for the cores); the resume test continues the
// run the first one stops.
let settleFirstRun!: (run: { runDir: string; step: number } | undefined) => void;
const firstRun = new Promise<{ runDir: string; step: number } | undefined>((r) => { settleFirstRun = r; });

describe('trainer supervisor', { skip }, () => {
  test('starts the real trainer, streams events, stops it with a checkpoint and run_end', { timeout: TEST_TIMEOUT },
    async () => {
      const configPath = join(tmp, 'tiny.yaml');
      writeFileSync(configPath, tinyConfig('[8, 16]'));
      const runsDir = join(tmp, 'runs');
      const events: RunEvent[] = [];
      const stderr: string[] = [];
      const stdout: string[] = [];
      let announced: string | undefined;
      const asked: number[][] = [];
      const proc = await startTraining({
        python, cwd: tmp, configPath: 'tiny.yaml', runsDir: 'runs', env,
        // No GPU here (or CUDA_VISIBLE_DEVICES hides them): nothing to choose, so no question, one process.
        processes: async (choices) => { asked.push(choices); return choices[0]; },
        onEvent: (e) => events.push(e), onStderr: (l) => stderr.push(l), onStdout: (l) => stdout.push(l),
        onRunDir: (d) => { announced = d; },
      });
      try {
        assert.ok(proc.pid && proc.pid > 0);
        assert.ok(proc.running);
        assert.ok(TrainerProcess.live.has(proc));

        await waitFor(() => events.some((e) => e.type === 'step'), proc, 'step event');
        const runDir = await proc.runDirKnown;
        assert.ok(runDir, 'the run folder was discovered');
        assert.equal(announced, runDir);
        assert.equal(dirname(runDir), runsDir);
        assert.ok(stderr.some((l) => l.startsWith('hbpo: run folder ')), 'stderr lines are delivered');
        assert.ok(stdout.every((l) => !l.startsWith('{"v"')), 'event lines go to onEvent, not onStdout');

        const start = events.find((e) => e.type === 'run_start');
        assert.ok(start && start.type === 'run_start');
        assert.equal(start.pid, proc.pid);
        assert.equal(start.run_id, runDir.split(/[\\/]/).pop());
        assert.equal(start.resumed_from_step, null);
        assert.deepEqual(asked, [], 'one process needs no question');
        assert.equal(start.world_size ?? 1, 1);
        assert.deepEqual(proc.runStart, start);
        assert.equal(events[0].type, 'run_start');
        assert.ok(events.some((e) => e.type === 'rollout'));
        assert.ok((proc.lastStep ?? 0) >= 1);

        const onDisk = fileEvents(runDir);
        assert.equal(onDisk[0].type, 'run_start');
        assert.ok(onDisk.some((e) => e.type === 'step'), 'step events land in events.jsonl');

        const r = await proc.stop({ timeoutMs: 180_000 });
        assertCleanStop(r, runDir);
        assert.ok(r.runEnd!.step >= 1);
        assert.ok(!proc.running);
        assert.ok(!TrainerProcess.live.has(proc));
        assert.deepEqual(await proc.exited, { code: r.code, signal: r.signal, stderrTail: r.stderrTail, runDir, runEnd: r.runEnd });
        assert.ok(r.stderrTail.length > 0 && r.stderrTail.length <= 50);
        assert.equal(await proc.stop(), await proc.stop(), 'stop is idempotent');
        settleFirstRun({ runDir, step: r.runEnd!.step });
      } finally {
        settleFirstRun(undefined); // no-op after a success; lets the resume test skip after a failure
        proc.kill();
      }
    });

  test('a run of 2 processes (torchrun) streams rank 0\'s events and stops as one, with a checkpoint', { timeout: TEST_TIMEOUT },
    async () => {
      const configPath = join(tmp, 'two.yaml');
      writeFileSync(configPath, tinyConfig('[8, 16]'));
      const events: RunEvent[] = [];
      const proc = await startTraining({
        python, cwd: tmp, configPath: 'two.yaml', runsDir: 'runs-two', env, processes: 2, onEvent: (e) => events.push(e),
      });
      try {
        await waitFor(() => events.some((e) => e.type === 'step'), proc, 'step event');
        const runDir = await proc.runDirKnown;
        const start = events.find((e) => e.type === 'run_start');
        assert.ok(start?.type === 'run_start');
        assert.equal(start.world_size, 2);
        assert.deepEqual(start.devices, ['cpu', 'cpu']);
        assert.notEqual(start.pid, proc.pid, 'rank 0 is a child of the launcher');
        const step = events.find((e) => e.type === 'step');
        assert.equal(events.filter((e) => e.type === 'rollout' && e.step === step!.step).length, 8, 'both ranks\' rollouts');
        const r = await proc.stop({ timeoutMs: 180_000 });
        assertCleanStop(r, runDir!);
      } finally {
        proc.kill();
      }
    });

  test('a malformed config is refused with its problems, and nothing is started', { timeout: TEST_TIMEOUT },
    async () => {
      const text = tinyConfig('[16, 8]');
      const configPath = join(tmp, 'bad.yaml');
      writeFileSync(configPath, text);
      const runsDir = join(tmp, 'bad-runs');
      const liveBefore = TrainerProcess.live.size;
      writeFileSync(join(tmp, 'good.yaml'), tinyConfig('[8, 16]'));

      let spawned = 0;
      const count = { onEvent: () => spawned++, onStderr: () => spawned++, onStdout: () => spawned++ };
      // Both refusals at once: each validation spends seconds importing the trainer's dependencies.
      const [badFile, badOverride] = await Promise.allSettled([
        startTraining({ python, cwd: tmp, configPath, runsDir, env, ...count }),
        startTraining({ python, cwd: tmp, configPath: 'good.yaml', runsDir, env, overrides: ['train.steps=0'], ...count }),
      ]);

      assert.equal(badFile.status, 'rejected');
      const err = (badFile as PromiseRejectedResult).reason as unknown;
      assert.ok(err instanceof InvalidConfigError, String(err));
      assert.equal(err.configPath, configPath);
      const tiers = err.problems.find((p) => p.startsWith('tiers:'));
      assert.ok(tiers, `a problem names tiers: ${JSON.stringify(err.problems)}`);
      // ... and it maps to the line of the YAML file that holds tiers, for an editor diagnostic.
      const [where] = locateProblems(text, [tiers]);
      assert.equal(where.field, 'tiers');
      assert.equal(where.line, text.split('\n').findIndex((l) => l.startsWith('tiers:')));
      assert.ok(where.exact);

      assert.equal(badOverride.status, 'rejected', 'a bad override is refused the same way');
      const err2 = (badOverride as PromiseRejectedResult).reason as unknown;
      assert.ok(err2 instanceof InvalidConfigError && err2.problems.some((p) => p.startsWith('train.steps:')), String(err2));

      assert.equal(spawned, 0);
      assert.equal(TrainerProcess.live.size, liveBefore, 'no trainer process was started');
      assert.ok(!existsSync(runsDir), 'no runs folder was created');
    });

  test('resume continues from the checkpoint step', { timeout: TEST_TIMEOUT }, async (t) => {
    const first = await firstRun;
    if (!first) {
      t.skip('the first test did not leave a stopped run');
      return;
    }
    const { runDir, step } = first;
    const events: RunEvent[] = [];
    const proc = await resumeTraining(runDir, { python, env, onEvent: (e) => events.push(e) });
    try {
      assert.equal(proc.runDir, runDir, 'a resume knows its run folder up front');
      await waitFor(() => events.some((e) => e.type === 'step'), proc, 'step event after resuming');
      const start = events.find((e) => e.type === 'run_start');
      assert.ok(start && start.type === 'run_start');
      assert.equal(start.resumed_from_step, step);
      assert.equal(start.step, step);
      const firstStep = events.find((e): e is StepEvent => e.type === 'step');
      assert.equal(firstStep?.step, step + 1, 'the first step after resuming follows the checkpoint');

      // While it runs, a second resume of the same folder is refused.
      await assert.rejects(resumeTraining(runDir, { python, env }),
        (err: unknown) => err instanceof InvalidConfigError && /still being trained/.test(err.message));

      const r = await proc.stop({ timeoutMs: 180_000 });
      assertCleanStop(r, runDir);
      assert.ok(r.runEnd!.step > step);
      const starts = fileEvents(runDir).filter((e) => e.type === 'run_start');
      assert.equal(starts.length, 2, 'both sessions appended to the same events.jsonl');
      const checkpoints = readdirSync(join(runDir, 'checkpoints')).filter((n) => n.startsWith('step-'));
      assert.ok(checkpoints.includes(`step-${String(r.runEnd!.step).padStart(6, '0')}`));
    } finally {
      proc.kill();
    }
  });
});
