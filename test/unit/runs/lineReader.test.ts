import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LineReader, parseLines, type ParsedChunk } from '../../../extension/runs/lineReader';
import { finishedRun, jsonl, line, rolloutLine } from './fixtures';

const bytes = (s: string) => Buffer.from(s, 'utf8');

function pushAll(reader: LineReader, data: Buffer, sizes: number[]): ParsedChunk {
  const out: ParsedChunk = { events: [], errors: [] };
  let at = 0;
  for (let i = 0; at < data.length; i++) {
    const size = sizes[i % sizes.length];
    const r = reader.push(data.subarray(at, at + size));
    out.events.push(...r.events);
    out.errors.push(...r.errors);
    at += size;
  }
  return out;
}

test('parseLines returns every event with its line number and exact byte range', () => {
  const { lines } = finishedRun();
  const data = bytes(jsonl(lines));
  const r = parseLines(data);
  assert.equal(r.errors.length, 0);
  assert.equal(r.events.length, lines.length);
  assert.equal(r.consumed, data.length);
  r.events.forEach((p, i) => {
    assert.equal(p.line, i + 1);
    // Offsets are bytes: the rollout text has multi-byte characters.
    assert.equal(data.subarray(p.offset, p.offset + p.length).toString('utf8'), lines[i]);
  });
});

test('a torn last line is held back until an append completes it', () => {
  const a = line('log', 1, { level: 'info', message: 'first' });
  const b = rolloutLine(1, 0, 0, 512, 0).text;
  const reader = new LineReader();
  const cut = Buffer.byteLength(b) - 20;
  const first = reader.push(bytes(`${a}\n${b}`).subarray(0, Buffer.byteLength(a) + 1 + cut));
  assert.equal(first.events.length, 1);
  assert.equal(first.errors.length, 0, 'a torn line is not an error while it may still be completed');
  assert.equal(reader.pendingBytes, cut);
  assert.equal(reader.offset, Buffer.byteLength(a) + 1);
  assert.equal(reader.line, 2);

  const second = reader.push(bytes(`${b}\n`).subarray(cut));
  assert.deepEqual(second.errors, []);
  assert.equal(second.events.length, 1);
  assert.equal(second.events[0].event.type, 'rollout');
  assert.equal(second.events[0].line, 2);
  assert.equal(second.events[0].offset, Buffer.byteLength(a) + 1);
  assert.equal(second.events[0].length, Buffer.byteLength(b));
  assert.equal(reader.pendingBytes, 0);
});

test('any chunking gives the same events, even splitting multi-byte characters', () => {
  const data = bytes(jsonl(finishedRun().lines));
  const whole = parseLines(data);
  for (const sizes of [[1], [7, 3], [4096], [100, 1, 33, 2]]) {
    const got = pushAll(new LineReader(), data, sizes);
    assert.deepEqual(got.errors, []);
    assert.deepEqual(got.events.map((p) => [p.line, p.offset, p.length]), whole.events.map((p) => [p.line, p.offset, p.length]));
    assert.deepEqual(got.events.map((p) => p.event), whole.events.map((p) => p.event));
  }
});

test('bad lines are reported per line and the others stay readable', () => {
  const good = line('log', 0, { level: 'info', message: 'ok' });
  const text = [
    good,
    '{"v": 1, "type": "step", "ti', // torn by a crash, then the trainer started a fresh line
    '',
    JSON.stringify({ v: 1, type: 'telemetry', time: 1, step: 0 }),
    JSON.stringify({ v: 3, type: 'log', time: 1, step: 0, level: 'info', message: 'from the future' }),
    JSON.stringify({ ...JSON.parse(rolloutLine(1, 0, 0, 512, 0).text), n_gen: -1 }),
    '[1, 2]',
    good,
    'null',
    good,
  ].map((l) => `${l}\n`).join('');
  const r = parseLines(bytes(text));
  assert.deepEqual(r.events.map((p) => p.line), [1, 8, 10]);
  const messages = r.errors.map((e) => e.message);
  assert.equal(messages.length, 6);
  assert.match(messages[0], /^line 2: not JSON/);
  assert.equal(messages[1], 'line 4: unknown event type "telemetry"');
  assert.equal(messages[2], 'line 5: unsupported schema version 3 (this extension reads 1 and 2)');
  assert.match(messages[3], /^line 6 \(rollout\): \/n_gen must be >= 0/);
  assert.match(messages[4], /^line 7: /);
  assert.match(messages[5], /^line 9: /);
  assert.deepEqual(r.errors.map((e) => e.line), [2, 4, 5, 6, 7, 9]);
});

test('CRLF line ends are accepted and the byte length still covers the line', () => {
  const a = line('log', 0, { level: 'info', message: 'windows' });
  const r = parseLines(bytes(`${a}\r\n${a}\r\n`));
  assert.equal(r.errors.length, 0);
  assert.equal(r.events.length, 2);
  assert.equal(r.events[1].offset, Buffer.byteLength(a) + 2);
});

