// Generation speed through the panel's path against node-llama-cpp used directly, in one run on one
// machine:
//   panel: InferenceClient -> forked worker (extension/inference/worker.ts) -> a `chunk` IPC message per
//          text chunk -> the onChunk callback here
//   plain: new LlamaCompletion({contextSequence}).generateCompletionWithMeta() in this process
// Same GGUF, same context size and sequences, same threads, greedy (temperature 0), same seed, prompt
// and maxTokens. Warm-up first, then the two interleave (A B A B ...); the table gives the median
// tokens/s of each and panel/plain (target >= 0.95). Then throughput of N generations at once through
// the client against the same N one after another.
//
//   npm run bench:inference -- [--model PATH] [--reps 9] [--max-tokens 400] [--context 1024]
//                              [--sequences 4] [--threads N] [--worker ts|dist|PATH] [--prompt TEXT]
//                              [--prompt-file PATH] [--special]
//
// tokens/s = generated tokens / wall time of the whole request (prompt evaluation included; the prompt
// is a few tokens), timed where the caller sees it: for the panel from generate() to its result.
// Default model: the largest GGUF with weights in ../shared/data/models when that folder exists, else
// the project's own testbed model exported to GGUF (test/fixtures/testbedGguf.mjs: built and exported
// on first use, then cached; needs the .venv of npm run setup). Run with tsx (the client and
// worker are TypeScript): `node --import tsx scripts/bench-inference.mjs`.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { testbedGguf } from '../test/fixtures/testbedGguf.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const sharedModels = join(root, '..', 'shared', 'data', 'models');

function defaultModel() {
  const files = !existsSync(sharedModels) ? [] : readdirSync(sharedModels)
    .filter((f) => f.endsWith('.gguf'))
    .map((f) => ({ path: join(sharedModels, f), size: statSync(join(sharedModels, f)).size }))
    .sort((a, b) => b.size - a.size);
  if (files[0]) return files[0].path; // vocab/ holds vocabulary-only GGUFs (no weights); not listed here
  try {
    return testbedGguf();
  } catch (err) {
    console.error(err.message);
    return undefined;
  }
}

