// The one judge of a run's status (extension/runs/judge.ts): every status, the disagreements that
// were possible while several places decided, and the callers (RunModel, RunIndex, liveTrainerPid,
// the supervisor's exit) agreeing with it on the same facts.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parseEventLine, type RunEvent } from '../../../extension/events';
import { childEnd, describeExit, judgeRun, type ChildFacts, type Marker, type RunFacts } from '../../../extension/runs/judge';
import { parseEventText } from '../../../extension/runs/lineReader';
import { RunIndex, readRunMarks } from '../../../extension/runs/runIndex';
import { RunModel } from '../../../extension/runs/runModel';
import { liveTrainerPid } from '../../../extension/trainer/start';
import { TrainerProcess } from '../../../extension/trainer/process';
import { line, runStart, T0, tempDir } from './fixtures';

const start = (pid: number, time = T0): Marker => ({ type: 'run_start', pid, time });
const end = (status: 'finished' | 'stopped' | 'failed', time = T0 + 10, reason?: string): Marker => ({ type: 'run_end', status, time, reason });
const alive = () => true;
const dead = () => false;
const status = (facts: RunFacts) => judgeRun(facts).status;

/** The pid of a process that has exited (and been reaped). */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '']).pid!;
}

const children: ChildProcess[] = [];
after(() => {
  for (const c of children) c.kill('SIGKILL');
  for (const p of TrainerProcess.live) p.kill();
});

/** A process that sleeps until killed; `hbpo` on its command line makes it pass for a trainer. */
function sleeper(looksLikeTrainer: boolean): ChildProcess {
  const args = ['-e', 'setTimeout(() => {}, 120000)', ...(looksLikeTrainer ? ['hbpo-fake-trainer'] : [])];
  const c = spawn(process.execPath, args, { stdio: 'ignore' });
  children.push(c);
  return c;
}

test('from the file alone: each status', () => {
  assert.deepEqual(judgeRun({}), { status: 'pending', reason: 'no run_start yet', basis: 'events' });
  assert.equal(status({ unreadable: 'the first event after any log lines is not a run_start event' }), 'unknown');
  assert.deepEqual(judgeRun({ latest: start(77), isAlive: alive }), { status: 'running', reason: 'pid 77 is alive', basis: 'pid' });
  const stale = judgeRun({ latest: start(77), isAlive: dead });
  assert.equal(stale.status, 'stale');
  assert.match(stale.reason, /pid 77 is gone.*no run_end/);
  for (const s of ['finished', 'stopped', 'failed'] as const) {
    assert.deepEqual(judgeRun({ latest: end(s, T0, `because ${s}`), isAlive: alive }), { status: s, reason: `because ${s}`, basis: 'events' });
  }
  assert.equal(judgeRun({ latest: end('stopped') }).reason, 'run_end: stopped', 'a run_end without a reason still says why');
  assert.equal(status({ latest: end('finished'), unreadable: 'bad head' }), 'finished', 'a readable marker beats a bad head');
});

test('a run_end is final for its attempt, even while its pid is still alive (exiting)', () => {
  let asked = 0;
  const v = judgeRun({ latest: end('failed', T0, 'CUDA out of memory'), isAlive: () => (asked++, true) });
  assert.deepEqual([v.status, v.reason, asked], ['failed', 'CUDA out of memory', 0]);
});

test('after a resume the later run_start wins over the earlier run_end', () => {
  // The file as the model and the index read it: run_start, run_end, run_start (resumed).
  const model = new RunModel('x');
  for (const text of [
    runStart(0, { pid: 1111 }), line('run_end', 1, { status: 'stopped', reason: 'received SIGINT', checkpoint: null }),
    runStart(1, { pid: 2222, resumed_from_step: 1 }),
  ]) {
    const p = parseEventLine(text, 0);
    assert.ok(p.ok);
    model.apply(p.event);
  }
  assert.equal(model.status((pid) => pid === 2222), 'running');
  assert.equal(model.status(dead), 'stale', 'the resumed attempt died without run_end: stale, not the old "stopped"');
  assert.equal(status({ latest: start(2222, T0 + 20), isAlive: dead }), 'stale');
});

test("an earlier window's failed mark: over stale, pending and unknown, never over a run_end or a live pid", () => {
  const failedMark = 'trainer was killed by SIGKILL';
  assert.deepEqual(judgeRun({ latest: start(5), isAlive: dead, failedMark }), { status: 'failed', reason: failedMark, basis: 'mark' });
  assert.equal(status({ failedMark }), 'failed');
  assert.equal(status({ unreadable: 'x', failedMark }), 'failed');
  assert.equal(status({ latest: end('stopped'), failedMark }), 'stopped');
  assert.equal(status({ latest: start(5), isAlive: alive, failedMark }), 'running');
});

