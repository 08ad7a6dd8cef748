// The inference worker (extension/inference) against a real GGUF: node-llama-cpp in a forked Node
// process, driven through InferenceClient. The model is the project's own: the testbed's base model
// (a 1.1 M-parameter Llama trained on arithmetic traces, trainer/hbpo/testbed/) exported to GGUF by
// test/fixtures/testbedGguf.mjs, built and exported on first use (the build takes minutes, once per
// machine; it needs the .venv of npm run setup). Prompts are built as the comparison panel builds
// them, with the GGUF's chat template. CPU only (gpu: false), one thread (a model this small runs
// fastest on one), so the suite takes seconds once the model exists.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { buildPrompt } from '../../extension/compare/prompt';
import { InferenceClient, type GenerateChunk, type GenerateOptions } from '../../extension/inference/client';
import { parseRequest, type LoadedInfo } from '../../extension/inference/protocol';
import { StopStrings, threadsFor, TINY_MODEL_BYTES, tokensBefore } from '../../extension/inference/pure';
import { testbedGguf } from '../fixtures/testbedGguf.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const PYTHON = join(root, '.venv', 'bin', 'python');

// Testbed problems (trainer/hbpo/testbed/problems.py) and the first line of their solution.
// The model copies the first definition as its first line (`a = 7 + 5 = 12`), one line a step, and
// ends `</think>\nThe answer is \boxed{N}.` (trainer/hbpo/testbed/traces.py): 400 of 400 samples at
// temperature 0.8-0.9 did both. The answer itself is right only about half the time when sampled (the
// base model over-thinks, and its re-checks sometimes change the answer), so no test asserts it.
const PROBLEMS: { problem: string; firstLine: string }[] = [
  { problem: 'Let a = 7 + 5, b = a * 3. What is b?', firstLine: 'a = 7 + 5 = 12\n' },
  { problem: 'Let a = 9 - 4. What is a?', firstLine: 'a = 9 - 4 = 5\n' },
  { problem: 'Let a = 6 * 2, b = a + 8, c = b - 5. What is c?', firstLine: 'a = 6 * 2 = 12\n' },
];
/** Six steps: a trace of at least 79 tokens (12 a step, then the answer), so it is still generating at its first chunk. */
const LONG_PROBLEM = 'Let a = 3 + 4, b = a * 2, c = b - 5, d = c + 8, e = d - 6, f = e * 3. What is f?';
const ENDING = /\n<\/think>\nThe answer is \\boxed\{\d+\}\.$/;
let modelPath = '';
let info: LoadedInfo;
/** The problems' natural-mode prompts (chat template, opened think tag), as the panel builds them. */
let PROMPTS: string[] = [];
let LONG_PROMPT = '';
/** A generation request on a chat prompt: its special-token text parsed, as the panel sends it. */
const chat = (prompt: string, options: Omit<GenerateOptions, 'prompt'>): GenerateOptions =>
  ({ prompt, specialTokens: true, ...options });
const on = (i: number, options: Omit<GenerateOptions, 'prompt'>): GenerateOptions => chat(PROMPTS[i]!, options);

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

