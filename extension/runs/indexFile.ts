// The persisted index of a run: `<run>/.events.index`, what a full read of events.jsonl built (the
// model's state, its rollout columns as raw typed arrays), so that opening an unchanged run again
// reads a few megabytes instead of gigabytes, and a run that grew since reads only what was appended.
//
// It is a cache, never a source of truth: it is used only when its own digest holds (a torn or
// corrupt file is ignored), when the events file still starts with the same bytes and holds the same
// bytes just before the indexed end, was not rewritten in place (same size but another mtime), and a
// sample of indexed rollouts read back from the file are those rollouts. Otherwise the run is read
// from byte 0 and the index rewritten. Writes go to a temporary file renamed over the old one, so a
// reader sees the old index or the new one whole; a folder that cannot be written just has none.
//
// Layout: 8 bytes magic, u32 LE header length, the header (JSON: positions, file identity, digest),
// then the body: the model's state as JSON (rollout columns left out), padded to 8 bytes, then each
// column's bytes (each padded to 8). The digest is SHA-256 over the header without it and the body.
import { createHash, randomBytes } from 'node:crypto';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { rolloutKeyOf, sameRollout } from '../../common/rolloutKey';
import { readRollouts } from './rolloutReader';
import { packRollouts, RolloutIndex, unpackRollouts, type PackedGroups, type RolloutIndexState, type RolloutSummary } from './rolloutIndex';
import type { RunModelState } from './runModel';

export const INDEX_FILE = '.events.index';
const MAGIC = Buffer.from('HBPOIDX\n', 'latin1');
const VERSION = 3; // 2: groups packed (keys, queryIds, difficulties lists); 3: only the reward of the terms
/** Groups whose rollouts are read back and compared before an index is trusted. */
const CHECK_GROUPS = 6;

/** Where the index of `eventsPath` (a run's events.jsonl) lives. */
export function indexPathOf(eventsPath: string): string {
  return join(dirname(eventsPath), INDEX_FILE);
}

/** What an index covers of its events file: the bytes [0, offset), `line` the next line's number. */
export interface IndexedExtent {
  offset: number;
  line: number;
  /** The file's size and mtime when the index was written (a torn last line may lie past `offset`). */
  fileSize: number;
  mtimeMs: number;
  /** The file's first bytes, and the bytes that end at `offset`. */
  head: Uint8Array;
  tail: Uint8Array;
}

export interface SavedIndex extends IndexedExtent {
  state: RunModelState;
}

interface Header extends Omit<IndexedExtent, 'head' | 'tail'> {
  version: number;
  head: string; // base64
  tail: string;
  stateBytes: number;
  /** [name, kind, element count] in body order. */
  columns: [string, ColumnKind, number][];
  bodyBytes: number;
  digest?: string;
}

type ColumnKind = 'i32' | 'f64' | 'u8';

