// Runs every test/unit/**/*.test.ts with node's built-in test runner through tsx.
// Node 20's `--test` does not expand glob patterns (Node 21+ does), so the files are listed here.
// Extra arguments go to node before the file list, e.g. `npm run test:ts -- --test-reporter=spec`.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const unitDir = join(root, 'test', 'unit');
const files = readdirSync(unitDir, { recursive: true })
  .map(String)
  .filter((f) => f.endsWith('.test.ts'))
  .sort()
  .map((f) => relative(root, join(unitDir, f)));

if (files.length === 0) {
  console.error(`no *.test.ts files under ${relative(root, unitDir) || '.'}`);
  process.exit(1);
}

const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', ...process.argv.slice(2), ...files],
  { cwd: root, stdio: 'inherit' },
);
if (result.error) throw result.error;
process.exit(result.status ?? 1);
