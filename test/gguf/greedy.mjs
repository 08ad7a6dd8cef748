// Greedy decoding of a GGUF with node-llama-cpp, from given prompt token ids, for comparing llama.cpp
// with the PyTorch model the GGUF was exported from (trainer/tests/test_gguf_export.py runs it).
//
//   node test/gguf/greedy.mjs '<json>' | node test/gguf/greedy.mjs request.json | ... | node test/gguf/greedy.mjs
//
// Request (argv[2]: the JSON itself or a file holding it; else stdin):
//   { "model": "/abs/model.gguf",
//     "prompts": [[1, 45, 9, ...], ...],  // token ids, evaluated as they are (no BOS added)
//     "maxTokens": 48,
//     "texts": ["<s><|user|>\n..."] }     // optional: tokenized with special tokens parsed, no BOS added
// Reply, one JSON line on stdout:
//   { "greedy": [[ids...], ...],          // per prompt: argmax tokens, ending after an end-of-generation
//                                         // token (included) or at maxTokens
//     "tokens": [[ids...], ...] }         // per text (only when texts were given)
//
// CPU only, one thread: tiny models run fastest on one, and llama.cpp's default thread count (4 on these
// 2-core machines) makes generation about a thousand times slower (../shared/notes/NODE-LLAMA-CPP.md).
import { readFileSync } from 'node:fs';

async function readRequest() {
  const arg = process.argv[2];
  if (arg !== undefined) return JSON.parse(arg.trimStart().startsWith('{') ? arg : readFileSync(arg, 'utf8'));
  const parts = [];
  for await (const part of process.stdin) parts.push(part);
  return JSON.parse(Buffer.concat(parts).toString('utf8'));
}

function fail(message) {
  process.stderr.write(`greedy.mjs: ${message}\n`);
  process.exit(2);
}

const request = await readRequest();
const { model: modelPath, prompts, maxTokens, texts = [] } = request;
if (typeof modelPath !== 'string' || modelPath === '') fail('"model": expected the path of a GGUF file');
if (!Array.isArray(prompts) || !prompts.every((p) => Array.isArray(p) && p.length > 0 && p.every(Number.isInteger))) {
  fail('"prompts": expected a list of non-empty lists of token ids');
}
if (!Number.isInteger(maxTokens) || maxTokens < 1) fail('"maxTokens": expected a positive integer');
if (!Array.isArray(texts) || !texts.every((t) => typeof t === 'string')) fail('"texts": expected a list of strings');

const { getLlama } = await import('node-llama-cpp');
const llama = await getLlama({
  gpu: false, maxThreads: 1, build: 'never', skipDownload: true, progressLogs: false, logLevel: 'error',
});
const model = await llama.loadModel({ modelPath });
const longest = Math.max(...prompts.map((p) => p.length));
const contextSize = longest + maxTokens + 8;
const context = await model.createContext({ contextSize, batchSize: contextSize, threads: 1, sequences: 1 });
const sequence = context.getSequence();

const greedy = [];
for (const prompt of prompts) {
  await sequence.clearHistory();
  const out = [];
  // temperature 0: argmax, no repeat penalty; the end-of-generation token is yielded (and ends it)
  for await (const token of sequence.evaluate(prompt, { temperature: 0, yieldEogToken: true })) {
    out.push(token);
    if (out.length >= maxTokens || model.isEogToken(token)) break;
  }
  greedy.push(out);
}
const tokens = texts.map((t) => Array.from(model.tokenize(t, true)));

process.stdout.write(`${JSON.stringify(texts.length > 0 ? { greedy, tokens } : { greedy })}\n`);
await context.dispose();
await model.dispose();
await llama.dispose();
