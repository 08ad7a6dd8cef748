// The supervisor's pure parts (no trainer needed): YAML problem locations, interpreter choice,
// line splitting, and the fix-it messages for an interpreter or package that is missing.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { checkTrainer, locateField, locateProblems, resolveInterpreter, splitProblem } from '../../extension/trainer';
import { readLines, Tail } from '../../extension/trainer/lines';

const yaml = `# comment
method: hbpo
tiers: [64, 32]
run: {seed: 7, device: cpu}
model:
  path: tiny:llama
  tiny:
    hidden_size: 32   # small
    "layers": 1
train:
  queries_per_step: 2
  steps: 0
eval:
  modes:
  - natural
  - tier:x
  data: [testbed:val, "b.json"]
reward:
    beta: -1
`;

function lineOf(prefix: string): number {
  return yaml.split('\n').findIndex((l) => l.trimStart().startsWith(prefix));
}

test('splitProblem takes the field path before the first ": "', () => {
  assert.deepEqual(splitProblem('tiers: must be strictly ascending, got [64, 32]'),
    { field: 'tiers', message: 'must be strictly ascending, got [64, 32]' });
  assert.deepEqual(splitProblem('eval.modes[1]: expected natural'), { field: 'eval.modes[1]', message: 'expected natural' });
  assert.equal(splitProblem('ppo.clip_low / ppo.clip_high: must be >= 0').field, 'ppo.clip_low');
  assert.equal(splitProblem('--set x: expected key=value').field, '');
  assert.equal(splitProblem('something odd').field, '');
});

test('locateField finds block keys, nested keys, flow keys and list items', () => {
  const at = (field: string) => locateField(yaml, field);
  assert.deepEqual(at('tiers'), { line: lineOf('tiers:'), column: 0, endColumn: 5, exact: true });
  assert.deepEqual(at('train.steps'), { line: lineOf('steps:'), column: 2, endColumn: 7, exact: true });
  assert.equal(at('model.tiny.hidden_size').line, lineOf('hidden_size'));
  assert.equal(at('model.tiny.hidden_size').column, 4);
  assert.equal(at('model.tiny.layers').line, lineOf('"layers"'));
  assert.equal(at('model.tiny.layers').endColumn, 4 + '"layers"'.length);
  const device = at('run.device');
  assert.equal(device.line, lineOf('run:'));
  assert.equal(yaml.split('\n')[device.line].slice(device.column, device.endColumn), 'device');
  const mode = at('eval.modes[1]');
  assert.equal(mode.line, lineOf('- tier:x'));
  const data = at('eval.data[1]');
  assert.equal(yaml.split('\n')[data.line].slice(data.column, data.endColumn), '"b.json"');
  assert.equal(at('reward.beta').line, lineOf('beta:'));
  assert.equal(at('tiers[1]').line, lineOf('tiers:'));
  assert.equal(yaml.split('\n')[at('tiers[1]').line].slice(at('tiers[1]').column, at('tiers[1]').endColumn), '32');
});

test('locateField falls back to the nearest ancestor, then the first line', () => {
  assert.deepEqual(locateField(yaml, 'train.checkpoint_every'),
    { line: lineOf('train:'), column: 0, endColumn: 5, exact: false });
  assert.equal(locateField(yaml, 'optim.lr').line, 1, 'first meaningful line');
  assert.equal(locateField(yaml, 'optim.lr').exact, false);
  assert.equal(locateField(yaml, 'steps').exact, false, 'a nested key is not found at the top level');
  assert.equal(locateField('', 'tiers').line, 0);
});

test('locateField: sequences at the key\'s indentation, items that are mappings, JSON files', () => {
  const seq = 'eval:\n  modes:\n  - natural\n  - efficiency\nrun:\n  dir: x\n';
  assert.equal(locateField(seq, 'eval.modes[1]').line, 3);
  assert.equal(locateField(seq, 'run.dir').line, 5);
  const items = 'jobs:\n  - name: a\n    size: 1\n  - name: b\n    size: 2\n';
  assert.equal(locateField(items, 'jobs[1].size').line, 4);
  assert.equal(locateField(items, 'jobs[1].name').line, 3);
  assert.equal(locateField(items, 'jobs[0].size').line, 2);
  const json = '{\n  "tiers": [64, 32],\n  "train": {\n    "steps": 0\n  }\n}\n';
  assert.equal(locateField(json, 'train.steps').line, 3);
  assert.equal(locateField(json, 'tiers').line, 1);
});

