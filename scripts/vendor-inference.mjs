// Puts the inference worker's runtime into dist/node_modules for the .vsix: node-llama-cpp and the
// packages it needs at run time, resolved from node_modules like Node would, with the prebuilt
// llama.cpp binaries of this platform only. `vsce package --no-dependencies` ships dist/ but not
// node_modules/, and dist/inferenceWorker.js finds dist/node_modules first.
//
// Left out: other platforms' binaries; the CUDA and Vulkan builds (180-450 MB; pass --gpu to take
// this platform's); llama.cpp's source bundle (only for building from source, which the worker never
// does: build 'never').
// Usage: node scripts/vendor-inference.mjs [--gpu]
import { cpSync, existsSync, readFileSync, rmSync, statSync, readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const gpu = process.argv.includes('--gpu');
const out = join(root, 'dist', 'node_modules');
const platform = `${process.platform}-${process.arch}`;

/** The @node-llama-cpp/* binary packages to keep: this platform's, and its GPU builds with --gpu. */
function keepBinary(name) {
  const m = /^@node-llama-cpp\/(.+)$/.exec(name);
  if (!m) return true;
  const flavour = m[1];
  if (flavour === platform) return true;
  return gpu && flavour.startsWith(`${platform}-`);
}

/** Where `name` resolves from the package folder `from` (Node's node_modules walk). */
function resolvePackage(name, from) {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dirname(dir) === dir) return undefined;
  }
}

const seen = new Map();
function walk(name, from, optional) {
  const dir = resolvePackage(name, from);
  if (!dir) {
    if (optional) return;
    throw new Error(`${name} (needed from ${relative(root, from) || '.'}) is not installed: run npm ci`);
  }
  if (seen.has(dir)) return;
  seen.set(dir, name);
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  for (const dep of Object.keys(pkg.dependencies ?? {})) walk(dep, dir, false);
  for (const dep of Object.keys(pkg.optionalDependencies ?? {})) if (keepBinary(dep)) walk(dep, dir, true);
}
walk('node-llama-cpp', root, false);

rmSync(out, { recursive: true, force: true });
let bytes = 0;
const size = (p) => {
  const s = statSync(p);
  return s.isDirectory() ? readdirSync(p).reduce((n, f) => n + size(join(p, f)), 0) : s.size;
};
for (const dir of seen.keys()) {
  const target = join(out, relative(join(root, 'node_modules'), dir));
  cpSync(dir, target, {
    recursive: true,
    dereference: true,
    filter: (src) => !src.endsWith(join('llama', 'gitRelease.bundle')) && !/[\\/]node_modules$/.test(relative(dir, src) ? src : ''),
  });
  bytes += size(target);
}
const binaries = [...seen.values()].filter((n) => n.startsWith('@node-llama-cpp/'));
if (binaries.length === 0) throw new Error(`no prebuilt llama.cpp binaries for ${platform} are installed`);
console.log(`[vendor] ${seen.size} packages, ${(bytes / 2 ** 20).toFixed(1)} MiB -> dist/node_modules (binaries: ${binaries.join(', ')})`);
