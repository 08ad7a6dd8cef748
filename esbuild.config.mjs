// One build for the whole extension (docs/ARCHITECTURE.md, "Layers"):
//   extension/extension.ts -> dist/extension.js   (extension host: node, cjs, `vscode` external)
//   extension/runs/runWorker.ts -> dist/runWorker.js (worker thread that parses big events.jsonl;
//                                                    found beside dist/extension.js at run time)
//   extension/inference/worker.ts -> dist/inferenceWorker.js (the inference worker, a forked Node process;
//                                     node-llama-cpp stays external: native, ESM, imported dynamically;
//                                     `npm run package` bundles it into dist/node_modules, see
//                                     scripts/vendor-inference.mjs)
//   webview/*.ts           -> dist/webview/*.js   (panels: browser, esm), when there are any, and
//                             dist/webview/*.css from the CSS each entry imports (loaded by origin: the
//                             panels' CSP allows no inline style)
//   trainer/hbpo/configs/default.yaml -> dist/configs/default.yaml (the built-in default config the
//                                        extension offers; the .vsix must not need the repository)
// Usage: node esbuild.config.mjs [--watch] [--production]
//   --watch       rebuild on change (no minify, with source maps)
//   --production  minify, no source maps (what `npm run package` puts in the .vsix)
import * as esbuild from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const watch = process.argv.includes('--watch');
const production = process.argv.includes('--production');

const common = {
  bundle: true,
  minify: production,
  sourcemap: !production,
  target: 'es2022',
  logLevel: 'info',
};

/** @type {esbuild.BuildOptions} */
const extensionHost = {
  ...common,
  entryPoints: ['extension/extension.ts'],
  outfile: 'dist/extension.js',
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  external: ['vscode'],
};

/**
 * The run store's parsing worker is its own file: `new Worker(path)` needs a script, and
 * extension/runs/runFile.ts looks for it beside the bundle that runs it.
 * @type {esbuild.BuildOptions}
 */
const runWorker = {
  ...extensionHost,
  entryPoints: ['extension/runs/runWorker.ts'],
  outfile: 'dist/runWorker.js',
};

/**
 * The inference worker runs in a process of its own (extension/inference/client.ts forks it from
 * beside the bundle). node-llama-cpp is external: native binaries, ESM, loaded with import(); it
 * resolves from dist/node_modules in the .vsix (scripts/vendor-inference.mjs), else from node_modules.
 * @type {esbuild.BuildOptions}
 */
const inferenceWorker = {
  ...extensionHost,
  entryPoints: ['extension/inference/worker.ts'],
  outfile: 'dist/inferenceWorker.js',
  external: ['vscode', 'node-llama-cpp'],
};

/** Every top-level `webview/*.ts` file is a panel entry; helpers live in subfolders. */
const webviewEntries = existsSync('webview')
  ? readdirSync('webview')
      .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts') && !f.endsWith('.test.ts'))
      .sort()
      .map((f) => join('webview', f))
  : [];

/** @type {esbuild.BuildOptions[]} */
const builds = [extensionHost, runWorker, inferenceWorker];
if (webviewEntries.length > 0) {
  builds.push({
    ...common,
    entryPoints: webviewEntries,
    outdir: 'dist/webview',
    platform: 'browser',
    format: 'esm',
  });
}

if (!watch) {
  // Start from a clean dist/ so no stale bundle (or old .vsix) is left behind.
  rmSync('dist', { recursive: true, force: true });
}

/** Files the extension reads at run time, copied as they are. */
function copyAssets() {
  mkdirSync('dist/configs', { recursive: true });
  copyFileSync('trainer/hbpo/configs/default.yaml', 'dist/configs/default.yaml');
}

if (watch) {
  copyAssets();
  const contexts = await Promise.all(builds.map((options) => esbuild.context(options)));
  await Promise.all(contexts.map((ctx) => ctx.watch()));
  console.log(`[esbuild] watching ${builds.length} build(s); Ctrl+C to stop`);
} else {
  await Promise.all(builds.map((options) => esbuild.build(options)));
  copyAssets();
}
