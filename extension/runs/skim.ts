// Skimming a rollout line: the run index keeps only a rollout's small fields, but text, prompt,
// problem and token marks are ~96 % of its line, and decoding them (UTF-8 with non-ASCII runs slowly)
// and JSON.parse-ing them dominated opening a big run. `skimLine` walks the line's top-level object
// by byte position, checks each big value in place (a JSON string: escapes well formed, no raw control
// character; token marks: [[int, int], ...] within the schema's bounds) and returns the line's text
// with those values replaced by `""` and `[]`: a few hundred bytes that parse and validate as the full
// line would, since the schema asks nothing more of those fields. Anything it is not sure of (another
// shape, an odd escape, token marks in another spelling) makes it return undefined: the caller then
// parses the whole line. Why the result is exact: the bytes it keeps are parsed as JSON by the
// caller, so a line the walk misreads does not parse; the values it replaces are checked to be what
// the replacement stands for. A rollout read back to be shown is parsed and validated whole
// (rolloutReader.ts). No `vscode` import.

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;
const MAX_INT32 = 2147483647;

/** Top-level keys whose values are skipped when they are a string (token_marks: an array). */
const STRING_KEYS = new Set(['text', 'prompt', 'problem']);
const MARKS_KEY = 'token_marks';
/** Values shorter than this are not worth skipping. */
const MIN_SKIP = 64;

const isSpace = (c: number) => c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a;

function skipSpace(b: Uint8Array, i: number): number {
  while (i < b.length && isSpace(b[i])) i++;
  return i;
}

const HEX = new Uint8Array(256);
for (const c of '0123456789abcdefABCDEF') HEX[c.charCodeAt(0)] = 1;
const ESCAPES = new Uint8Array(256);
for (const c of '"\\/bfnrtu') ESCAPES[c.charCodeAt(0)] = 1;

// The line being read: its bytes, a word view of the ArrayBuffer under them (to check four bytes at
// once) and where the line starts in it. Set once a line (`setLine`), not looked up on every call.
let line: Uint8Array = new Uint8Array(0);
let words: Int32Array<ArrayBufferLike> = new Int32Array(0);
let base = 0;

function setLine(b: Uint8Array): void {
  if (words.buffer !== b.buffer) words = new Int32Array(b.buffer, 0, b.buffer.byteLength >> 2);
  line = b;
  base = b.byteOffset;
}

/**
 * `b[i]` is the opening quote of a string: the index after its closing quote, or -1 when it is not
 * a well-formed JSON string (a raw control character, a bad escape, no end). Bytes >= 0x80 are
 * accepted as they are: the decoder turns any ill-formed UTF-8 into U+FFFD, which JSON accepts, and
 * never lets such a byte hide an ASCII one.
 */
export function skipString(b: Uint8Array, i: number): number {
  setLine(b);
  return stringEnd(i);
}

/**
 * stringEnd for the line set by setLine. Byte by byte, but four bytes at a time wherever the position
 * is aligned: a word with no quote, backslash or control character (after XOR with the quote or the
 * backslash it has no zero byte, and no byte is below 0x20) is passed over whole.
 */
function stringEnd(i: number): number {
  const b = line;
  const w = words;
  const n = b.length;
  for (i++; ; ) {
    if (((base + i) & 3) === 0) {
      while (i + 4 <= n) {
        const x = w[(base + i) >> 2];
        const q = x ^ 0x22222222;
        const s = x ^ 0x5c5c5c5c;
        if ((((q - 0x01010101) & ~q) | ((s - 0x01010101) & ~s) | ((x - 0x20202020) & ~x)) & 0x80808080) break;
        i += 4;
      }
    }
    if (i >= n) return -1;
    const c = b[i];
    if (c === QUOTE) return i + 1;
    if (c === BACKSLASH) {
      const e = b[++i];
      if (i >= n || !ESCAPES[e]) return -1;
      if (e === 0x75) { // \uXXXX
        if (i + 4 >= n || !HEX[b[i + 1]] || !HEX[b[i + 2]] || !HEX[b[i + 3]] || !HEX[b[i + 4]]) return -1;
        i += 4;
      }
    } else if (c < 0x20) {
      return -1;
    }
    i++;
  }
}

/** Any value at `b[i]`: the index after it, by brackets and strings only (JSON.parse checks it later). */
function skipValue(b: Uint8Array, i: number): number {
  const n = b.length;
  let depth = 0;
  for (; i < n; i++) {
    const c = b[i];
    if (c === QUOTE) {
      i = skipLoose(b, i) - 1;
      if (i < 0) return -1;
      if (depth === 0) return i + 1;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      depth++;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      if (depth === 0) return i; // the end of a primitive, and of the object holding it
      if (--depth === 0) return i + 1;
    } else if (depth === 0 && (c === COMMA || isSpace(c))) {
      return i;
    }
  }
  return depth === 0 ? n : -1;
}