const { values: opt } = parseArgs({
  options: {
    model: { type: 'string' },
    reps: { type: 'string', default: '9' },
    'max-tokens': { type: 'string', default: '400' },
    context: { type: 'string', default: '1024' },
    sequences: { type: 'string', default: '4' },
    threads: { type: 'string' },
    worker: { type: 'string', default: 'ts' },
    prompt: { type: 'string', default: 'Once upon a time' },
    'prompt-file': { type: 'string' },
    special: { type: 'boolean', default: false },
    'parallel-reps': { type: 'string', default: '3' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (opt.help) {
  console.log('usage: node --import tsx scripts/bench-inference.mjs [--model PATH] [--reps N] [--max-tokens N] ' +
    '[--context N] [--sequences N] [--threads N] [--worker ts|dist|PATH] [--prompt TEXT | --prompt-file PATH] [--special] [--parallel-reps N]\n' +
    '  --special: parse special-token text in the prompt (a chat-template prompt), on both paths');
  process.exit(0);
}
const int = (name) => {
  const v = Number(opt[name]);
  if (!Number.isInteger(v) || v < 1) {
    console.error(`--${name}: expected a positive integer, got ${opt[name]}`);
    process.exit(2);
  }
  return v;
};
const modelPath = opt.model ? resolve(opt.model) : defaultModel();
if (!modelPath || !existsSync(modelPath)) {
  console.error(`no model: pass --model PATH (none found in ${sharedModels}, and no testbed GGUF)`);
  process.exit(2);
}
const reps = int('reps');
const maxTokens = int('max-tokens');
const contextSize = int('context');
const sequences = int('sequences');
const parallelReps = int('parallel-reps');
const workerPath = opt.worker === 'dist' ? join(root, 'dist', 'inferenceWorker.js')
  : opt.worker === 'ts' ? join(root, 'extension', 'inference', 'worker.ts') : resolve(opt.worker);
if (!existsSync(workerPath)) {
  console.error(`--worker: ts, dist (needs npm run build) or a worker script; ${workerPath} does not exist`);
  process.exit(2);
}
// a file keeps the prompt exact (a shell's $(cat f) drops its trailing newline)
const prompt = opt['prompt-file'] ? readFileSync(opt['prompt-file'], 'utf8') : opt.prompt;
const SEED = 1234;

const { InferenceClient } = await import('../extension/inference/client.ts');
const { threadsFor } = await import('../extension/inference/pure.ts');
const { getLlama, LlamaCompletion } = await import('node-llama-cpp');

const cores = availableParallelism();
const threads = opt.threads ? int('threads') : threadsFor(statSync(modelPath).size, cores);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const f1 = (x) => x.toFixed(1);
// CPU time (ms) of this process and of the worker (Linux /proc; clock ticks of 10 ms): wall time on a
// busy machine mostly measures the neighbours, CPU time per token measures what each path costs.
const TICK_MS = 10;
function workerCpuMs() {
  try {
    const fields = readFileSync(`/proc/${client.pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) * TICK_MS; // utime + stime
  } catch {
    return NaN;
  }
}
function selfCpuMs() {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

// ---- panel: the client and its forked worker -----------------------------------------------------
const stderrLines = [];
const client = new InferenceClient({ workerPath, onStderr: (l) => stderrLines.push(l) });
const info = await client.load({ modelPath, gpu: false, contextSize, sequences, threads });

async function panelRun(p = prompt) {
  let chunks = 0;
  let firstChunk;
  const c0 = selfCpuMs();
  const w0 = workerCpuMs();
  const t0 = performance.now();
  const result = await client.generate({
    prompt: p, maxTokens, temperature: 0, seed: SEED, specialTokens: opt.special,
    onChunk: () => { chunks++; firstChunk ??= performance.now(); },
  }).result;
  const wall = performance.now() - t0;
  return { tokens: result.tokens, wall, workerMs: result.ms, chunks, text: result.text, stop: result.stopReason,
    ttft: (firstChunk ?? t0) - t0, cpuSelf: selfCpuMs() - c0, cpuWorker: workerCpuMs() - w0 };
}

// ---- plain: node-llama-cpp in this process, configured as worker.ts configures it ---------------
const llama = await getLlama({
  gpu: false, maxThreads: cores, build: 'never', skipDownload: true, progressLogs: false, logLevel: 'error',
});
const model = await llama.loadModel({ modelPath });
const context = await model.createContext({ sequences, threads, contextSize });
const completion = new LlamaCompletion({ contextSequence: context.getSequence() });

async function plainRun(p = prompt) {
  let tokens = 0;
  let chunks = 0;
  let firstChunk;
  const c0 = selfCpuMs();
  const t0 = performance.now();
  // as worker.ts does: special-token text parsed only when asked (BOS added by the model either way)
  const input = opt.special ? model.tokenize(p, true) : p;
  const { response, metadata } = await completion.generateCompletionWithMeta(input, {
    maxTokens, temperature: 0, seed: SEED, trimWhitespaceSuffix: false,
    onToken: (t) => { tokens += t.length; },
    onTextChunk: () => { chunks++; firstChunk ??= performance.now(); },
  });
  const wall = performance.now() - t0;
  return { tokens, wall, chunks, text: response, stop: metadata.stopReason, ttft: (firstChunk ?? t0) - t0,
    cpuSelf: selfCpuMs() - c0 };
}

const rate = (r) => r.tokens / (r.wall / 1000);

console.log(`model      ${modelPath} (${(statSync(modelPath).size / 1e6).toFixed(2)} MB, vocab ${info.vocabSize}, ` +
  `train context ${info.trainContextSize})`);
console.log(`machine    ${cores} cores; threads ${threads} (worker reports ${info.threads}), context ${info.contextSize} x ` +
  `${info.sequences} sequences, CPU`);
console.log(`generation greedy (temperature 0), seed ${SEED}, maxTokens ${maxTokens}, prompt ${JSON.stringify(prompt)}`);
console.log(`worker     ${workerPath.startsWith(root) ? workerPath.slice(root.length + 1) : workerPath}` +
  `${opt.special ? '; prompt special tokens parsed' : ''}`);

// warm-up: both paths once (first evaluations allocate buffers; the worker's first request pays tsx)
const warmA = await panelRun();
const warmB = await plainRun();
if (warmA.text !== warmB.text || warmA.tokens !== warmB.tokens) {
  console.log(`WARNING: the two paths generated different text (panel ${warmA.tokens} tokens, plain ${warmB.tokens})`);
} else {
  console.log(`same output on both paths: ${warmA.tokens} tokens, stop ${warmA.stop}/${warmB.stop}`);
}

const A = [];
const B = [];
for (let i = 0; i < reps; i++) {
  A.push(await panelRun());
  B.push(await plainRun());
}

const pad = (s, n) => String(s).padStart(n);
console.log('\nrep | panel tok/s | plain tok/s | panel/plain | panel chunks | worker ms | client wall ms');
for (let i = 0; i < reps; i++) {
  console.log(`${pad(i + 1, 3)} | ${pad(f1(rate(A[i])), 11)} | ${pad(f1(rate(B[i])), 11)} | ${pad((rate(A[i]) / rate(B[i])).toFixed(3), 11)} |` +
    ` ${pad(A[i].chunks, 12)} | ${pad(A[i].workerMs, 9)} | ${pad(f1(A[i].wall), 14)}`);
}
const mA = median(A.map(rate));
const mB = median(B.map(rate));
const ratio = mA / mB;
const ttftA = median(A.map((r) => r.ttft));
const ttftB = median(B.map((r) => r.ttft));
console.log('\n| path                                   | median tokens/s | min     | max     | median first chunk ms |');
console.log('|----------------------------------------|-----------------|---------|---------|-----------------------|');
console.log(`| panel (client -> worker -> IPC chunks) | ${pad(f1(mA), 15)} | ${pad(f1(Math.min(...A.map(rate))), 7)} | ${pad(f1(Math.max(...A.map(rate))), 7)} | ${pad(ttftA.toFixed(2), 21)} |`);
console.log(`| plain LlamaCompletion, in process     | ${pad(f1(mB), 15)} | ${pad(f1(Math.min(...B.map(rate))), 7)} | ${pad(f1(Math.max(...B.map(rate))), 7)} | ${pad(ttftB.toFixed(2), 21)} |`);
console.log(`\npanel/plain (median tokens/s): ${ratio.toFixed(3)}  (target >= 0.95: ${ratio >= 0.95 ? 'met' : 'NOT met'})`);
console.log(`median of per-rep ratios: ${median(A.map((a, i) => rate(a) / rate(B[i]))).toFixed(3)}`);
const sum = (xs, f) => xs.reduce((s, x) => s + f(x), 0);
const perTok = (xs, f) => (1000 * sum(xs, f)) / sum(xs, (r) => r.tokens); // microseconds per token
console.log(`CPU per generated token (all reps): plain ${perTok(B, (r) => r.cpuSelf).toFixed(0)} us; panel ` +
  `${perTok(A, (r) => r.cpuSelf + r.cpuWorker).toFixed(0)} us = worker ${perTok(A, (r) => r.cpuWorker).toFixed(0)} us ` +
  `+ client ${perTok(A, (r) => r.cpuSelf).toFixed(0)} us (worker: /proc ticks of ${TICK_MS} ms)`);
console.log(`chunks per token (panel): ${(A.reduce((s, r) => s + r.chunks, 0) / A.reduce((s, r) => s + r.tokens, 0)).toFixed(3)}; ` +
  `median client wall - worker ms: ${median(A.map((r) => r.wall - r.workerMs)).toFixed(1)} ms per generation`);

// ---- parallel: N generations at once through the client vs the same N one after another ---------
const prompts = Array.from({ length: sequences }, () => prompt); // the same work in both arms
const par = [];
const seq = [];
for (let i = 0; i < parallelReps + 1; i++) { // the first round is a warm-up
  let t0 = performance.now();
  const all = await Promise.all(prompts.map((p) => client.generate({ prompt: p, maxTokens, temperature: 0, seed: SEED, specialTokens: opt.special }).result));
  const parRun = { tokens: all.reduce((s, r) => s + r.tokens, 0), wall: performance.now() - t0, texts: all.map((r) => r.text) };
  t0 = performance.now();
  const one = [];
  for (const p of prompts) one.push(await client.generate({ prompt: p, maxTokens, temperature: 0, seed: SEED, specialTokens: opt.special }).result);
  const seqRun = { tokens: one.reduce((s, r) => s + r.tokens, 0), wall: performance.now() - t0, texts: one.map((r) => r.text) };
  if (i === 0) {
    const same = parRun.texts.every((t, k) => t === seqRun.texts[k]);
    console.log(`\nparallel (${sequences} at once) vs sequential: ${same ? 'same texts' : 'TEXTS DIFFER (batching changes greedy output)'}`);
    continue;
  }
  par.push(parRun);
  seq.push(seqRun);
}
console.log(`| ${sequences} generations through the client | median total tokens/s | median wall ms |`);
console.log('|-----------------------------------|----------------------|----------------|');
console.log(`| at once (one batch)               | ${pad(f1(median(par.map(rate))), 20)} | ${pad(f1(median(par.map((r) => r.wall))), 14)} |`);
console.log(`| one after another                 | ${pad(f1(median(seq.map(rate))), 20)} | ${pad(f1(median(seq.map((r) => r.wall))), 14)} |`);
console.log(`parallel/sequential: ${(median(par.map(rate)) / median(seq.map(rate))).toFixed(2)}x`);

await client.dispose();
await context.dispose();
await model.dispose();
await llama.dispose();
const warnings = stderrLines.filter((l) => !/^\[llama\.cpp (debug|info)\]/.test(l));
if (warnings.length > 0) console.log(`\nworker stderr (${warnings.length} lines), last: ${warnings.slice(-3).join(' | ')}`);
