// `npm test`: set up if needed, then run every suite and report each one's outcome.
import { spawnSync } from 'node:child_process';
import { root, setup, venvPython } from './setup.mjs';

setup();

const suites = [
  ['typecheck (tsc)', 'npm', ['run', '--silent', 'typecheck']],
  ['layers (import rules: scripts/check-layers.mjs)', 'npm', ['run', '--silent', 'lint']],
  ['TypeScript unit tests (node --test)', 'npm', ['run', '--silent', 'test:ts']],
  ['integration tests (the real trainer, node-llama-cpp, the grader)', 'npm', ['run', '--silent', 'test:integration']],
  ['extension bundle (esbuild)', 'npm', ['run', '--silent', 'build']],
  ['trainer tests (pytest)', venvPython, ['-m', 'pytest', 'trainer/tests', '-q', '-p', 'no:cacheprovider']],
  // Last: the packaged extension in a real VS Code (code-server + Chromium; tools cached outside the
  // project). It runs whenever CI is set; elsewhere it is skipped, with the reason, only when its
  // tools cannot be installed.
  ['end-to-end tests in code-server (packaged .vsix, Chromium)', 'npm', ['run', '--silent', 'test:e2e']],
];

const results = [];
for (const [name, cmd, args] of suites) {
  console.log(`\n=== ${name}`);
  const started = Date.now();
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  results.push([name, r.status === 0, (Date.now() - started) / 1000]);
}
console.log('\n=== summary');
for (const [name, ok, secs] of results) console.log(`${ok ? 'ok  ' : 'FAIL'} ${name} (${secs.toFixed(1)} s)`);
process.exit(results.every(([, ok]) => ok) ? 0 : 1);
