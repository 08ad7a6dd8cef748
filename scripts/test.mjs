// `npm test`: set up if needed, then run every suite and report each one's outcome.
import { spawnSync } from 'node:child_process';
import { root, setup, venvPython, vllmPython } from './setup.mjs';

setup({ vllm: true });

const suites = [
  ['typecheck (tsc)', 'npm', ['run', '--silent', 'typecheck']],
  ['layers (import rules: scripts/check-layers.mjs)', 'npm', ['run', '--silent', 'lint']],
  ['TypeScript unit tests (node --test)', 'npm', ['run', '--silent', 'test:ts']],
  ['integration tests (the real trainer, node-llama-cpp, the grader)', 'npm', ['run', '--silent', 'test:integration']],
  ['extension bundle (esbuild)', 'npm', ['run', '--silent', 'build']],
  ['trainer tests (pytest)', venvPython, ['-m', 'pytest', 'trainer/tests', '-q', '-p', 'no:cacheprovider']],
  // generation.engine: vllm in its own environment (.venv-vllm, vLLM's CPU build); HBPO_REQUIRE_VLLM
  // makes a missing vLLM a failure rather than a skip.
  ['trainer on vLLM (pytest in .venv-vllm)', vllmPython, ['-m', 'pytest', 'trainer/tests/test_vllm.py', '-q', '-p', 'no:cacheprovider'],
    { HBPO_REQUIRE_VLLM: '1' }],
  // Last: the packaged extension in a real VS Code (code-server + Chromium; tools cached outside the
  // project). It runs whenever CI is set; elsewhere it is skipped, with the reason, only when its
  // tools cannot be installed.
  ['end-to-end tests in code-server (packaged .vsix, Chromium)', 'npm', ['run', '--silent', 'test:e2e']],
];

const results = [];
for (const [name, cmd, args, env] of suites) {
  console.log(`\n=== ${name}`);
  const started = Date.now();
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
  results.push([name, r.status === 0, (Date.now() - started) / 1000]);
}
console.log('\n=== summary');
for (const [name, ok, secs] of results) console.log(`${ok ? 'ok  ' : 'FAIL'} ${name} (${secs.toFixed(1)} s)`);
process.exit(results.every(([, ok]) => ok) ? 0 : 1);
