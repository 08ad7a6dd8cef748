// `npm start` (scripts/start.mjs) when the editor cannot be set up: it must not train on silently.
// The real script, the real trainer (tiny config) and a real failure: the editor's tool folder is a
// file, so installing Node 24 / code-server fails at once. Expected: an error that names the step,
// the log and the command to retry; the run stopped cleanly; exit code 1.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const python = join(root, '.venv', 'bin', 'python');
const tmp = mkdtempSync(join(tmpdir(), 'hbpo-main-job-'));
let runDir: string | undefined;
after(() => {
  rmSync(tmp, { recursive: true, force: true });
  if (runDir) rmSync(runDir, { recursive: true, force: true });
});

describe('npm start, when the editor cannot start', { skip: !existsSync(python) && 'no .venv (npm run setup)' }, () => {
  test('says what failed, where the log is and how to retry, stops the run and exits 1', { timeout: 600_000 }, async () => {
    const notADir = join(tmp, 'tools-is-a-file');
    writeFileSync(notADir, 'not a folder\n');
    const studio = join(tmp, 'studio');
    const job = spawn(process.execPath, [join(root, 'scripts', 'start.mjs'), '--config', 'test/fixtures/tiny.yaml', '--set', 'train.steps=5000'], {
      cwd: root,
      env: { ...process.env, HBPO_E2E_TOOLS: notADir, HBPO_STUDIO_HOME: studio, OMP_NUM_THREADS: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    job.stdout.setEncoding('utf8').on('data', (s: string) => { out += s; });
    job.stderr.setEncoding('utf8').on('data', (s: string) => { out += s; });
    const code = await new Promise<number | null>((resolve) => job.on('exit', (c) => resolve(c)));
    const name = /run\.name=(\S+)/.exec(out)?.[1];
    if (name) runDir = join(root, 'runs', name);

    assert.equal(code, 1, `exit code; output:\n${out.slice(-3000)}`);
    assert.match(out, /ERROR: the editor could not start: installing the editor \(Node 24 and code-server\) failed: /);
    const logFile = join(studio, 'editor-setup.log');
    assert.ok(out.includes(`its log, ${logFile}, ends with:`), out.slice(-3000));
    assert.ok(existsSync(logFile), 'the set-up log exists');
    assert.match(out, /ends with:\n[\s\S]*\n {4}ERROR: installing the editor \(Node 24 and code-server\) failed: /, 'the tail shows the failure');
    assert.match(out, /Retry with `npm start`.*`npm start -- --no-ui`/);
    assert.ok(runDir && out.includes(`continue it with: .venv/bin/python -m hbpo resume ${runDir}`), out.slice(-3000));
    // The trainer did not train on: its run ended, cleanly, with a run_end as the last event.
    const events = readFileSync(join(runDir, 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; status?: string });
    const end = events[events.length - 1];
    assert.equal(end.type, 'run_end');
    assert.equal(end.status, 'stopped', 'stopped by npm start, not finished: the run asked for 5000 steps');
    assert.match(out, /\[hbpo\] stopped/);
  });
});
