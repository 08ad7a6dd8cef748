// The inference worker's pure parts (no node-llama-cpp), kept apart so tests can import them without
// starting a worker.
//
// Threads (measured: the wrong count makes generation ~1000x slower, see shared/notes/NODE-LLAMA-CPP.md):
//   - getLlama's maxThreads = os.availableParallelism() (node-llama-cpp's own default is max(4, cores),
//     which oversubscribes small machines);
//   - per context, threadsFor(): 1 for a GGUF under TINY_MODEL_BYTES (64 MiB; a token of such a
//     model is microseconds of math, so synchronising threads costs more than it saves), else every
//     core but one on machines with 4 or more (the editor keeps a core), else every core. A load
//     request's `threads` overrides it.

export const TINY_MODEL_BYTES = 64 * 1024 * 1024;

/** Evaluation threads for a model of `modelBytes` on a machine with `cores` logical cores. */
export function threadsFor(modelBytes: number, cores: number): number {
  if (modelBytes < TINY_MODEL_BYTES) return 1;
  return Math.max(1, cores >= 4 ? cores - 1 : cores);
}

/**
 * Stop strings, matched on the text (node-llama-cpp's own customStopTriggers miss a trigger that
 * starts with a space on SentencePiece vocabularies). Text that could be the start of a stop string is
 * held back until it is known not to be, so the streamed chunks never hold any part of one.
 */
export class StopStrings {
  /** All text generated so far (including what is held back). */
  seen = '';
  stopped = false;
  private emitted = 0;
  private readonly longest: number;

  constructor(private readonly stops: string[], private readonly emit: (text: string) => void) {
    this.stops = stops.filter((s) => s.length > 0);
    this.longest = Math.max(0, ...this.stops.map((s) => s.length));
  }

  /** Adds generated text; true once a stop string appeared (the text is cut before it). */
  push(chunk: string): boolean {
    if (this.stopped) return true;
    this.seen += chunk;
    const from = Math.max(0, this.emitted - this.longest + 1);
    let at = -1;
    for (const stop of this.stops) {
      const i = this.seen.indexOf(stop, from);
      if (i >= 0 && (at < 0 || i < at)) at = i;
    }
    if (at >= 0) {
      this.stopped = true;
      this.seen = this.seen.slice(0, at);
      this.flush(this.seen.length);
      return true;
    }
    let hold = 0;
    for (let k = Math.min(this.longest - 1, this.seen.length - this.emitted); k > 0 && hold === 0; k--) {
      const tail = this.seen.slice(-k);
      if (this.stops.some((s) => s.startsWith(tail))) hold = k;
    }
    this.flush(this.seen.length - hold);
    return false;
  }

  /** Emits what was held back; returns the whole text. */
  finish(): string {
    this.flush(this.seen.length);
    return this.seen;
  }

  private flush(upTo: number): void {
    if (upTo <= this.emitted) return;
    this.emit(this.seen.slice(this.emitted, upTo));
    this.emitted = upTo;
  }
}

/** Tokens of the last mark at or before `chars` (marks ascending, starting at [0, 0]). */
export function tokensBefore(marks: readonly (readonly [number, number])[], chars: number): number {
  let tokens = 0;
  for (const [t, c] of marks) {
    if (c > chars) break;
    tokens = t;
  }
  return tokens;
}

/** Marks with one entry per character offset (the one with the most tokens) and per token count. */
export function dedupeMarks(marks: readonly [number, number][]): [number, number][] {
  const out: [number, number][] = [];
  for (const [t, c] of marks) {
    const last = out[out.length - 1];
    if (last && last[1] === c) last[0] = Math.max(last[0], t);
    else if (!last || t > last[0]) out.push([t, c]);
  }
  return out;
}

/**
 * The tokens of a prompt with special tokens parsed, as LlamaCompletion should get them: it prepends
 * the BOS itself when the model says so (`add_bos_token`), so a BOS the chat template already wrote
 * is dropped rather than doubled.
 */
export function promptTokens<T>(tokens: readonly T[], bos: T | null, prependsBos: boolean): T[] {
  return prependsBos && bos !== null && tokens[0] === bos ? tokens.slice(1) : [...tokens];
}