test('a child of this window: starting, running, ending, and exiting without run_end', () => {
  const since = T0 + 100;
  const child = (extra: Partial<ChildFacts> = {}): ChildFacts => ({ pid: 900, since, ...extra });
  // Resuming: until its own run_start the run is pending, whatever the earlier attempt left.
  for (const latest of [undefined, end('stopped', since - 50), start(800, since - 90)]) {
    const v = judgeRun({ latest, child: child(), isAlive: dead });
    assert.deepEqual([v.status, v.attempt], ['pending', 'starting'], `before its run_start, file latest ${latest?.type}`);
  }
  // Its run_start, on stdout (the file may lag) or in the file.
  assert.equal(status({ latest: end('stopped', since - 50), child: child({ runStart: { pid: 900 } }) }), 'running');
  assert.equal(status({ latest: start(900, since + 1), child: child(), isAlive: dead }), 'running', 'its own pid, not a pid check');
  // Its run_end decides while it is still exiting, from stdout or from the file.
  assert.equal(status({ child: child({ runStart: { pid: 900 }, runEnd: { status: 'failed', time: since + 5, reason: 'boom' } }) }), 'failed');
  assert.equal(status({ latest: end('finished', since + 5), child: child({ runStart: { pid: 900 } }) }), 'finished');
  // Exited without a run_end: failed, whatever the exit code.
  const zero = judgeRun({ latest: start(900, since + 1), child: child({ exit: { code: 0, signal: null } }) });
  assert.deepEqual([zero.status, zero.attempt, zero.basis], ['failed', 'failed', 'process']);
  assert.match(zero.reason, /exited with code 0 without writing run_end/);
  const killed = judgeRun({ latest: start(900, since + 1), child: child({ runStart: { pid: 900 }, exit: { code: null, signal: 'SIGKILL' } }) });
  assert.deepEqual([killed.status, killed.reason], ['failed', 'trainer was killed by SIGKILL without writing run_end']);
  assert.equal(status({ child: { since, exit: { code: -2, signal: null, error: 'spawn nope ENOENT' } } }), 'failed');
  // A resume of a stale run that dies before its run_start: failed (the file alone would say stale).
  assert.equal(status({ latest: start(800, since - 90), child: child({ exit: { code: 1, signal: null } }), isAlive: dead }), 'failed');
  // A resume of a stopped run that dies before its run_start: the run stays stopped, the attempt failed.
  const resumeFailed = judgeRun({ latest: end('stopped', since - 50, 'received SIGINT'), child: child({ exit: { code: 1, signal: null } }) });
  assert.deepEqual([resumeFailed.status, resumeFailed.attempt], ['stopped', 'failed']);
  assert.match(resumeFailed.reason, /received SIGINT; a later trainer exited with code 1/);
  // A clean end, from stdout or (stdout lost) from the file after it was spawned; an older one is not its own.
  assert.equal(judgeRun({ child: child({ runEnd: { status: 'stopped', time: since + 3 }, exit: { code: 0, signal: null } }) }).attempt, 'stopped');
  assert.equal(judgeRun({ latest: end('finished', since + 3), child: child({ exit: { code: 0, signal: null } }) }).attempt, 'finished');
  assert.equal(childEnd(child(), end('finished', since - 1)), undefined);
});

test('describeExit words the three ways a trainer ends', () => {
  assert.equal(describeExit({ code: 3, signal: null }), 'exited with code 3');
  assert.equal(describeExit({ code: null, signal: 'SIGTERM' }), 'was killed by SIGTERM');
  assert.equal(describeExit({ code: null, signal: null, error: 'spawn x ENOENT' }), 'could not start (spawn x ENOENT)');
});

