// Splits the bytes of an events.jsonl into validated events, one JSON event a line.
// Works on bytes, not strings, so every event keeps its exact byte offset and length in the file
// (the rollout index reads rollout text back lazily from those ranges). Never throws: a bad line
// becomes an error entry and the lines around it stay readable.
import { parseEventLine, SCHEMA_VERSIONS, type ParseResult, type RunEvent } from '../events';
import { skimLine } from './skim';

export const EVENT_TYPES: readonly RunEvent['type'][] = [
  'run_start', 'rollout', 'step', 'eval', 'checkpoint', 'log', 'run_end',
];

/** A complete, valid event line. `offset`/`length` are bytes in the file, newline excluded. */
export interface ParsedLine {
  event: RunEvent;
  line: number; // 1-based
  offset: number;
  length: number;
  /**
   * A rollout read by skimming (a reader made with `skimRollouts`): its text, prompt, problem and
   * token_marks are empty; every other field is the line's. The whole line is read back on demand.
   */
  skimmed?: true;
}

export interface LineError {
  line: number;
  offset: number;
  message: string; // `line N: ...`
}

export interface ParsedChunk {
  events: ParsedLine[];
  errors: LineError[];
}

/** Lines longer than this are reported, not decoded (V8 strings top out near 512 MiB). */
export const MAX_LINE_BYTES = 256 * 1024 * 1024;

const NEWLINE = 0x0a;

/** True when `bytes` start with the UTF-8 byte order mark (EF BB BF). */
export function startsWithBom(bytes: Uint8Array): boolean {
  return bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
}

/**
 * Parse one line's bytes (newline excluded); blank lines give neither an event nor an error.
 * `offset` is where the line starts in the file: a UTF-8 byte order mark is skipped only at offset 0
 * (an editor saved the file with one); anywhere else it is part of the line, which is then not JSON.
 * The event keeps offset 0 and the BOM inside its length, so reading it back by range agrees.
 * `skim`: a valid rollout line may come back skimmed (skim.ts; `ParsedLine.skimmed`); what is
 * accepted or refused, and every other field, is exactly what the whole line's parse gives.
 */
export function parseLineBytes(bytes: Uint8Array, line: number, offset: number, out: ParsedChunk, skim = false): void {
  let end = bytes.length;
  if (end > 0 && bytes[end - 1] === 0x0d) end--; // tolerate CRLF from editors on Windows
  const from = offset === 0 && startsWithBom(bytes) ? 3 : 0;
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset + from, Math.max(0, end - from));
  if (skim) {
    const lite = skimLine(buf);
    const result = lite === undefined ? undefined : parseEventLine(lite, line);
    if (result?.ok && result.event.type === 'rollout') {
      out.events.push({ event: result.event, line, offset, length: bytes.length, skimmed: true });
      return;
    }
    // Anything else (refused, another type, a shape the skim does not handle): the whole line.
  }
  let text: string;
  try {
    text = buf.toString('utf8');
  } catch (err) {
    out.errors.push({ line, offset, message: `line ${line}: unreadable (${(err as Error).message})` });
    return;
  }
  if (text.trim() === '') return;
  const result = parseEventText(text, line);
  if (result.ok) out.events.push({ event: result.event, line, offset, length: bytes.length });
  else out.errors.push({ line, offset, message: result.error });
}

/**
 * Parse and check one event line given as text: a line of events.jsonl once decoded, or a line the
 * trainer printed on stdout (the supervisor reads those with this too, so both agree on what an
 * event is). The error says `line N: ...`.
 */
export function parseEventText(text: string, line: number): ParseResult {
  const result = parseEventLine(text, line);
  return result.ok ? result : { ok: false, error: explain(text, line, result.error) };
}

/**
 * Ajv reports an unknown type or a newer schema version as whatever `oneOf` branch failed first
 * (e.g. "must have required property 'run_id'"); say what is actually wrong instead.
 */
function explain(text: string, line: number, error: string): string {
  if (error.startsWith(`line ${line}: not JSON`)) return error;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return error;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return error;
  const { v, type } = value as { v?: unknown; type?: unknown };
  if (!(SCHEMA_VERSIONS as readonly unknown[]).includes(v)) {
    return `line ${line}: unsupported schema version ${JSON.stringify(v)} (this extension reads ${SCHEMA_VERSIONS.join(' and ')})`;
  }
  if (typeof type === 'string' && !(EVENT_TYPES as readonly string[]).includes(type)) {
    return `line ${line}: unknown event type ${JSON.stringify(type.slice(0, 80))}`;
  }
  return error;
}