test('locateProblems maps every problem, YAML syntax errors to their line and column', () => {
  const located = locateProblems(yaml, [
    'tiers: must be strictly ascending, got [64, 32]',
    'train.steps: must be at least 1, got 0',
    'config: cannot parse: while parsing a flow sequence\n  in "<unicode string>", line 1, column 4:\n    a: [1\n' +
      '       ^\nexpected \',\' or \']\', but got \'<stream end>\'\n  in "<unicode string>", line 2, column 1:',
    'data.train: testbed:arith: unknown testbed split',
  ]);
  assert.deepEqual(located.map((l) => [l.field, l.line]), [
    ['tiers', lineOf('tiers:')], ['train.steps', lineOf('steps:')], ['config', 1], ['data.train', 1],
  ]);
  assert.equal(located[2].column, 0);
  assert.equal(located[3].message, 'testbed:arith: unknown testbed split');
  assert.equal(located[3].exact, false);
});

test('resolveInterpreter: setting, then the set-up environment, then the Python extension, then .venv, then python3', () => {
  const ws = '/home/u/proj';
  const none = () => false;
  assert.deepEqual(resolveInterpreter('/opt/py/bin/python', '/ext/python', ws),
    { python: '/opt/py/bin/python', source: 'setting' });
  assert.deepEqual(resolveInterpreter('  ', '/ext/python', ws, { exists: () => true }),
    { python: '/ext/python', source: 'pythonExtension' });
  const managed = '/home/u/.config/Code/User/globalStorage/hbpo-studio.hbpo-studio/trainer-env/bin/python';
  assert.deepEqual(resolveInterpreter('', '/ext/python', ws, { exists: () => true, managed }), { python: managed, source: 'managed' });
  assert.deepEqual(resolveInterpreter('/opt/py/bin/python', '/ext/python', ws, { managed }),
    { python: '/opt/py/bin/python', source: 'setting' }, 'the setting wins over everything');
  assert.equal(resolveInterpreter('${workspaceFolder}/.venv/bin/python', undefined, ws).python,
    '/home/u/proj/.venv/bin/python');
  assert.equal(resolveInterpreter('env/bin/python', undefined, ws).python, '/home/u/proj/env/bin/python');
  assert.equal(resolveInterpreter('~/py/bin/python', undefined, ws, { home: '/home/u' }).python, '/home/u/py/bin/python');
  assert.equal(resolveInterpreter('python3.12', undefined, ws).python, 'python3.12', 'a bare command is left to PATH');
  assert.deepEqual(
    resolveInterpreter(undefined, undefined, ws, { exists: (p) => p === '/home/u/proj/.venv/bin/python', platform: 'linux' }),
    { python: '/home/u/proj/.venv/bin/python', source: 'workspaceVenv' });
  assert.deepEqual(resolveInterpreter(undefined, '', ws, { exists: none, platform: 'linux' }),
    { python: 'python3', source: 'default' });
  assert.deepEqual(resolveInterpreter(undefined, undefined, undefined, { platform: 'win32' }),
    { python: 'python', source: 'default' });
});

test('checkTrainer explains a missing interpreter and a missing package', { skip: process.platform === 'win32' },
  async () => {
    const missing = await checkTrainer('/nonexistent/bin/python');
    assert.equal(missing.ok, false);
    if (!missing.ok) {
      assert.equal(missing.kind, 'interpreter-missing');
      assert.match(missing.message, /hbpo\.pythonPath/);
      assert.match(missing.message, /Select Interpreter/);
      assert.match(missing.message, /HBPO: Set Up Trainer Environment/);
    }
    const dir = mkdtempSync(join(tmpdir(), 'hbpo-fake-python-'));
    try {
      const fake = join(dir, 'python');
      writeFileSync(fake, '#!/bin/sh\necho "ModuleNotFoundError: No module named \'hbpo\'" >&2\nexit 1\n');
      chmodSync(fake, 0o755);
      const noPackage = await checkTrainer(fake);
      assert.equal(noPackage.ok, false);
      if (!noPackage.ok) {
        assert.equal(noPackage.kind, 'package-missing');
        assert.match(noPackage.message, /HBPO: Set Up Trainer Environment/);
        assert.match(noPackage.message, /npm run setup/);
      }
      const ok = join(dir, 'ok');
      writeFileSync(ok, '#!/bin/sh\necho 9.9.9\n');
      chmodSync(ok, 0o755);
      assert.deepEqual(await checkTrainer(ok), { ok: true, python: ok, version: '9.9.9' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

test('readLines splits chunks into lines, keeps multi-byte characters whole, flushes the last line', async () => {
  const stream = new PassThrough();
  const lines: string[] = [];
  const flush = readLines(stream, (l) => lines.push(l));
  const euro = Buffer.from('€');
  stream.write('one\r\ntw');
  stream.write(Buffer.concat([Buffer.from('o '), euro.subarray(0, 1)]));
  stream.write(Buffer.concat([euro.subarray(1), Buffer.from('\n\nthree')]));
  stream.end();
  await new Promise((r) => stream.on('end', r));
  flush();
  flush();
  assert.deepEqual(lines, ['one', 'two €', '', 'three']);
  const tail = new Tail(2);
  ['a', 'b', 'c'].forEach((l) => tail.push(l));
  assert.deepEqual(tail.get(), ['b', 'c']);
});
