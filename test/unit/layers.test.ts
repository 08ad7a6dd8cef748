// The import rules of scripts/check-layers.mjs (run by `npm test` as its own step): the repository
// follows them, and each rule catches what it is for.
import assert from 'node:assert/strict';
import { test } from 'node:test';
// @ts-expect-error: a plain .mjs script without types
import { checkRepository, declaresPure, importsOf, violationsOf } from '../../scripts/check-layers.mjs';

test('the repository follows the layer rules', () => {
  assert.deepEqual(checkRepository(), []);
});

test('each rule catches its violation', () => {
  const v = (file: string, src: string) => violationsOf(file, src) as string[];
  assert.match(v('webview/lib/x.ts', "import { a } from '../../extension/runs/runModel';").join(), /webview\/ never imports extension\//);
  assert.match(v('extension/panels/x.ts', "import type { A } from '../../webview/lib/y';").join(), /extension\/ never imports webview\//);
  assert.match(v('common/x.ts', "import Ajv from 'ajv';").join(), /common\/ imports only common\//);
  assert.match(v('common/x.ts', "export { a } from '../extension/events';").join(), /common\/ imports only common\//);
  assert.match(v('webview/x.ts', "import * as vscode from 'vscode';").join(), /runs outside the extension host/);
  assert.match(v('webview/x.ts', "import { readFile } from 'node:fs';").join(), /runs in a browser/);
  assert.match(v('extension/runs/x.ts', "// Pure: no `vscode`, unit-tested.\nimport * as vscode from 'vscode';").join(), /its header says it has no `vscode`/);
  assert.match(v('extension/x.ts', "const m = await import('../webview/dashboard');").join(), /never imports webview/);
  assert.deepEqual(v('extension/x.ts', "import * as vscode from 'vscode';\nimport { a } from '../common/mode';"), []);
  assert.deepEqual(v('webview/x.ts', "// see extension/runs/runModel.ts\nimport { a } from '../common/mode';"), [], 'comments are not imports');
});

test('imports are read in every form; purity from the leading comment only', () => {
  assert.deepEqual(importsOf("import a from 'x';\nimport type { B } from \"y\";\nexport * from './z';\nimport './side';\nconst c = require('w');"),
    ['x', 'y', './z', './side', 'w']);
  assert.equal(declaresPure('// The model. No `vscode` import.\nimport x from "y";'), true);
  assert.equal(declaresPure('import x from "y";\n// no `vscode` here'), false);
});
