// Line-by-line delivery of a child's output, and a bounded tail of the last lines.
import type { Readable } from 'node:stream';

/**
 * Calls `onLine` for every complete line read from `stream` (UTF-8, `\n` or `\r\n` endings).
 * Returns `flush`, which delivers a final unterminated line; call it once the stream closed.
 */
export function readLines(stream: Readable, onLine: (line: string) => void): () => void {
  let pending = '';
  stream.setEncoding('utf8'); // a StringDecoder: a multi-byte character split across chunks stays whole
  stream.on('data', (chunk: string) => {
    pending += chunk;
    let start = 0;
    for (let nl = pending.indexOf('\n', start); nl !== -1; nl = pending.indexOf('\n', start)) {
      const end = nl > start && pending[nl - 1] === '\r' ? nl - 1 : nl;
      onLine(pending.slice(start, end));
      start = nl + 1;
    }
    pending = pending.slice(start);
  });
  let flushed = false;
  return () => {
    if (flushed) return;
    flushed = true;
    if (pending.length > 0) onLine(pending.endsWith('\r') ? pending.slice(0, -1) : pending);
    pending = '';
  };
}

/** The last `size` lines pushed. */
export class Tail {
  private readonly lines: string[] = [];
  constructor(private readonly size = 50) {}

  push(line: string): void {
    this.lines.push(line);
    if (this.lines.length > this.size) this.lines.splice(0, this.lines.length - this.size);
  }

  get(): string[] {
    return [...this.lines];
  }
}