test('flush reports a torn line at the end of a file that will not grow', () => {
  const reader = new LineReader();
  reader.push(bytes(`${line('log', 0, { level: 'info', message: 'x' })}\n{"v": 1, "ty`));
  const r = reader.flush();
  assert.equal(r.events.length, 0);
  assert.match(r.errors[0].message, /^line 2: not JSON/);
  assert.equal(reader.pendingBytes, 0);
});

test('garbage never throws: invalid UTF-8, binary noise, an oversized line', () => {
  let seed = 7;
  const noise = Buffer.alloc(50_000);
  for (let i = 0; i < noise.length; i++) noise[i] = (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 0xff;
  const good = line('log', 0, { level: 'info', message: 'after the noise' });
  const data = Buffer.concat([noise, bytes('\n\xff\xfe{}\n'), Buffer.from([0xc3, 0x28, 0x0a]), bytes(`${good}\n`)]);
  const r = pushAll(new LineReader(), data, [997]);
  assert.equal(r.events.at(-1)?.event.type, 'log', 'the valid line after the garbage is read');
  assert.ok(r.errors.length > 0);
  for (const e of r.errors) assert.match(e.message, new RegExp(`^line ${e.line}[: ]`));

  const small = new LineReader(0, 1, 100);
  const big = `${'x'.repeat(150)}\n${good}\n`;
  const s = pushAll(small, bytes(big), [40]);
  assert.deepEqual(s.errors.map((e) => e.message), ['line 1: too long to read (150 bytes)']);
  assert.equal(s.events.length, 1);
  assert.equal(s.events[0].offset, 151);
});

test('a reader can continue from an offset and line (after a snapshot)', () => {
  const lines = finishedRun().lines;
  const data = bytes(jsonl(lines));
  const cut = parseLines(data.subarray(0, 3000));
  const reader = new LineReader(cut.consumed, cut.nextLine);
  const rest = reader.push(data.subarray(cut.consumed));
  assert.equal(cut.events.length + rest.events.length, lines.length);
  assert.equal(rest.events[0].line, cut.events.length + 1);
  assert.equal(rest.events[0].offset, cut.consumed);
});

test('a UTF-8 BOM at the start of the file is skipped; offsets and lines stay those of the file', () => {
  const { lines } = finishedRun();
  const bom = Buffer.from([0xef, 0xbb, 0xbf]);
  const data = Buffer.concat([bom, bytes(jsonl(lines))]);
  for (const sizes of [[data.length], [1], [2, 5, 3], [997]]) {
    const r = pushAll(new LineReader(), data, sizes);
    assert.deepEqual(r.errors, [], `chunks of ${sizes}`);
    assert.equal(r.events.length, lines.length);
    assert.equal(r.events[0].event.type, 'run_start');
    assert.deepEqual([r.events[0].offset, r.events[0].length], [0, 3 + Buffer.byteLength(lines[0])], 'line 1 keeps its BOM in its range');
    r.events.slice(1).forEach((p, k) => {
      assert.equal(p.line, k + 2);
      assert.equal(data.subarray(p.offset, p.offset + p.length).toString('utf8'), lines[k + 1]);
    });
  }
  const whole = parseLines(data);
  assert.equal(whole.events.length, lines.length);
  // A reader continuing from a later offset does not strip a BOM there: only byte 0 may have one.
  const later = new LineReader(100, 5).push(Buffer.concat([bom, bytes(`${lines[1]}\n`)]));
  assert.equal(later.events.length, 0);
  assert.match(later.errors[0].message, /^line 5: not JSON/);
});

test('a BOM at the start of any other line is an invalid line, reported with its number', () => {
  const { lines } = finishedRun();
  const bom = Buffer.from([0xef, 0xbb, 0xbf]);
  const data = Buffer.concat([bytes(jsonl(lines.slice(0, 3))), bom, bytes(jsonl(lines.slice(3)))]);
  for (const sizes of [[data.length], [1], [7, 3]]) {
    const r = pushAll(new LineReader(), data, sizes);
    assert.deepEqual(r.errors.map((e) => e.line), [4]);
    assert.match(r.errors[0].message, /^line 4: not JSON/);
    assert.equal(r.events.length, lines.length - 1);
    assert.ok(r.events.every((p) => p.line !== 4));
  }
  // Two BOMs at the start: the first is the file's, the second makes line 1 invalid.
  const twice = parseLines(Buffer.concat([bom, bom, bytes(jsonl(lines.slice(0, 2)))]));
  assert.deepEqual(twice.errors.map((e) => e.line), [1]);
  assert.equal(twice.events.length, 1);
});
