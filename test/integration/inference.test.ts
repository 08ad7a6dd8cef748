// The inference worker (extension/inference) against a real GGUF: node-llama-cpp in a forked Node
// process, driven through InferenceClient. Uses ../shared/data/models/stories260K.gguf (a 1.2 MB
// TinyStories model); skipped, with a message, where that file is absent. CPU only (gpu: false), one
// thread (a model this small runs fastest on one), so the suite takes seconds.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { InferenceClient, type GenerateChunk } from '../../extension/inference/client';
import { parseRequest } from '../../extension/inference/protocol';
import { StopStrings, threadsFor, TINY_MODEL_BYTES, tokensBefore } from '../../extension/inference/pure';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const modelPath = join(root, '..', 'shared', 'data', 'models', 'stories260K.gguf');
const skip = existsSync(modelPath) ? false : `no test model at ${modelPath} (see shared/data/README.md)`;
if (skip) console.log(`# skipping the inference worker integration tests: ${skip}`);

const PROMPTS = ['Once upon a time', 'The little dog', 'Lily went to the park'];

let tmp = '';
let client: InferenceClient;
before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'hbpo-inference-'));
});
after(async () => {
  await client?.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

describe('inference protocol', () => {
  test('the validator accepts good requests and names the bad field', () => {
    assert.deepEqual(parseRequest({ type: 'abort', id: 3 }), { type: 'abort', id: 3 });
    assert.throws(() => parseRequest({ type: 'generate', id: 1, prompt: 'x', maxTokens: 0, temperature: 0 }), /maxTokens/);
    assert.throws(() => parseRequest({ type: 'load', id: 1, modelPath: 'm.gguf', gpu: 'cuda' }), /gpu/);
    assert.throws(() => parseRequest({ type: 'nope', id: 1 }), /unknown type/);
    assert.throws(() => parseRequest(null), /not an object/);
  });

  test('threads: 1 for a tiny model, the cores (less one from 4 up) otherwise', () => {
    assert.equal(threadsFor(1_200_000, 16), 1);
    assert.equal(threadsFor(TINY_MODEL_BYTES, 2), 2);
    assert.equal(threadsFor(4e9, 16), 15);
    assert.equal(threadsFor(4e9, 1), 1);
  });

  test('stop strings: text that may start one is held back, the text ends before it', () => {
    const out: string[] = [];
    const stops = new StopStrings([' XY', 'END'], (t) => out.push(t));
    assert.equal(stops.push('ab'), false);
    assert.equal(stops.push('c X'), false);
    assert.deepEqual(out, ['ab', 'c']);
    assert.equal(stops.push('Z E'), false);
    assert.deepEqual(out, ['ab', 'c', ' XZ ']);
    assert.equal(stops.push('N'), false);
    assert.equal(stops.push('D!'), true);
    assert.equal(stops.finish(), 'abc XZ ');
    assert.equal(out.join(''), 'abc XZ ');
    const none = new StopStrings([], () => undefined);
    none.push('a');
    assert.equal(none.finish(), 'a');
  });
});

describe('inference worker on stories260K', { skip }, () => {
  before(async () => {
    client = new InferenceClient();
    const info = await client.load({ modelPath, gpu: false, sequences: 3, contextSize: 512 });
    assert.equal(info.gpu, false);
    assert.equal(info.threads, 1);
    assert.equal(info.sequences, 3);
    assert.equal(info.vocabSize, 512);
    assert.ok(info.contextSize >= 512);
  });

  test('streams chunks whose concatenation is the final text', async () => {
    const chunks: GenerateChunk[] = [];
    const started = Date.now();
    const gen = client.generate({ prompt: PROMPTS[0]!, maxTokens: 200, temperature: 0.8, seed: 1 });
    for await (const chunk of gen) chunks.push(chunk);
    const result = await gen.result;
    const secs = (Date.now() - started) / 1000;
    console.log(`# stories260K: ${result.tokens} tokens in ${result.ms} ms in the worker ` +
      `(${(result.tokens / (result.ms / 1000)).toFixed(0)} tokens/s; ${(result.tokens / secs).toFixed(0)} tokens/s end to end)`);
    assert.ok(chunks.length > 1, 'several chunks');
    assert.equal(chunks.map((c) => c.text).join(''), result.text);
    assert.ok(result.text.length > 0);
    assert.ok(result.tokens > 0 && result.tokens <= 200);
    for (let i = 1; i < chunks.length; i++) assert.ok(chunks[i]!.tokens >= chunks[i - 1]!.tokens);
    assert.ok(result.stopReason === 'maxTokens' || result.stopReason === 'eos');
    if (result.stopReason === 'maxTokens') assert.equal(result.tokens, 200);
    // Token marks: ascending from [0, 0] to [tokens, text.length], and every chunk's count is the
    // marks' count at the text streamed so far.
    const marks = result.marks;
    assert.deepEqual(marks[0], [0, 0]);
    assert.deepEqual(marks[marks.length - 1], [result.tokens, result.text.length]);
    for (let i = 1; i < marks.length; i++) {
      assert.ok(marks[i]![0] > marks[i - 1]![0] && marks[i]![1] > marks[i - 1]![1], `marks ascend at ${i}`);
    }
    let streamed = 0;
    for (const c of chunks) {
      streamed += c.text.length;
      assert.equal(c.tokens, tokensBefore(marks, streamed));
    }
  });

  test('a stop string ends the generation before it', async () => {
    const free = await client.generate({ prompt: PROMPTS[0]!, maxTokens: 60, temperature: 0 }).result;
    const cut = free.text.indexOf(' ', 8);
    assert.ok(cut > 0, `a space in ${JSON.stringify(free.text)}`);
    const word = free.text.slice(cut, free.text.indexOf(' ', cut + 1)); // with its leading space
    const onChunk: GenerateChunk[] = [];
    const stopped = await client.generate({
      prompt: PROMPTS[0]!, maxTokens: 60, temperature: 0, stop: [word], onChunk: (c) => onChunk.push(c),
    }).result;
    assert.equal(stopped.stopReason, 'stop');
    assert.equal(stopped.text, free.text.slice(0, free.text.indexOf(word)));
    assert.equal(onChunk.map((c) => c.text).join(''), stopped.text);
  });

  test('abort stops early with stopReason abort', async () => {
    let seen = 0;
    const gen = client.generate({
      prompt: PROMPTS[1]!, maxTokens: 400, temperature: 0.8, seed: 2,
      onChunk: (c) => { seen = c.tokens; if (seen >= 5) gen.abort(); },
    });
    const result = await gen.result;
    assert.equal(result.stopReason, 'abort');
    assert.ok(result.tokens >= 5 && result.tokens < 400, `stopped after ${result.tokens} tokens`);
    // ... and through an AbortSignal, before the worker even started it.
    const signal = AbortSignal.abort();
    const early = await client.generate({ prompt: PROMPTS[1]!, maxTokens: 50, temperature: 0, signal }).result;
    assert.equal(early.stopReason, 'abort');
  });

  test('countTokens matches model.tokenize', async () => {
    const texts = ['', 'Once upon a time', 'Lily and Tom played with a big red ball.', 'x'.repeat(50)];
    const counts = await client.countTokens(texts);
    const { getLlama } = await import('node-llama-cpp');
    const llama = await getLlama({ gpu: false, maxThreads: 1, build: 'never' });
    try {
      const model = await llama.loadModel({ modelPath });
      assert.deepEqual(counts, texts.map((t) => model.tokenize(t).length));
      await model.dispose();
    } finally {
      await llama.dispose();
    }
    assert.equal(counts[0], 0);
    assert.ok(counts[2]! > counts[1]!);
  });

  test('3 parallel generations match the same prompts run one at a time (same seed)', async () => {
    const params = (prompt: string, i: number) => ({ prompt, maxTokens: 120, temperature: 0.9, topP: 0.95, seed: 100 + i });
    const one: string[] = [];
    for (const [i, p] of PROMPTS.entries()) one.push((await client.generate(params(p, i)).result).text);
    const started = Date.now();
    const parallel = await Promise.all(PROMPTS.map((p, i) => client.generate(params(p, i)).result));
    const tokens = parallel.reduce((n, r) => n + r.tokens, 0);
    console.log(`# 3 parallel sequences: ${tokens} tokens in ${Date.now() - started} ms`);
    assert.deepEqual(parallel.map((r) => r.text), one);
    assert.equal(new Set(one).size, 3);
    // More generations than sequences wait for a free one.
    const five = await Promise.all([0, 1, 2, 0, 1].map((i) => client.generate(params(PROMPTS[i]!, i)).result));
    assert.deepEqual(five.map((r) => r.text), [0, 1, 2, 0, 1].map((i) => one[i]));
  });

  test('a missing or corrupt GGUF is an error naming the path; the client keeps working', async () => {
    const missing = join(tmp, 'missing.gguf');
    await assert.rejects(client.load({ modelPath: missing, gpu: false }), (err: Error) => err.message.includes(missing));
    const corrupt = join(tmp, 'corrupt.gguf');
    writeFileSync(corrupt, Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 131 + 7) % 256)));
    await assert.rejects(client.load({ modelPath: corrupt, gpu: false }), (err: Error) => err.message.includes(corrupt));
    await assert.rejects(client.countTokens(['x']), /no model is loaded/);
    const info = await client.load({ modelPath, gpu: false, sequences: 3, contextSize: 512 });
    assert.equal(info.modelPath, modelPath);
    const result = await client.generate({ prompt: PROMPTS[0]!, maxTokens: 20, temperature: 0 }).result;
    assert.ok(result.tokens > 0);
  });

  test('a killed worker rejects what was in flight; the next request starts a new one', async () => {
    const pid = client.pid!;
    assert.ok(pid > 0);
    const gen = client.generate({ prompt: PROMPTS[2]!, maxTokens: 2000, temperature: 0.8, seed: 5 });
    const iterated = (async () => { for await (const _ of gen) { /* drain */ } })();
    await new Promise<void>((resolve) => {
      const first = client.generate({ prompt: 'x', maxTokens: 1, temperature: 0 });
      void first.result.finally(resolve);
    });
    process.kill(pid, 'SIGKILL');
    await assert.rejects(gen.result, /exited unexpectedly \(signal SIGKILL\)/);
    await assert.rejects(iterated, /SIGKILL/);
    // The fresh worker loads the same model again before it answers.
    const result = await client.generate({ prompt: PROMPTS[0]!, maxTokens: 20, temperature: 0 }).result;
    assert.ok(result.tokens > 0);
    assert.notEqual(client.pid, pid);
    assert.equal((await client.countTokens(['Once upon a time']))[0]! > 0, true);
  });

  test('unload frees the model; dispose ends the worker', async () => {
    await client.unload();
    await assert.rejects(client.countTokens(['x']), /no model is loaded/);
    const pid = client.pid!;
    await client.dispose();
    assert.equal(client.pid, undefined);
    assert.throws(() => process.kill(pid, 0));
    await assert.rejects(client.generate({ prompt: 'x', maxTokens: 1, temperature: 0 }).result, /disposed/);
  });
});
