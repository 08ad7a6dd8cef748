// The import rules between the project's layers, checked on every test run (`npm run lint`):
//
//   common/     shared by host and pages (protocols, event types, budget math, the mode vocabulary,
//               metric keys, the rollout key): imports only common/ — no package, no node:, no vscode
//   extension/  the extension host: never imports webview/
//   webview/    the pages: never imports extension/, vscode or node: modules
//   any file whose leading comment says it has no `vscode` (pure, unit-tested in plain Node): no vscode
//
// Prints each violation as `file: imports 'x' (rule)` and exits 1 when there is any.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const LAYERS = ['common', 'extension', 'webview'];
const IMPORT = /(?:^|[\s;])(?:import|export)\s[^'"`;]*?from\s*['"]([^'"]+)['"]|(?:^|[\s;(])import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)|\brequire\(\s*['"]([^'"]+)['"]\s*\)/g;

/** Module specifiers a source imports (static, re-exports, side-effect, dynamic, require). */
export function importsOf(source) {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
  const out = [];
  for (const m of code.matchAll(IMPORT)) out.push(m[1] ?? m[2] ?? m[3] ?? m[4]);
  return out;
}

/** Whether the file's leading comment block says it has no `vscode` import. */
export function declaresPure(source) {
  const head = /^(?:\s*\/\/.*\n|\s*\/\*[\s\S]*?\*\/\s*\n)*/.exec(source)?.[0] ?? '';
  return /no `vscode`/i.test(head);
}

/** The violations of one file, `file` relative to the repository root with `/` separators. */
export function violationsOf(file, source) {
  const layer = file.split('/')[0];
  const out = [];
  const pure = layer === 'common' || layer === 'webview' || declaresPure(source);
  for (const spec of importsOf(source)) {
    const target = spec.startsWith('.') ? relative(root, resolve(root, dirname(file), spec)).split(sep).join('/') : undefined;
    const to = target?.split('/')[0];
    if (spec === 'vscode' && pure) out.push(`${file}: imports 'vscode' (${layer === 'common' || layer === 'webview' ? `${layer}/ runs outside the extension host` : 'its header says it has no `vscode`'})`);
    if (layer === 'common' && (target === undefined ? spec !== 'vscode' : to !== 'common')) out.push(`${file}: imports '${spec}' (common/ imports only common/)`);
    if (layer === 'extension' && to === 'webview') out.push(`${file}: imports '${spec}' (extension/ never imports webview/; shared code lives in common/)`);
    if (layer === 'webview' && to === 'extension') out.push(`${file}: imports '${spec}' (webview/ never imports extension/; shared code lives in common/)`);
    if (layer === 'webview' && spec.startsWith('node:')) out.push(`${file}: imports '${spec}' (webview/ runs in a browser)`);
  }
  return out;
}

function* sources(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* sources(path);
    else if (/\.(ts|mts|js|mjs)$/.test(entry.name) && !entry.name.endsWith('.d.ts')) yield path;
  }
}

export function checkRepository() {
  const out = [];
  for (const layer of LAYERS) {
    for (const path of sources(join(root, layer))) {
      out.push(...violationsOf(relative(root, path).split(sep).join('/'), readFileSync(path, 'utf8')));
    }
  }
  return out;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const found = checkRepository();
  for (const v of found) console.error(v);
  console.log(found.length ? `layers: ${found.length} import(s) break the rules` : 'layers: every import follows the rules');
  process.exit(found.length ? 1 : 0);
}
