// The extension host's side of the inference worker (worker.ts): forks it (no shell), sends typed
// requests (protocol.ts) and matches the replies by id. When the worker dies (a native crash, a kill),
// every request in flight is rejected with an error that says so, and the next request forks a fresh
// worker, loading the model that was loaded before again first. No `vscode` import: tests run it in Node.
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  parseReply, type CountsReply, type DoneReply, type GenerateRequest, type GenerateResult, type LoadedInfo,
  type LoadedReply, type LoadRequest, type WorkerReply, type WorkerRequest,
} from './protocol';

export type { GenerateResult, GpuBackend, GpuChoice, LoadedInfo, StopReason } from './protocol';

export type LoadOptions = Omit<LoadRequest, 'type' | 'id'>;

export interface GenerateChunk {
  /** New text since the previous chunk. */
  text: string;
  /** Tokens generated so far. */
  tokens: number;
}

export interface GenerateOptions extends Omit<GenerateRequest, 'type' | 'id'> {
  /** Called for every streamed chunk (the generation is also an async iterator of them). */
  onChunk?: (chunk: GenerateChunk) => void;
  /** Aborting it stops the generation (it resolves with stopReason "abort"). */
  signal?: AbortSignal;
}

export interface InferenceClientOptions {
  /** The worker script; default inferenceWorker.js (bundle) or worker.ts (tsx) beside this file. */
  workerPath?: string;
  /** The worker's environment (default: this process's). */
  env?: NodeJS.ProcessEnv;
  /** The worker's stderr, line by line (llama.cpp's warnings land there). */
  onStderr?: (line: string) => void;
}

/** Where the worker script is: dist/inferenceWorker.js when bundled, extension/inference/worker.ts under tsx. */
export function defaultWorkerPath(): string | undefined {
  return ['inferenceWorker.js', 'worker.ts'].map((f) => join(dirname(__filename), f)).find((p) => existsSync(p));
}

interface Pending {
  resolve: (reply: WorkerReply) => void;
  reject: (err: Error) => void;
  onChunk?: (chunk: GenerateChunk) => void;
}

/** One forked worker process. */
class WorkerProcess {
  readonly child: ChildProcess;
  readonly ready: Promise<void>;
  readonly pending = new Map<number, Pending>();
  /** The reload of the client's model into this worker, once started. */
  reloading: Promise<unknown> | undefined;
  exited = false;
  disposing = false;
  private readonly stderrTail: string[] = [];

  constructor(workerPath: string, env: NodeJS.ProcessEnv | undefined, onStderr: ((line: string) => void) | undefined,
    private readonly onExit: (w: WorkerProcess) => void) {
    // Under tsx (tests) the worker is TypeScript: the child loads tsx first. The bundle needs nothing,
    // and inherits no flags from the extension host (inspector ports and the like).
    const execArgv = workerPath.endsWith('.ts')
      ? ['--import', pathToFileURL(createRequire(workerPath).resolve('tsx')).href]
      : [];
    this.child = fork(workerPath, [], {
      execArgv, env: env ?? process.env, stdio: ['ignore', 'ignore', 'pipe', 'ipc'], serialization: 'json',
    });
    let partial = '';
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (data: string) => {
      const lines = (partial + data).split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        this.stderrTail.push(line);
        if (this.stderrTail.length > 20) this.stderrTail.shift();
        onStderr?.(line);
      }
    });
    this.ready = new Promise((resolve, reject) => {
      this.child.on('message', (raw) => {
        let reply: WorkerReply;
        try {
          reply = parseReply(raw);
        } catch (err) {
          onStderr?.(`inference client: ignored a malformed reply: ${(err as Error).message}`);
          return;
        }
        if (reply.type === 'ready') resolve();
        else this.onReply(reply);
      });
      this.child.on('error', (err) => {
        reject(new Error(`could not start the inference worker: ${err.message}`));
        this.die(`could not start the inference worker: ${err.message}`);
      });
      this.child.on('exit', (code, signal) => {
        const why = this.disposing
          ? 'the inference client was disposed'
          : `the inference worker exited unexpectedly (${signal ? `signal ${signal}` : `code ${code}`})` +
            (this.stderrTail.length > 0 ? `; its last output:\n${this.stderrTail.slice(-5).join('\n')}` : '');
        reject(new Error(why));
        this.die(why);
      });
    });
    this.ready.catch(() => undefined);
  }

  private die(why: string): void {
    if (this.exited) return;
    this.exited = true;
    for (const p of this.pending.values()) p.reject(new Error(why));
    this.pending.clear();
    this.onExit(this);
  }

  private onReply(reply: WorkerReply): void {
    if (reply.type === 'ready') return;
    if (reply.id === undefined) return; // an error no request caused: nothing waits for it
    const p = this.pending.get(reply.id);
    if (!p) return;
    if (reply.type === 'chunk') {
      p.onChunk?.({ text: reply.text, tokens: reply.tokens });
      return;
    }
    this.pending.delete(reply.id);
    if (reply.type === 'error') p.reject(new Error(reply.message));
    else p.resolve(reply);
  }

  async call(request: WorkerRequest, onChunk?: (chunk: GenerateChunk) => void): Promise<WorkerReply> {
    await this.ready;
    if (this.exited) throw new Error('the inference worker exited');
    return new Promise((resolve, reject) => {
      this.pending.set(request.id, { resolve, reject, onChunk });
      this.post(request);
    });
  }

  post(request: WorkerRequest): void {
    if (this.exited || !this.child.connected) return;
    this.child.send(request, (err) => {
      if (!err) return;
      const p = this.pending.get(request.id);
      if (p) {
        this.pending.delete(request.id);
        p.reject(new Error(`could not reach the inference worker: ${err.message}`));
      }
    });
  }

  async stop(timeoutMs: number): Promise<void> {
    if (this.exited) return;
    this.disposing = true;
    const gone = new Promise<void>((r) => this.child.once('exit', () => r()));
    if (this.child.connected) this.child.disconnect(); // the worker exits when its channel closes
    else this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    await gone;
    clearTimeout(timer);
  }
}