/** A string's end as any JSON tokenizer finds it (a backslash takes the next byte); -1: no end. */
function skipLoose(b: Uint8Array, i: number): number {
  const n = b.length;
  for (i++; i < n; i++) {
    const c = b[i];
    if (c === QUOTE) return i + 1;
    if (c === BACKSLASH) i++;
  }
  return -1;
}

/** An integer in 0..2^31-1 written plainly (no sign, fraction, exponent or leading zero): its end, or -1. */
function skipInt32(b: Uint8Array, i: number): number {
  const start = i;
  let value = 0;
  while (i < b.length && b[i] >= 0x30 && b[i] <= 0x39) value = value * 10 + (b[i++] - 0x30);
  const digits = i - start;
  if (digits === 0 || digits > 10 || (digits > 1 && b[start] === 0x30) || value > MAX_INT32) return -1;
  return i;
}

/** `b[i]` is `[`: token marks as the trainer writes them, [[int, int], ...]: the index after, or -1. */
export function skipTokenMarks(b: Uint8Array, i: number): number {
  i = skipSpace(b, i + 1);
  if (b[i] === CLOSE_BRACKET) return i + 1;
  for (;;) {
    if (b[i] !== OPEN_BRACKET) return -1;
    i = skipInt32(b, skipSpace(b, i + 1));
    if (i < 0) return -1;
    i = skipSpace(b, i);
    if (b[i] !== COMMA) return -1;
    i = skipInt32(b, skipSpace(b, i + 1));
    if (i < 0) return -1;
    i = skipSpace(b, i);
    if (b[i] !== CLOSE_BRACKET) return -1;
    i = skipSpace(b, i + 1);
    if (b[i] === CLOSE_BRACKET) return i + 1;
    if (b[i] !== COMMA) return -1;
    i = skipSpace(b, i + 1);
  }
}

/**
 * The text of `b` (one event line: no newline, BOM and trailing CR already removed) with the big
 * values of its top-level object replaced, or undefined when nothing was replaced or the line is not
 * of the shape this handles (the caller parses the whole line then).
 */
export function skimLine(b: Uint8Array): string | undefined {
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  const n = b.length;
  setLine(b);
  let i = skipSpace(b, 0);
  if (b[i] !== OPEN_BRACE) return undefined;
  i = skipSpace(b, i + 1);
  const parts: string[] = [];
  let kept = 0; // bytes before `kept` are in `parts` already
  for (;;) {
    if (b[i] !== QUOTE) return undefined;
    const keyEnd = stringEnd(i);
    if (keyEnd < 0) return undefined;
    // Plain keys need no decoding; one with escapes (`te\u0078t`) is read as JSON would.
    let key: string;
    const raw = buf.toString('latin1', i + 1, keyEnd - 1);
    if (raw.includes('\\')) {
      try {
        key = JSON.parse(buf.toString('utf8', i, keyEnd)) as string;
      } catch {
        return undefined;
      }
    } else {
      key = raw; // only compared with ASCII names below
    }
    i = skipSpace(b, keyEnd);
    if (b[i] !== COLON) return undefined;
    i = skipSpace(b, i + 1);
    const valueStart = i;
    let valueEnd = -1;
    let replacement: string | undefined;
    if (b[i] === QUOTE && STRING_KEYS.has(key)) {
      valueEnd = stringEnd(i);
      replacement = '""';
    } else if (b[i] === OPEN_BRACKET && key === MARKS_KEY) {
      valueEnd = skipTokenMarks(b, i);
      replacement = '[]';
    }
    if (valueEnd < 0 || valueEnd - valueStart < MIN_SKIP) {
      replacement = undefined;
      valueEnd = skipValue(b, i);
      if (valueEnd < 0 || valueEnd === valueStart) return undefined;
    }
    if (replacement !== undefined) {
      parts.push(buf.toString('utf8', kept, valueStart), replacement);
      kept = valueEnd;
    }
    i = skipSpace(b, valueEnd);
    if (b[i] === COMMA) {
      i = skipSpace(b, i + 1);
      continue;
    }
    if (b[i] !== CLOSE_BRACE) return undefined;
    if (skipSpace(b, i + 1) !== n) return undefined;
    break;
  }
  if (parts.length === 0) return undefined;
  parts.push(buf.toString('utf8', kept, n));
  return parts.join('');
}
