// Runs every test/<suite>/**/*.test.ts with node's built-in test runner through tsx:
//   node test/runTests.mjs unit           pure TypeScript unit tests
//   node test/runTests.mjs integration    against real processes (the trainer, node-llama-cpp)
// Node 20's `--test` does not expand glob patterns (Node 21+ does), so the files are listed here.
// Extra arguments go to node before the file list, e.g. `npm run test:ts -- --test-reporter=spec`.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const [suite, ...nodeArgs] = process.argv.slice(2);
if (!['unit', 'integration'].includes(suite)) {
  console.error(`usage: node test/runTests.mjs unit|integration [node options]; got ${suite ?? 'nothing'}`);
  process.exit(2);
}
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const suiteDir = join(root, 'test', suite);
const files = readdirSync(suiteDir, { recursive: true })
  .map(String)
  .filter((f) => f.endsWith('.test.ts'))
  .sort()
  .map((f) => relative(root, join(suiteDir, f)));

if (files.length === 0) {
  console.error(`no *.test.ts files under ${relative(root, suiteDir)}`);
  process.exit(1);
}

const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', ...nodeArgs, ...files], {
  cwd: root,
  stdio: 'inherit',
});
if (result.error) throw result.error;
process.exit(result.status ?? 1);