/**
 * Parse every complete line of `bytes`, which start at byte `offset` (line `line`) of the file.
 * `consumed` is how many bytes those lines took; whatever follows (a line without its newline yet)
 * is left for the caller to hold back.
 */
export function parseLines(
  bytes: Uint8Array, offset = 0, line = 1, skim = false,
): ParsedChunk & { consumed: number; nextLine: number } {
  const out: ParsedChunk = { events: [], errors: [] };
  let start = 0;
  for (let nl = bytes.indexOf(NEWLINE); nl !== -1; nl = bytes.indexOf(NEWLINE, start)) {
    const length = nl - start;
    if (length > MAX_LINE_BYTES) out.errors.push(tooLong(line, offset + start, length));
    else parseLineBytes(bytes.subarray(start, nl), line, offset + start, out, skim);
    line++;
    start = nl + 1;
  }
  return { ...out, consumed: start, nextLine: line };
}

function tooLong(line: number, offset: number, length: number): LineError {
  return { line, offset, message: `line ${line}: too long to read (${length} bytes)` };
}

/**
 * Streaming form of `parseLines`: push the bytes as they are read (any chunking), get back the
 * lines they complete. A torn last line is held until a later push brings its newline.
 */
export class LineReader {
  private pending: Uint8Array[] = [];
  private pendingLength = 0;
  private oversized = false; // the held line passed MAX_LINE_BYTES: its bytes were dropped

  /**
   * Start at byte `offset`, which is the start of line `line` (to continue after a snapshot).
   * `skimRollouts`: rollouts may come back skimmed (see parseLineBytes), for readers that index them.
   */
  constructor(
    private start = 0, private nextLine = 1, private readonly maxLineBytes = MAX_LINE_BYTES,
    private readonly skimRollouts = false,
  ) {}

  /** Byte offset of the first line not yet returned (end of the last complete line). */
  get offset(): number {
    return this.start;
  }

  /** Number of the first line not yet returned. */
  get line(): number {
    return this.nextLine;
  }

  /** Bytes held back as a torn line. */
  get pendingBytes(): number {
    return this.pendingLength;
  }

  push(chunk: Uint8Array): ParsedChunk {
    const out: ParsedChunk = { events: [], errors: [] };
    let from = 0;
    let nl = chunk.indexOf(NEWLINE);
    if (nl === -1) {
      this.hold(chunk);
      return out;
    }
    if (this.pendingLength > 0 || this.oversized) {
      // Complete the held line first; this is the only place bytes are copied.
      this.hold(chunk.subarray(0, nl));
      this.completeHeld(out);
      from = nl + 1;
      nl = chunk.indexOf(NEWLINE, from);
      if (nl === -1) {
        this.hold(chunk.subarray(from));
        return out;
      }
    }
    const rest = chunk.subarray(from);
    const parsed = parseLines(rest, this.start, this.nextLine, this.skimRollouts);
    out.events.push(...parsed.events);
    out.errors.push(...parsed.errors);
    this.start += parsed.consumed;
    this.nextLine = parsed.nextLine;
    if (parsed.consumed < rest.length) this.hold(rest.subarray(parsed.consumed));
    return out;
  }

  /**
   * End of input (a run that will never write again): report a held torn line as an error.
   * Tailers never call this: for them the line may still be completed.
   */
  flush(): ParsedChunk {
    const out: ParsedChunk = { events: [], errors: [] };
    if (this.pendingLength > 0 || this.oversized) this.completeHeld(out, false);
    return out;
  }

  private hold(bytes: Uint8Array): void {
    this.pendingLength += bytes.length;
    if (this.oversized) return;
    if (this.pendingLength > this.maxLineBytes) {
      this.oversized = true;
      this.pending = [];
      return;
    }
    // Copy: the caller may reuse its read buffer.
    if (bytes.length > 0) this.pending.push(Uint8Array.from(bytes));
  }

  private completeHeld(out: ParsedChunk, newline = true): void {
    if (this.oversized) out.errors.push(tooLong(this.nextLine, this.start, this.pendingLength));
    else parseLineBytes(Buffer.concat(this.pending, this.pendingLength), this.nextLine, this.start, out, this.skimRollouts);
    this.start += this.pendingLength + (newline ? 1 : 0);
    this.nextLine++;
    this.pending = [];
    this.pendingLength = 0;
    this.oversized = false;
  }
}