/** A generation in progress: its chunks as an async iterator, its result as a promise. */
export class Generation implements AsyncIterable<GenerateChunk> {
  /** Resolves with the whole generation; rejects if it failed or the worker died. */
  readonly result: Promise<GenerateResult>;
  private readonly chunks: GenerateChunk[] = [];
  private wake: (() => void) | undefined;
  private finished = false;

  constructor(readonly id: number, run: (onChunk: (c: GenerateChunk) => void) => Promise<GenerateResult>,
    private readonly abortFn: () => void, onChunk?: (c: GenerateChunk) => void) {
    this.result = run((c) => {
      onChunk?.(c);
      this.chunks.push(c);
      this.wake?.();
    });
    const finish = () => { this.finished = true; this.wake?.(); };
    this.result.then(finish, finish);
  }

  /** Stops the generation; `result` resolves with what was generated, stopReason "abort". */
  abort(): void {
    this.abortFn();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<GenerateChunk> {
    let i = 0;
    for (;;) {
      while (i < this.chunks.length) yield this.chunks[i++]!;
      if (this.finished) break;
      await new Promise<void>((r) => { this.wake = r; });
      this.wake = undefined;
    }
    await this.result; // throws if the generation failed
  }
}

export class InferenceClient {
  private worker: WorkerProcess | undefined;
  private nextId = 1;
  /** The last load that succeeded (and was not unloaded): loaded again into a fresh worker. */
  private model: { options: LoadOptions; info: LoadedInfo; in: WorkerProcess | undefined } | undefined;
  private disposed = false;
  private readonly workerPath: string;

  constructor(private readonly options: InferenceClientOptions = {}) {
    const path = options.workerPath ?? defaultWorkerPath();
    if (!path) throw new Error(`the inference worker script is missing beside ${__filename}`);
    this.workerPath = path;
  }

  /** The worker's process id, while one runs. */
  get pid(): number | undefined {
    return this.worker && !this.worker.exited ? this.worker.child.pid : undefined;
  }

  /** What the current model is, once loaded. */
  get loaded(): LoadedInfo | undefined {
    return this.model?.info;
  }

  private currentWorker(): WorkerProcess {
    if (this.disposed) throw new Error('the inference client was disposed');
    if (!this.worker || this.worker.exited) {
      this.worker = new WorkerProcess(this.workerPath, this.options.env, this.options.onStderr, (w) => {
        if (this.worker === w) this.worker = undefined;
      });
    }
    return this.worker;
  }

  /** A worker with the client's model loaded (loading it again after a crash). */
  private async modelWorker(): Promise<WorkerProcess> {
    const w = this.currentWorker();
    const model = this.model;
    if (model && model.in !== w) {
      w.reloading ??= w.call({ type: 'load', id: this.nextId++, ...model.options }).then((r) => {
        if (this.model === model) model.in = w;
        return r;
      });
      await w.reloading;
    }
    return w;
  }

  /** Loads a GGUF model (replacing the one loaded). Rejects naming the path when the file is missing or bad. */
  async load(options: LoadOptions): Promise<LoadedInfo> {
    this.model = undefined;
    const w = this.currentWorker();
    const { type: _t, id: _i, ...info } = (await w.call({ type: 'load', id: this.nextId++, ...options })) as LoadedReply;
    this.model = { options, info, in: w };
    return info;
  }

  /** Starts a generation; see Generation for the stream and the result. */
  generate(options: GenerateOptions): Generation {
    const id = this.nextId++;
    const { onChunk, signal, ...params } = options;
    let aborted = false;
    let sentTo: WorkerProcess | undefined;
    const abort = () => {
      aborted = true;
      sentTo?.post({ type: 'abort', id });
    };
    const run = async (emit: (c: GenerateChunk) => void): Promise<GenerateResult> => {
      const started = Date.now();
      const w = await this.modelWorker();
      if (aborted) return { text: '', tokens: 0, stopReason: 'abort', ms: Date.now() - started, marks: [[0, 0]], promptTokens: 0 };
      sentTo = w;
      const { type: _t, id: _i, ...result } = (await w.call({ type: 'generate', id, ...params }, emit)) as DoneReply;
      return result;
    };
    const generation = new Generation(id, run, abort, onChunk);
    if (signal) {
      if (signal.aborted) abort();
      else signal.addEventListener('abort', abort, { once: true });
      generation.result.finally(() => signal.removeEventListener('abort', abort)).catch(() => undefined);
    }
    return generation;
  }

  /** Tokens per text with the loaded model's tokenizer (no BOS). */
  async countTokens(texts: string[]): Promise<number[]> {
    const w = await this.modelWorker();
    return ((await w.call({ type: 'countTokens', id: this.nextId++, texts })) as CountsReply).counts;
  }

  /** Frees the model (generations in progress end with an error). The worker stays up. */
  async unload(): Promise<void> {
    this.model = undefined;
    const w = this.worker;
    if (!w || w.exited) return;
    await w.call({ type: 'unload', id: this.nextId++ });
  }

  /** Ends the worker; requests in flight reject. The client cannot be used afterwards. */
  async dispose(timeoutMs = 3000): Promise<void> {
    this.disposed = true;
    this.model = undefined;
    const w = this.worker;
    this.worker = undefined;
    await w?.stop(timeoutMs);
  }
}
