// Puts the inference worker's runtime into dist/node_modules for the .vsix. `vsce package
// --no-dependencies` ships dist/ but not node_modules/, and dist/inferenceWorker.js (which imports
// node-llama-cpp dynamically, see esbuild.config.mjs) finds dist/node_modules first:
//
//   dist/node_modules/node-llama-cpp/
//     package.json, LICENSE, THIRD_PARTY_LICENSES.txt
//     llama/binariesGithubRelease.json         read when node-llama-cpp loads (its llama.cpp release)
//     dist/index.js, dist/chunk-*.js           node-llama-cpp and every JS package it imports, bundled
//     dist/bindings/utils/testBindingBinary.js the script getLlama forks to try a binary before loading it
//   dist/node_modules/@node-llama-cpp/<platform>[-cuda|-vulkan...]/   the prebuilt llama.cpp binaries,
//     as installed: getLlama imports them by package name and checks their version against ours
//
// Left out: the rest of llama/ (llama.cpp's sources and build files for building from source, which
// the worker never does: build 'never'; grammars, which it does not use), other platforms' binaries,
// and the CUDA and Vulkan builds (180-450 MB; pass --gpu to take this platform's). Code for downloads
// and builds is in the bundle (node-llama-cpp's index imports it) but never runs.
// Usage: node scripts/vendor-inference.mjs [--gpu]
import * as esbuild from 'esbuild';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const gpu = process.argv.includes('--gpu');
const out = join(root, 'dist', 'node_modules');
const lib = join(root, 'node_modules', 'node-llama-cpp');
const libOut = join(out, 'node-llama-cpp');
if (!existsSync(join(lib, 'package.json'))) throw new Error('node-llama-cpp is not installed: run npm ci');
const libPkg = JSON.parse(readFileSync(join(lib, 'package.json'), 'utf8'));
rmSync(out, { recursive: true, force: true });

// --- JavaScript -----------------------------------------------------------------------------------
// node-llama-cpp finds its files from its modules' own URLs (config.js: `<dist>/../llama`,
// getModuleVersion.js: `<dist/utils>/../../package.json`, testBindingBinary.js forks its own file).
// In a bundle every module would see the bundle's URL, so each one that reads import.meta.url gets
// the URL it has in the package instead. Bundle and chunks sit in dist/, where index.js sits.
const rewritten = new Set();
const ownUrls = {
  name: 'node-llama-cpp-own-urls',
  setup(build) {
    build.onLoad({ filter: /\.js$/ }, (args) => {
      if (!args.path.startsWith(join(lib, 'dist') + sep)) return undefined;
      const code = readFileSync(args.path, 'utf8');
      if (!code.includes('import.meta.url')) return undefined;
      rewritten.add(relative(root, args.path).split(sep).join('/')); // as the metafile names it
      const url = `new URL(${JSON.stringify(relative(join(lib, 'dist'), args.path).split(sep).join('/'))}, import.meta.url).href`;
      return { contents: code.replaceAll('import.meta.url', url), loader: 'js', resolveDir: dirname(args.path) };
    });
  },
};
const result = await esbuild.build({
  absWorkingDir: root,
  entryPoints: {
    index: join(lib, 'dist', 'index.js'),
    // getLlama forks this file (with TEST_BINDING_CP=true) to try each binary in a throw-away process,
    // so an incompatible GPU build falls back instead of crashing the worker. It must keep its name:
    // under another name node-llama-cpp skips the test.
    'bindings/utils/testBindingBinary': join(lib, 'dist', 'bindings', 'utils', 'testBindingBinary.js'),
  },
  outdir: join(libOut, 'dist'),
  bundle: true,
  splitting: true, // the two entries share one chunk instead of two copies
  format: 'esm', // node-llama-cpp is ESM with top-level await
  platform: 'node',
  target: 'node20',
  minify: true,
  metafile: true,
  logLevel: 'warning',
  // The binary packages are found at run time by name (and may be absent); @reflink/reflink is a
  // native module ipull imports only while downloading a model, which the worker never does.
  external: ['@node-llama-cpp/*', '@reflink/reflink'],
  // The CommonJS packages inside call require() for Node's modules; an ES module has no `require`.
  banner: { js: "import{createRequire as __nlcCreateRequire}from'node:module';const require=__nlcCreateRequire(import.meta.url);" },
  plugins: [ownUrls],
});
for (const [file, output] of Object.entries(result.metafile.outputs)) {
  if (dirname(join(root, file)) !== join(libOut, 'dist') && Object.keys(output.inputs).some((i) => rewritten.has(i))) {
    throw new Error(`${file} holds a module whose URL assumes it lies in ${relative(root, join(libOut, 'dist'))}`);
  }
}
writeFileSync(join(libOut, 'package.json'), `${JSON.stringify({
  name: libPkg.name, version: libPkg.version, description: `${libPkg.name} bundled with its dependencies (scripts/vendor-inference.mjs)`,
  license: libPkg.license, type: 'module', main: './dist/index.js', exports: { '.': './dist/index.js' },
}, null, 2)}\n`);
cpSync(join(lib, 'LICENSE'), join(libOut, 'LICENSE'));
mkdirSync(join(libOut, 'llama'));
cpSync(join(lib, 'llama', 'binariesGithubRelease.json'), join(libOut, 'llama', 'binariesGithubRelease.json'));