test('the index, the model and liveTrainerPid agree on the same files', async () => {
  const root = tempDir();
  const trainer = sleeper(true);
  const other = sleeper(false);
  await new Promise((r) => setTimeout(r, 200)); // let them exec, so /proc shows their command lines
  const gone = deadPid();
  const runEnd = (step: number, s: string) => line('run_end', step, { status: s, reason: s, checkpoint: null });
  const log = line('log', 1, { level: 'info', message: 'after the end' });
  const cases: Record<string, { lines: string[]; status: string; live?: number }> = {
    live: { lines: [runStart(0, { pid: trainer.pid })], status: 'running', live: trainer.pid },
    ended: { lines: [runStart(0, { pid: trainer.pid }), runEnd(1, 'failed')], status: 'failed' },
    // A log line after the run_end used to let the resume guard take the run for live.
    'ended-then-log': { lines: [runStart(0, { pid: trainer.pid }), runEnd(1, 'stopped'), log], status: 'stopped' },
    resumed: { lines: [runStart(0, { pid: gone }), runEnd(1, 'stopped'), runStart(1, { pid: trainer.pid, resumed_from_step: 1 })], status: 'running', live: trainer.pid },
    'resumed-died': { lines: [runStart(0, { pid: trainer.pid }), runEnd(1, 'stopped'), runStart(1, { pid: gone, resumed_from_step: 1 })], status: 'stale' },
    // Alive, but not a trainer (a reused pid): shown as running, but nothing acts on that pid.
    'not-a-trainer': { lines: [runStart(0, { pid: other.pid })], status: 'running' },
  };
  for (const [name, c] of Object.entries(cases)) {
    mkdirSync(join(root, name));
    writeFileSync(join(root, name, 'events.jsonl'), `${c.lines.join('\n')}\n`);
  }
  const index = new RunIndex(root);
  for (const [name, c] of Object.entries(cases)) {
    const dir = join(root, name);
    const model = new RunModel(join(dir, 'events.jsonl'));
    for (const text of c.lines) model.apply((parseEventLine(text, 0) as { event: RunEvent }).event);
    assert.equal((await index.summarize(name))?.status, c.status, `${name}: index`);
    assert.equal(model.status(), c.status, `${name}: model`);
    assert.equal(status({ latest: (await readRunMarks(dir)).latest }), c.status, `${name}: marks + judge`);
    assert.equal(await liveTrainerPid(dir), c.live, `${name}: liveTrainerPid`);
  }
  assert.equal(await liveTrainerPid(join(root, 'missing')), undefined);
  appendFileSync(join(root, 'live', 'events.jsonl'), `${runEnd(2, 'finished')}\n`);
  assert.equal(await liveTrainerPid(join(root, 'live')), undefined, 'once it wrote run_end');
});

/** Run `script` (node) as if it were the trainer, supervised by TrainerProcess. */
function fakeTrainer(script: string, runDir?: string): TrainerProcess {
  return new TrainerProcess({ python: process.execPath, args: ['-e', script], cwd: tempDir(), runDir });
}

test('the supervisor reads stdout events with the run store parser; exit 0 without run_end is a failure', async () => {
  const startLine = runStart(0, { pid: 31337 });
  const events: RunEvent['type'][] = [];
  const other: string[] = [];
  const script = `console.log(${JSON.stringify(startLine)}); console.log('{"v": 1, "type": "step"}'); console.log('hello');`;
  const proc = new TrainerProcess({ python: process.execPath, args: ['-e', script], cwd: tempDir() }, {
    onEvent: (e) => events.push(e.type), onStdout: (l) => other.push(l),
  });
  const exit = await proc.exited;
  assert.deepEqual([exit.code, exit.runEnd], [0, undefined]);
  assert.deepEqual(events, ['run_start']);
  assert.deepEqual(other, ['{"v": 1, "type": "step"}', 'hello'], 'an invalid event line is passed on as output');
  assert.deepEqual(parseEventText(startLine, 0), parseEventLine(startLine, 0), 'the same check the run store applies');
  const facts = proc.facts();
  assert.equal(facts.runStart?.pid, 31337);
  assert.deepEqual(facts.exit, { code: 0, signal: null, error: undefined });
  const v = judgeRun({ child: facts });
  assert.deepEqual([v.status, v.attempt], ['failed', 'failed']);
  assert.match(v.reason, /exited with code 0 without writing run_end/);
  assert.ok(!proc.running);
});

test("the supervisor takes its attempt's run_end from the file when stdout did not carry it", async () => {
  const dir = tempDir();
  const old = line('run_end', 1, { status: 'stopped', reason: 'old', checkpoint: null }, T0);
  writeFileSync(join(dir, 'events.jsonl'), `${runStart(0)}\n${old}\n`);
  // Exits without writing anything: the old run_end is not this attempt's.
  const silent = await fakeTrainer('', dir).exited;
  assert.equal(silent.runEnd, undefined);
  const written = JSON.parse(line('run_end', 2, { status: 'finished', reason: 'done', checkpoint: null })) as Record<string, unknown>;
  const script = `const e = ${JSON.stringify(written)}; e.time = Date.now() / 1000; ` +
    `require('fs').appendFileSync(${JSON.stringify(join(dir, 'events.jsonl'))}, JSON.stringify(e) + '\\n');`;
  const proc = fakeTrainer(script, dir);
  const exit = await proc.exited;
  assert.equal(exit.runEnd?.status, 'finished');
  assert.equal(exit.runEnd?.reason, 'done');
  assert.equal(judgeRun({ child: proc.facts() }).attempt, 'finished');
});
