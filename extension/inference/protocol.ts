// Messages between the extension host (client.ts) and the inference worker (worker.ts), a Node process
// of its own that runs node-llama-cpp. Every request carries an id; every reply names the request it
// answers. A generation streams `chunk` replies and ends with one `done` or one `error`; `abort` has
// no reply of its own (the aborted generation ends with `done`, stopReason "abort").

/** What a load asks for: 'auto' lets node-llama-cpp pick CUDA / Vulkan / Metal, false is CPU only. */
export type GpuChoice = 'auto' | false;
/** The backend a loaded model actually runs on. */
export type GpuBackend = 'cuda' | 'vulkan' | 'metal' | false;
export type StopReason = 'maxTokens' | 'stop' | 'eos' | 'abort';

export interface LoadRequest {
  type: 'load';
  id: number;
  /** Absolute path to a GGUF file. */
  modelPath: string;
  /** Default 'auto'. */
  gpu?: GpuChoice;
  /** Tokens per sequence (prompt + generation). Default: the model's training context, at most 4096. */
  contextSize?: number;
  /** Parallel generations (context sequences). Default 4. */
  sequences?: number;
  /** Evaluation threads. Default: see threadsFor() in worker.ts. */
  threads?: number;
}

export interface GenerateRequest {
  type: 'generate';
  id: number;
  /** Raw text, no chat template applied. */
  prompt: string;
  maxTokens: number;
  temperature: number;
  topP?: number;
  topK?: number;
  /** Same seed, same prompt, same options: same text. */
  seed?: number;
  /** Stop before any of these strings; they are not part of the text. */
  stop?: string[];
  /**
   * Parse special-token text in the prompt (`<|assistant|>`, `<|im_start|>`) as those tokens, as a
   * Hugging Face tokenizer does with a chat-template prompt. Default false. The model's BOS is
   * prepended either way when the model adds one, so a prompt must not spell it out.
   */
  specialTokens?: boolean;
}

/** Stops the generation with this id (no reply; it ends with done/abort). */
export interface AbortRequest {
  type: 'abort';
  id: number;
}

export interface CountTokensRequest {
  type: 'countTokens';
  id: number;
  texts: string[];
}

export interface UnloadRequest {
  type: 'unload';
  id: number;
}

export type WorkerRequest = LoadRequest | GenerateRequest | AbortRequest | CountTokensRequest | UnloadRequest;

/** Sent once, when the worker is ready for requests. */
export interface ReadyReply {
  type: 'ready';
  pid: number;
}

export interface LoadedInfo {
  modelPath: string;
  /** Bytes of the GGUF file. */
  modelSize: number;
  gpu: GpuBackend;
  /** Threads each evaluation uses. */
  threads: number;
  /** Tokens per sequence actually allocated. */
  contextSize: number;
  sequences: number;
  trainContextSize: number;
  /** Tokens in the vocabulary (from the GGUF metadata; 0 when it does not say). */
  vocabSize: number;
  /** The GGUF's Jinja chat template (`tokenizer.chat_template`), or null when it has none. */
  chatTemplate: string | null;
  /** Text of the model's BOS / EOS tokens ('' when it has none). */
  bosText: string;
  eosText: string;
  /** Time the load took, including starting llama.cpp on the first load. */
  ms: number;
}

export interface LoadedReply extends LoadedInfo {
  type: 'loaded';
  id: number;
}

export interface ChunkReply {
  type: 'chunk';
  id: number;
  /** New text since the previous chunk. */
  text: string;
  /** Tokens whose text is in the chunks so far (exact: the tokenizer's count, not an estimate). */
  tokens: number;
}

/** `[tokens, chars]`: the first `tokens` generated tokens decode to `text.slice(0, chars)`. */
export type TokenMark = [number, number];

export interface GenerateResult {
  /** The whole generation: the concatenation of every chunk's text. */
  text: string;
  /** Tokens generated (stop-string tokens included, the end-of-sequence token not). */
  tokens: number;
  stopReason: StopReason;
  ms: number;
  /**
   * Where token and text boundaries meet, ascending from [0, 0], every chars <= text.length; the last
   * is [tokens, text.length] unless a stop string cut the text (its tokens are counted, not shown).
   */
  marks: TokenMark[];
  /** Tokens of the prompt as evaluated (the BOS llama.cpp prepends included); 0 when it never ran. */
  promptTokens: number;
}

export interface DoneReply extends GenerateResult {
  type: 'done';
  id: number;
}

export interface CountsReply {
  type: 'counts';
  id: number;
  /** Tokens per text, in order (the model's tokenizer, no BOS). */
  counts: number[];
}

export interface UnloadedReply {
  type: 'unloaded';
  id: number;
}

export interface ErrorReply {
  type: 'error';
  /** The failed request's id; absent for an error no request caused (e.g. a malformed message). */
  id?: number;
  message: string;
}