// The bundled packages' licenses, one after another.
const bundled = new Set();
for (const input of Object.keys(result.metafile.inputs)) {
  const m = /^(.*node_modules[\\/](?:@[^\\/]+[\\/])?[^\\/]+)[\\/]/.exec(input);
  if (m) bundled.add(join(root, m[1]));
}
const notices = [...bundled].sort().map((dir) => {
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  const file = readdirSync(dir).find((f) => /^(licen[cs]e|copying)/i.test(f));
  return `${pkg.name} ${pkg.version} (${pkg.license ?? 'see its package'})\n\n${file ? readFileSync(join(dir, file), 'utf8').trim() : ''}\n`;
});
writeFileSync(join(libOut, 'THIRD_PARTY_LICENSES.txt'), notices.join(`\n${'-'.repeat(80)}\n\n`));

// --- Native binaries ------------------------------------------------------------------------------
// Package names say mac/win/armv7l where Node says darwin/win32/arm. Kept: the plain package (the CPU
// build; on Apple silicon the only one is mac-arm64-metal), and with --gpu -cuda, -cuda-ext, -vulkan.
const os = { darwin: 'mac', win32: 'win' }[process.platform] ?? process.platform;
const platform = `${os}-${process.arch === 'arm' ? 'armv7l' : process.arch}`;
const binaries = Object.keys(libPkg.optionalDependencies ?? {}).filter((name) => {
  const flavour = name.replace(/^@node-llama-cpp\//, '');
  if (flavour !== platform && !flavour.startsWith(`${platform}-`)) return false;
  return gpu || !/-(cuda|vulkan)/.test(flavour);
}).filter((name) => existsSync(join(root, 'node_modules', name, 'package.json'))); // optional: maybe not installed
if (!binaries.some((name) => !/-(cuda|vulkan)/.test(name))) {
  throw new Error(`no prebuilt llama.cpp binaries for ${platform} are installed`);
}
for (const name of binaries) {
  const pkg = JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8'));
  if (pkg.version !== libPkg.version) throw new Error(`${name} is ${pkg.version}, node-llama-cpp ${libPkg.version}: run npm ci`);
  cpSync(join(root, 'node_modules', name), join(out, name), { recursive: true, dereference: true });
}

const size = (p) => {
  const s = statSync(p);
  return s.isDirectory() ? readdirSync(p).reduce((n, f) => n + size(join(p, f)), 0) : s.size;
};
const count = (p) => (statSync(p).isDirectory() ? readdirSync(p).reduce((n, f) => n + count(join(p, f)), 0) : 1);
console.log(`[vendor] node-llama-cpp ${libPkg.version} bundled with ${bundled.size - 1} packages; binaries: ${binaries.join(', ')}; ` +
  `${count(out)} files, ${(size(out) / 2 ** 20).toFixed(1)} MiB -> dist/node_modules`);
