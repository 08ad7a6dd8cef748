// The inference worker: a Node process of its own (forked by client.ts) that runs node-llama-cpp, so a
// crash in native code or a model of several GB never takes the extension host down. One model at a
// time; its context has N sequences, one LlamaCompletion each, so N generations run in parallel (one
// batch); more wait for a free sequence. Messages: protocol.ts.
//
// Threads: see threadsFor() in pure.ts; getLlama's maxThreads is os.availableParallelism().
import { existsSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { Llama, LlamaCompletion, LlamaContext, LlamaModel } from 'node-llama-cpp';
import {
  idOf, parseRequest, type CountTokensRequest, type GenerateRequest, type GpuBackend, type GpuChoice,
  type LoadRequest, type StopReason, type TokenMark, type WorkerReply,
} from './protocol';
import { dedupeMarks, promptTokens, StopStrings, threadsFor } from './pure';

const DEFAULT_SEQUENCES = 4;
/** Longest a streamed chunk waits to be sent with the next ones (ms). */
const CHUNK_MS = 16;
const MAX_DEFAULT_CONTEXT = 4096;

type NodeLlamaCpp = typeof import('node-llama-cpp');

interface Loaded {
  model: LlamaModel;
  context: LlamaContext;
  /** Completions whose sequence is free. */
  free: LlamaCompletion[];
}

interface Running {
  controller: AbortController;
}

let lib: NodeLlamaCpp | undefined;
let llama: { gpu: GpuChoice; instance: Llama } | undefined;
let loaded: Loaded | undefined;
/** Load and unload run one after another; generations and counts wait for the one in progress. */
let modelOps: Promise<unknown> = Promise.resolve();
const running = new Map<number, Running>();
/** Generations waiting for a free sequence, in arrival order. */
const waiting: Array<(completion: LlamaCompletion | undefined) => void> = [];

function send(reply: WorkerReply): void {
  process.send?.(reply);
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function getLib(): Promise<NodeLlamaCpp> {
  // node-llama-cpp is ESM only; this file is bundled as CJS, so it is imported dynamically (and kept
  // external by esbuild).
  lib ??= await import('node-llama-cpp');
  return lib;
}

async function getLlamaFor(gpu: GpuChoice): Promise<Llama> {
  if (llama?.gpu === gpu) return llama.instance;
  if (llama) await llama.instance.dispose();
  llama = undefined;
  const { getLlama } = await getLib();
  const instance = await getLlama({
    gpu,
    maxThreads: availableParallelism(),
    // Never compile llama.cpp or download anything from inside the editor: the prebuilt binaries
    // (or a local build) or an error.
    build: 'never',
    skipDownload: true,
    progressLogs: false,
    logger: (level, message) => process.stderr.write(`[llama.cpp ${level}] ${message.trimEnd()}\n`),
  });
  llama = { gpu, instance };
  return instance;
}

async function doUnload(): Promise<void> {
  const current = loaded;
  loaded = undefined;
  for (const r of running.values()) r.controller.abort();
  while (waiting.length > 0) waiting.shift()!(undefined);
  if (!current) return;
  await current.context.dispose();
  await current.model.dispose();
}

async function doLoad(req: LoadRequest): Promise<void> {
  const started = Date.now();
  await doUnload();
  const { modelPath } = req;
  if (!existsSync(modelPath)) throw new Error(`model file not found: ${modelPath}`);
  const stat = statSync(modelPath);
  if (!stat.isFile()) throw new Error(`model path is not a file: ${modelPath}`);
  const gpu = req.gpu ?? 'auto';
  const instance = await getLlamaFor(gpu);
  let model: LlamaModel;
  try {
    model = await instance.loadModel({ modelPath });
  } catch (err) {
    throw new Error(`could not load the GGUF model ${modelPath}: ${messageOf(err)}`);
  }
  const threads = req.threads ?? threadsFor(stat.size, availableParallelism());
  const sequences = req.sequences ?? DEFAULT_SEQUENCES;
  const contextSize = req.contextSize ?? Math.min(model.trainContextSize || MAX_DEFAULT_CONTEXT, MAX_DEFAULT_CONTEXT);
  let context: LlamaContext;
  try {
    context = await model.createContext({ sequences, threads, contextSize });
  } catch (err) {
    await model.dispose();
    throw new Error(`could not create a context (${sequences} x ${contextSize} tokens) for ${modelPath}: ${messageOf(err)}`);
  }
  const { LlamaCompletion } = await getLib();
  const free: LlamaCompletion[] = [];
  for (let i = 0; i < sequences; i++) free.push(new LlamaCompletion({ contextSequence: context.getSequence() }));
  loaded = { model, context, free };
  const tokenizer = model.fileInfo.metadata?.tokenizer as { ggml?: { tokens?: unknown }; chat_template?: unknown } | undefined;
  const vocab = tokenizer?.ggml?.tokens;
  send({
    type: 'loaded', id: req.id, modelPath, modelSize: stat.size, gpu: instance.gpu as GpuBackend, threads,
    contextSize: context.contextSize, sequences, trainContextSize: model.trainContextSize,
    vocabSize: Array.isArray(vocab) ? vocab.length : 0,
    chatTemplate: typeof tokenizer?.chat_template === 'string' ? tokenizer.chat_template : null,
    bosText: model.tokens.bosString ?? '', eosText: model.tokens.eosString ?? '',
    ms: Date.now() - started,
  });
}

function acquire(): Promise<LlamaCompletion | undefined> {
  if (!loaded) return Promise.resolve(undefined);
  const completion = loaded.free.shift();
  if (completion) return Promise.resolve(completion);
  return new Promise((resolve) => waiting.push(resolve));
}

function release(owner: Loaded, completion: LlamaCompletion): void {
  if (loaded !== owner) return; // unloaded meanwhile: the context is gone
  const next = waiting.shift();
  if (next) next(completion);
  else owner.free.push(completion);
}

const STOP_REASONS: Record<string, StopReason> = {
  maxTokens: 'maxTokens', customStopTrigger: 'stop', stopGenerationTrigger: 'stop', eogToken: 'eos', abort: 'abort',
};

async function generate(req: GenerateRequest): Promise<void> {
  const started = Date.now();
  const controller = new AbortController();
  running.set(req.id, { controller });
  try {
    await modelOps.catch(() => undefined);
    if (!loaded) throw new Error('no model is loaded');
    const owner = loaded;
    const completion = await acquire();
    if (controller.signal.aborted) {
      if (completion) release(owner, completion);
      send({ type: 'done', id: req.id, text: '', tokens: 0, stopReason: 'abort', ms: Date.now() - started, marks: [[0, 0]], promptTokens: 0 });
      return;
    }
    if (!completion) throw new Error('the model was unloaded');
    let tokens = 0;
    // A mark per text chunk: the tokens counted when llama.cpp hands over a chunk are exactly the ones
    // that decode to all text so far (it holds back tokens of an incomplete UTF-8 character).
    const marks: TokenMark[] = [[0, 0]];
    // Chunks are batched (the first goes at once, then at most one per CHUNK_MS): one IPC message per
    // token cost ~12 % of the throughput on two cores (scripts/bench-inference.mjs).
    let emitted = 0;
    let markIndex = 0;
    let pending = '';
    let timer: NodeJS.Timeout | undefined;
    let first = true;
    const flush = () => {
      if (timer) clearTimeout(timer);
      timer = undefined;
      if (!pending) return;
      while (markIndex + 1 < marks.length && marks[markIndex + 1]![1] <= emitted) markIndex++;
      send({ type: 'chunk', id: req.id, text: pending, tokens: marks[markIndex]![0] });
      pending = '';
    };
    const stops = new StopStrings(req.stop ?? [], (text) => {
      emitted += text.length;
      pending += text;
      if (first) {
        first = false;
        flush();
      } else {
        timer ??= setTimeout(flush, CHUNK_MS);
      }
    });
    const { tokens: vocab } = owner.model;
    // Tokenized here (not by LlamaCompletion) so the prompt's length is known exactly.
    const input = promptTokens(owner.model.tokenize(req.prompt, req.specialTokens ?? false), vocab.bos, vocab.shouldPrependBosToken);
    const promptLength = input.length + (vocab.shouldPrependBosToken && vocab.bos !== null ? 1 : 0);
    try {
      const { response, metadata } = await completion.generateCompletionWithMeta(input, {
        maxTokens: req.maxTokens,
        temperature: req.temperature,
        ...(req.topP !== undefined ? { topP: req.topP } : {}),
        ...(req.topK !== undefined ? { topK: req.topK } : {}),
        ...(req.seed !== undefined ? { seed: req.seed } : {}),
        trimWhitespaceSuffix: false,
        signal: controller.signal,
        stopOnAbortSignal: true,
        onToken: (t) => { tokens += t.length; },
        onTextChunk: (chunk) => {
          if (stops.stopped) return;
          marks.push([tokens, stops.seen.length + chunk.length]);
          if (stops.push(chunk)) controller.abort();
        },
      });
      if (!stops.stopped && response.startsWith(stops.seen) && response.length > stops.seen.length) {
        // Should the final response ever hold more than the chunks did.
        marks.push([tokens, response.length]);
        stops.push(response.slice(stops.seen.length));
      }
      const text = stops.finish();
      flush();
      const stopReason = stops.stopped ? 'stop' : STOP_REASONS[metadata.stopReason] ?? 'eos';
      const kept = marks.filter(([, chars]) => chars <= text.length);
      if (!stops.stopped && kept[kept.length - 1]![1] < text.length) kept.push([tokens, text.length]);
      send({ type: 'done', id: req.id, text, tokens, stopReason, ms: Date.now() - started, marks: dedupeMarks(kept), promptTokens: promptLength });
    } finally {
      if (timer) clearTimeout(timer);
      release(owner, completion);
    }
  } catch (err) {
    if (controller.signal.aborted && !loaded) {
      send({ type: 'error', id: req.id, message: `generation stopped: the model was unloaded (${messageOf(err)})` });
    } else {
      send({ type: 'error', id: req.id, message: messageOf(err) });
    }
  } finally {
    running.delete(req.id);
  }
}

async function countTokens(req: CountTokensRequest): Promise<void> {
  await modelOps.catch(() => undefined);
  if (!loaded) throw new Error('no model is loaded');
  const { model } = loaded;
  send({ type: 'counts', id: req.id, counts: req.texts.map((t) => model.tokenize(t).length) });
}

function serial(op: () => Promise<void>, id: number): void {
  const next = modelOps.catch(() => undefined).then(op);
  modelOps = next;
  next.catch((err) => send({ type: 'error', id, message: messageOf(err) }));
}

function onMessage(raw: unknown): void {
  let req;
  try {
    req = parseRequest(raw);
  } catch (err) {
    const id = idOf(raw);
    send({ type: 'error', ...(id !== undefined ? { id } : {}), message: messageOf(err) });
    return;
  }
  switch (req.type) {
    case 'load': {
      const r = req;
      serial(() => doLoad(r), r.id);
      break;
    }
    case 'unload': {
      const id = req.id;
      serial(async () => { await doUnload(); send({ type: 'unloaded', id }); }, id);
      break;
    }
    case 'generate':
      void generate(req);
      break;
    case 'abort':
      running.get(req.id)?.controller.abort();
      break;
    case 'countTokens': {
      const id = req.id;
      countTokens(req).catch((err) => send({ type: 'error', id, message: messageOf(err) }));
      break;
    }
  }
}

if (typeof process.send === 'function') {
  process.on('message', onMessage);
  // The extension host went away (or disposed the client): nothing left to serve.
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready', pid: process.pid });
}