export type WorkerReply = ReadyReply | LoadedReply | ChunkReply | DoneReply | CountsReply | UnloadedReply | ErrorReply;

// ---- validation -------------------------------------------------------------------------------

type Check = (v: unknown) => boolean;
// Integers are safe integers (at most 2^53 - 1): above that, distinct values read as the same number,
// and two request ids would name one request.
const isSafe = (v: unknown): v is number => Number.isSafeInteger(v);
/** A request id: a safe integer >= 0, so replies match exactly the request they answer. */
export const isRequestId: Check = (v) => isSafe(v) && v >= 0;
const isId = isRequestId;
const isPosInt: Check = (v) => isSafe(v) && v > 0;
const isNonNegInt: Check = (v) => isSafe(v) && v >= 0;
const isNum: Check = (v) => typeof v === 'number' && Number.isFinite(v);
const isNonNeg: Check = (v) => isNum(v) && (v as number) >= 0;
const isStr: Check = (v) => typeof v === 'string';
const isNonEmptyStr: Check = (v) => typeof v === 'string' && v.length > 0;
const isStrArray: Check = (v) => Array.isArray(v) && v.every((s) => typeof s === 'string');
const isBool: Check = (v) => typeof v === 'boolean';
const isMarks: Check = (v) => Array.isArray(v) && v.every((m) => Array.isArray(m) && m.length === 2 && isNonNegInt(m[0]) && isNonNegInt(m[1]));
const isIntArray: Check = (v) => Array.isArray(v) && v.every(isNonNegInt);
const isGpuChoice: Check = (v) => v === 'auto' || v === false;
const isGpuBackend: Check = (v) => v === 'cuda' || v === 'vulkan' || v === 'metal' || v === false;
const isStopReason: Check = (v) => v === 'maxTokens' || v === 'stop' || v === 'eos' || v === 'abort';
const optional = (c: Check): Check => (v) => v === undefined || c(v);

/** Field checks per message type; `?`-suffixed fields may be absent. */
const REQUESTS: Record<WorkerRequest['type'], Record<string, Check>> = {
  load: {
    id: isId, modelPath: isNonEmptyStr, gpu: optional(isGpuChoice), contextSize: optional(isPosInt),
    sequences: optional(isPosInt), threads: optional(isPosInt),
  },
  generate: {
    id: isId, prompt: isStr, maxTokens: isPosInt, temperature: isNonNeg, topP: optional(isNonNeg),
    topK: optional(isNonNegInt), seed: optional(isNonNegInt), stop: optional(isStrArray),
    specialTokens: optional(isBool),
  },
  abort: { id: isId },
  countTokens: { id: isId, texts: isStrArray },
  unload: { id: isId },
};

const REPLIES: Record<WorkerReply['type'], Record<string, Check>> = {
  ready: { pid: isPosInt },
  loaded: {
    id: isId, modelPath: isStr, modelSize: isNonNegInt, gpu: isGpuBackend, threads: isPosInt,
    contextSize: isPosInt, sequences: isPosInt, trainContextSize: isNonNegInt, vocabSize: isNonNegInt, ms: isNonNeg,
    chatTemplate: (v) => v === null || isStr(v), bosText: isStr, eosText: isStr,
  },
  chunk: { id: isId, text: isStr, tokens: isNonNegInt },
  done: { id: isId, text: isStr, tokens: isNonNegInt, stopReason: isStopReason, ms: isNonNeg, marks: isMarks, promptTokens: isNonNegInt },
  counts: { id: isId, counts: isIntArray },
  unloaded: { id: isId },
  error: { id: optional(isId), message: isStr },
};

function validate<T>(table: Record<string, Record<string, Check>>, what: string, msg: unknown): T {
  if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) throw new Error(`${what}: not an object`);
  const type = (msg as { type?: unknown }).type;
  if (typeof type !== 'string' || !Object.hasOwn(table, type)) {
    throw new Error(`${what}: unknown type ${JSON.stringify(type)}`);
  }
  for (const [field, check] of Object.entries(table[type]!)) {
    if (!check((msg as Record<string, unknown>)[field])) {
      throw new Error(`${what} "${type}": bad field ${field} = ${JSON.stringify((msg as Record<string, unknown>)[field])}`);
    }
  }
  return msg as T;
}

/** Checks a message the worker received; throws an Error that says what is wrong. */
export function parseRequest(msg: unknown): WorkerRequest {
  return validate<WorkerRequest>(REQUESTS, 'inference request', msg);
}

/** Checks a message the client received; throws an Error that says what is wrong. */
export function parseReply(msg: unknown): WorkerReply {
  return validate<WorkerReply>(REPLIES, 'inference reply', msg);
}

/** The id of a malformed message, when it has a usable one (so the error can name the request). */
export function idOf(msg: unknown): number | undefined {
  const id = typeof msg === 'object' && msg !== null ? (msg as { id?: unknown }).id : undefined;
  return isRequestId(id) ? (id as number) : undefined;
}