describe('inference worker on the testbed model', () => {
  before(async () => {
    modelPath = testbedGguf({ python: PYTHON });
    const config = JSON.parse(readFileSync(join(dirname(modelPath), 'config.json'), 'utf8')) as { vocab_size: number };
    client = new InferenceClient();
    info = await client.load({ modelPath, gpu: false, sequences: 3, contextSize: 512 });
    assert.equal(info.gpu, false);
    assert.equal(info.threads, 1);
    assert.equal(info.sequences, 3);
    assert.equal(info.vocabSize, config.vocab_size);
    assert.ok(info.contextSize >= 512);
    // The testbed tokenizer's chat template and special tokens (trainer/hbpo/tiny.py) came through.
    assert.match(info.chatTemplate ?? '', /<\|\{\{ m\['role'\] \}\}\|>/);
    assert.equal(info.bosText, '<s>');
    assert.equal(info.eosText, '</s>');
    PROMPTS = PROBLEMS.map(({ problem }) => {
      const p = buildPrompt(info, problem, 'natural');
      assert.equal(p.specialTokens, true);
      return p.text;
    });
    LONG_PROMPT = buildPrompt(info, LONG_PROBLEM, 'natural').text;
    assert.ok(PROMPTS[0]!.startsWith('<s><|user|>\nLet a = 7 + 5, b = a * 3. What is b?\n'), PROMPTS[0]);
    assert.ok(PROMPTS[0]!.endsWith('<think>\n'), PROMPTS[0]);
  });

  test('streams chunks whose concatenation is the final text', async () => {
    const chunks: GenerateChunk[] = [];
    const started = Date.now();
    const gen = client.generate(on(0, { maxTokens: 200, temperature: 0.8, seed: 1 }));
    for await (const chunk of gen) chunks.push(chunk);
    const result = await gen.result;
    const secs = (Date.now() - started) / 1000;
    console.log(`# ${basename(modelPath)}: ${result.tokens} tokens in ${result.ms} ms in the worker ` +
      `(${(result.tokens / (result.ms / 1000)).toFixed(0)} tokens/s; ${(result.tokens / secs).toFixed(0)} tokens/s end to end)`);
    assert.ok(chunks.length > 1, 'several chunks');
    assert.equal(chunks.map((c) => c.text).join(''), result.text);
    assert.ok(result.text.length > 0);
    assert.ok(result.tokens > 0 && result.tokens <= 200);
    for (let i = 1; i < chunks.length; i++) assert.ok(chunks[i]!.tokens >= chunks[i - 1]!.tokens);
    assert.ok(result.stopReason === 'maxTokens' || result.stopReason === 'eos');
    if (result.stopReason === 'maxTokens') assert.equal(result.tokens, 200);
    // The testbed model's trace: the prompt (special tokens and all) reached it as the trainer's does.
    assert.ok(result.text.startsWith(PROBLEMS[0]!.firstLine), JSON.stringify(result.text));
    if (result.stopReason === 'eos') assert.match(result.text, ENDING);
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
    const free = await client.generate(on(0, { maxTokens: 60, temperature: 0 })).result;
    // Stop before the second line's first word ("\nb "; it spans several tokens): the first line stays.
    const cut = free.text.indexOf('\n');
    assert.ok(cut > 8, `a second line in ${JSON.stringify(free.text)}`);
    const word = free.text.slice(cut, free.text.indexOf(' ', cut + 1) + 1); // with its leading newline
    assert.equal(free.text.indexOf(word), cut);
    const onChunk: GenerateChunk[] = [];
    const stopped = await client.generate(on(0, {
      maxTokens: 60, temperature: 0, stop: [word], onChunk: (c) => onChunk.push(c),
    })).result;
    assert.equal(stopped.stopReason, 'stop');
    assert.equal(stopped.text, free.text.slice(0, cut));
    assert.equal(`${stopped.text}\n`, PROBLEMS[0]!.firstLine);
    assert.equal(onChunk.map((c) => c.text).join(''), stopped.text);
  });

  test('abort stops early with stopReason abort', async () => {
    let seen = 0;
    const gen = client.generate(chat(LONG_PROMPT, {
      maxTokens: 400, temperature: 0.8, seed: 2,
      onChunk: (c) => { seen = c.tokens; if (seen >= 5) gen.abort(); },
    }));
    const result = await gen.result;
    assert.equal(result.stopReason, 'abort');
    assert.ok(result.tokens >= 5 && result.tokens < 400, `stopped after ${result.tokens} tokens`);
    // ... and through an AbortSignal, before the worker even started it.
    const signal = AbortSignal.abort();
    const early = await client.generate(on(1, { maxTokens: 50, temperature: 0, signal })).result;
    assert.equal(early.stopReason, 'abort');
  });

  test('countTokens matches model.tokenize', async () => {
    const texts = ['', 'Let a = 9 - 4. What is a?', 'a = 7 + 5 = 12\nb = a * 3 = 12 * 3 = 36\n</think>\nThe answer is \\boxed{36}.',
      'x'.repeat(50), 'b = a * 3 = 12 * 3 = 36\n'];
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
    // The testbed tokenizer, exported: every number below 100 is one token, a step line after the first is 12.
    assert.equal(counts[4], 12);
  });

  test('3 parallel generations match the same prompts run one at a time (same seed)', async () => {
    const params = (p: number, i: number) => on(p, { maxTokens: 120, temperature: 0.9, topP: 0.95, seed: 100 + i });
    const one: string[] = [];
    for (const i of PROMPTS.keys()) one.push((await client.generate(params(i, i)).result).text);
    const started = Date.now();
    const parallel = await Promise.all(PROMPTS.map((_, i) => client.generate(params(i, i)).result));
    const tokens = parallel.reduce((n, r) => n + r.tokens, 0);
    console.log(`# 3 parallel sequences: ${tokens} tokens in ${Date.now() - started} ms`);
    assert.deepEqual(parallel.map((r) => r.text), one);
    assert.equal(new Set(one).size, 3);
    one.forEach((text, i) => assert.ok(text.startsWith(PROBLEMS[i]!.firstLine), JSON.stringify(text)));
    // More generations than sequences wait for a free one.
    const five = await Promise.all([0, 1, 2, 0, 1].map((i) => client.generate(params(i, i)).result));
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
    const result = await client.generate(on(0, { maxTokens: 20, temperature: 0 })).result;
    assert.ok(result.tokens > 0);
  });

  test('a killed worker rejects what was in flight; the next request starts a new one', async () => {
    const pid = client.pid!;
    assert.ok(pid > 0);
    // Killed at its first chunk: the six-step trace has dozens of tokens to go (and a second request,
    // on another sequence, is in flight too).
    let killedAt = -1;
    const gen = client.generate(chat(LONG_PROMPT, {
      maxTokens: 400, temperature: 0.8, seed: 5,
      onChunk: (c) => { if (killedAt < 0) { killedAt = c.tokens; process.kill(pid, 'SIGKILL'); } },
    }));
    const other = client.generate(chat(LONG_PROMPT, { maxTokens: 400, temperature: 0.8, seed: 6 }));
    const iterated = (async () => { for await (const _ of gen) { /* drain */ } })();
    await assert.rejects(gen.result, /exited unexpectedly \(signal SIGKILL\)/);
    await assert.rejects(iterated, /SIGKILL/);
    assert.ok(killedAt > 0 && killedAt < 79, `killed after ${killedAt} tokens`);
    await assert.rejects(other.result, /SIGKILL/);
    // The fresh worker loads the same model again before it answers.
    const result = await client.generate(on(0, { maxTokens: 20, temperature: 0 })).result;
    assert.ok(result.tokens > 0);
    assert.ok(result.text.startsWith('a = 7 + 5 = '), JSON.stringify(result.text));
    assert.notEqual(client.pid, pid);
    assert.equal((await client.countTokens(['Let a = 9 - 4. What is a?']))[0]! > 0, true);
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