/** Serialise `state` (what reading [0, extent.offset) built) and write it atomically. */
export async function writeIndex(indexPath: string, extent: IndexedExtent, state: RunModelState): Promise<void> {
  const { rollouts: unpacked, metrics, ...rest } = state;
  const rollouts = packRollouts(unpacked);
  const { groupOf, ...groups } = rollouts.packed;
  const json = Buffer.from(JSON.stringify({ ...rest, metrics: [...metrics.entries()], groups }));
  const columns: [string, ColumnKind, ArrayBufferView][] = [
    ...Object.entries(rollouts.ints).map(([k, a]) => [`ints.${k}`, 'i32', a] as [string, ColumnKind, ArrayBufferView]),
    ...Object.entries(rollouts.floats).map(([k, a]) => [`floats.${k}`, 'f64', a] as [string, ColumnKind, ArrayBufferView]),
    ['flags', 'u8', rollouts.flags],
    ['groupOf', 'i32', groupOf],
  ];
  const parts: Buffer[] = [json, padding(json.length)];
  for (const [, , a] of columns) {
    const bytes = Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    parts.push(bytes, padding(bytes.length));
  }
  const header: Header = {
    version: VERSION, offset: extent.offset, line: extent.line, fileSize: extent.fileSize, mtimeMs: extent.mtimeMs,
    head: Buffer.from(extent.head).toString('base64'), tail: Buffer.from(extent.tail).toString('base64'),
    stateBytes: json.length,
    columns: columns.map(([name, kind, a]) => [name, kind, a.byteLength / BYTES[kind]]),
    bodyBytes: parts.reduce((n, p) => n + p.length, 0),
  };
  header.digest = digestOf(header, parts);
  // Padded with spaces so the body, and so every column, starts 8-byte aligned: read back, the
  // columns are views of the file's buffer, not copies.
  const headerJson = JSON.stringify(header);
  const headerBytes = Buffer.from(headerJson + ' '.repeat((8 - ((12 + Buffer.byteLength(headerJson)) % 8)) % 8));
  const length = Buffer.alloc(4);
  length.writeUInt32LE(headerBytes.length);
  const tmp = join(dirname(indexPath), `${basename(indexPath)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    await writeAll(tmp, [MAGIC, length, headerBytes, ...parts]);
    await rename(tmp, indexPath);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
}

const BYTES: Record<ColumnKind, number> = { i32: 4, f64: 8, u8: 1 };

function padding(n: number): Buffer {
  return Buffer.alloc((8 - (n % 8)) % 8);
}

function digestOf(header: Header, body: readonly Uint8Array[]): string {
  const { digest: _d, ...rest } = header;
  const hash = createHash('sha256').update(JSON.stringify(rest));
  for (const p of body) hash.update(p);
  return hash.digest('hex');
}

async function writeAll(path: string, parts: readonly Uint8Array[]): Promise<void> {
  const file = await open(path, 'w');
  try {
    for (const p of parts) {
      for (let at = 0; at < p.length;) at += (await file.write(p, at, p.length - at)).bytesWritten;
    }
  } finally {
    await file.close();
  }
}

/** The index at `indexPath`, or why it cannot be used as a file (missing, torn, corrupt, old). */
export async function readIndex(indexPath: string): Promise<SavedIndex | { error: string }> {
  let bytes: Buffer;
  try {
    const file = await open(indexPath, 'r');
    try {
      bytes = await file.readFile();
    } finally {
      await file.close();
    }
  } catch (err) {
    return { error: (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no index' : `unreadable: ${(err as Error).message}` };
  }
  // The columns will be views of this buffer, transferred between threads: it must be its own, not
  // a slice of Node's shared pool (small reads come from there).
  if (bytes.byteOffset !== 0 || bytes.buffer.byteLength !== bytes.length) {
    bytes = Buffer.from(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
  }
  try {
    return decode(bytes);
  } catch (err) {
    return { error: `corrupt: ${(err as Error).message}` };
  }
}

function decode(bytes: Buffer): SavedIndex {
  if (bytes.length < 12 || !bytes.subarray(0, 8).equals(MAGIC)) throw new Error('not an index file');
  const headerLength = bytes.readUInt32LE(8);
  const bodyStart = 12 + headerLength;
  if (bodyStart > bytes.length) throw new Error('torn header');
  const header = JSON.parse(bytes.subarray(12, bodyStart).toString('utf8')) as Header;
  if (header.version !== VERSION) throw new Error(`version ${header.version}, not ${VERSION}`);
  if (bytes.length !== bodyStart + header.bodyBytes) throw new Error(`${bytes.length - bodyStart} body bytes, not ${header.bodyBytes}`);
  const body = bytes.subarray(bodyStart);
  if (digestOf(header, [body]) !== header.digest) throw new Error('digest mismatch');
  // From here on the bytes are what writeIndex wrote: the shapes below hold unless the code changed.
  const json = JSON.parse(body.subarray(0, header.stateBytes).toString('utf8'));
  let at = header.stateBytes + padding(header.stateBytes).length;
  const columns = new Map<string, ArrayBufferView>();
  for (const [name, kind, count] of header.columns) {
    const n = count * BYTES[kind];
    // A view of the file's buffer where it is aligned (it is, as written); else a copy.
    let buffer = body.buffer;
    let from = body.byteOffset + at;
    if (from % 8 !== 0) [buffer, from] = [new Uint8Array(body.subarray(at, at + n)).buffer, 0];
    if (from + n > buffer.byteLength) throw new Error(`column ${name} runs past the end`);
    columns.set(name, kind === 'i32' ? new Int32Array(buffer, from, count) : kind === 'f64' ? new Float64Array(buffer, from, count) : new Uint8Array(buffer, from, count));
    at += n + padding(n).length;
  }
  const { metrics, groups, ...rest } = json as { metrics: [string, never][]; groups: Omit<PackedGroups, 'groupOf'> } & Record<string, unknown>;
  const rollouts = rolloutState(columns, groups);
  return {
    offset: header.offset, line: header.line, fileSize: header.fileSize, mtimeMs: header.mtimeMs,
    head: Buffer.from(header.head, 'base64'), tail: Buffer.from(header.tail, 'base64'),
    state: { ...(rest as unknown as RunModelState), metrics: new Map(metrics), rollouts },
  };
}

/** The index's columns back into a RolloutIndexState: the columns an empty index has, each present. */
function rolloutState(columns: Map<string, ArrayBufferView>, groups: Omit<PackedGroups, 'groupOf'>): RolloutIndexState {
  const empty = new RolloutIndex().toState();
  const take = <T extends ArrayBufferView>(name: string, like: T): T => {
    const c = columns.get(name);
    if (!c || c.constructor !== like.constructor) throw new Error(`column ${name} missing`);
    return c as T;
  };
  const ints = Object.fromEntries(Object.entries(empty.ints).map(([k, a]) => [k, take(`ints.${k}`, a)])) as RolloutIndexState['ints'];
  const floats = Object.fromEntries(Object.entries(empty.floats).map(([k, a]) => [k, take(`floats.${k}`, a)])) as RolloutIndexState['floats'];
  const flags = take('flags', empty.flags);
  const groupOf = take('groupOf', new Int32Array(0));
  const size = flags.length;
  for (const a of [...Object.values(ints), ...Object.values(floats), groupOf]) {
    if (a.length !== size) throw new Error('columns of different lengths');
  }
  return unpackRollouts({ size, ints, floats, flags, packed: { ...groups, groupOf } });
}

/**
 * Whether `saved` still describes the start of the open events file (`size` and `mtimeMs` from its
 * stat): undefined when it does, else why not. Reads the head, the bytes before `saved.offset`, and
 * the lines of a few indexed rollout groups (first, last, and some between).
 */
export async function checkIndex(file: FileHandle, eventsPath: string, saved: SavedIndex, size: number, mtimeMs: number): Promise<string | undefined> {
  if (size < saved.fileSize) return `the file shrank (${size} bytes, indexed ${saved.fileSize})`;
  // To the microsecond: what utimes (cp -p, rsync -t) carries over; a double of nanoseconds may not.
  if (size === saved.fileSize && Math.abs(mtimeMs - saved.mtimeMs) >= 0.001) return 'the file was rewritten in place (same size, new mtime)';
  if (!(await bytesAt(file, 0, saved.head))) return 'the file starts differently (replaced)';
  if (!(await bytesAt(file, saved.offset - saved.tail.length, saved.tail))) return 'the bytes before the indexed end differ (rewritten)';
  const index = new RolloutIndex(saved.state.rollouts);
  const steps = index.steps();
  const picks: RolloutSummary[][] = [];
  for (let k = 0; k < CHECK_GROUPS && steps.length > 0; k++) {
    const step = steps[Math.floor((k * (steps.length - 1)) / Math.max(1, CHECK_GROUPS - 1))];
    const queries = index.queryIndices(step);
    picks.push(index.group(step, queries[(k * 7919) % queries.length]));
  }
  for (const group of picks) {
    const read = await readRollouts(eventsPath, group);
    if (read.errors.length > 0) return `an indexed rollout is not in the file: ${read.errors[0]}`;
    for (const [i, e] of read.rollouts.entries()) {
      const s = group[i];
      if (!sameRollout(rolloutKeyOf(e), s) || e.n_gen !== s.nGen || e.reward.reward !== s.reward.reward || e.query_id !== s.queryId) {
        return `line ${s.line}: the indexed rollout differs from the file`;
      }
    }
  }
  return undefined;
}

async function bytesAt(file: FileHandle, at: number, expected: Uint8Array): Promise<boolean> {
  if (at < 0) return false;
  const buf = Buffer.alloc(expected.length);
  const { bytesRead } = await file.read(buf, 0, buf.length, at);
  return bytesRead === expected.length && buf.equals(expected);
}

/** Write `state` next to the events, never failing the caller: a read-only folder has no index. */
export async function tryWriteIndex(eventsPath: string, extent: IndexedExtent, state: RunModelState): Promise<string | undefined> {
  try {
    await writeIndex(indexPathOf(eventsPath), extent, state);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}
