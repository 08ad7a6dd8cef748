// Pieces every panel protocol shares. Host and webview import the same file, so a renamed field
// breaks the build on both sides instead of silently at run time.
//
// Conventions:
// - Every message has a string `type`.
// - The webview speaks first: `{ type: 'ready' }` once its script runs (also after VS Code
//   reloads a hidden webview); the host answers with the full state, then sends increments.
// - A request that expects an answer carries `id` (a positive integer chosen by the webview); the
//   answer carries the same `id`, or comes as `{ type: 'error', id, message }`.
// - The host checks every incoming message with the panel's `parse…Request` and drops what does
//   not fit: a webview is a browser page and its messages are input, not trusted calls.

export type RequestId = number;

export interface ReadyMessage {
  type: 'ready';
}

/** The host could not answer request `id`. */
export interface ErrorMessage {
  type: 'error';
  id: RequestId;
  message: string;
}

export function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** A safe integer in [min, max]. */
export function isInt(x: unknown, min = 0, max = Number.MAX_SAFE_INTEGER): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= min && x <= max;
}

export function isRequestId(x: unknown): x is RequestId {
  return isInt(x, 1);
}

/** Only these keys, and `type` among them: extra keys mean a message from some other protocol. */
export function hasOnlyKeys(msg: Record<string, unknown>, keys: readonly string[]): boolean {
  return Object.keys(msg).every((k) => keys.includes(k));
}

/** Counts request ids on the webview side. */
export class RequestIds {
  private last = 0;
  next(): RequestId {
    this.last = this.last >= Number.MAX_SAFE_INTEGER ? 1 : this.last + 1;
    return this.last;
  }
}
