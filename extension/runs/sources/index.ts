// Runs from other tools (verl, TRL, evaluation harnesses) as run folders the run store opens like a
// native one: the source is read (formats.ts), turned into events of the current schema
// (convert.ts) and written as `events.jsonl` into a folder of the extension's own storage, never
// into the user's folder. No `vscode`.
import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { convertSource, writeRunFolder, type ConvertOptions, type ConvertReport } from './convert';
import { readSource, SOURCE_LABELS, type SourceKind } from './formats';
import { EVENTS_FILE } from '../runFile';

export { budgetOf, BUDGET_PATTERNS, convertSource, writeRunFolder, type ConvertOptions, type ConvertReport } from './convert';
export { detectSource, readSource, SOURCE_LABELS, type ExternalSample, type SourceIssue, type SourceKind, type SourceRead } from './formats';
export { loadTokenizer, type TokenCounter } from './tokens';
export { SourceFollower, type FollowOptions } from './follow';

export const EXTERNAL_RUNS_DIR = 'external-runs';

export interface OpenedExternal extends ConvertReport {
  kind: SourceKind;
  /** The run folder in the extension's storage. */
  dir: string;
  eventsPath: string;
}

/** The storage folder of a source path: `<storage>/external-runs/<kind>-<name>-<hash of the path>`. */
export function externalRunDir(storage: string, source: string, kind: SourceKind): string {
  const abs = resolve(source);
  const hash = createHash('sha256').update(abs).digest('hex').slice(0, 12);
  const name = basename(abs).replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 40) || 'run';
  return join(storage, EXTERNAL_RUNS_DIR, `${kind}-${name}-${hash}`);
}

/** Read `source` (a folder or file of a known tool) into a run folder under `storage`. */
export async function openExternalRun(source: string, storage: string, options: ConvertOptions & { kind?: SourceKind } = {}): Promise<OpenedExternal> {
  const read = await readSource(resolve(source), options.kind);
  const report = await convertSource(read, options);
  const dir = externalRunDir(storage, source, read.kind);
  const eventsPath = await writeRunFolder(dir, report.events);
  return { ...report, kind: read.kind, dir, eventsPath };
}

export function sourceLabel(config: Record<string, unknown> | undefined): string | undefined {
  const s = config?.source as { kind?: unknown } | undefined;
  return typeof s?.kind === 'string' && Object.hasOwn(SOURCE_LABELS, s.kind) ? SOURCE_LABELS[s.kind as SourceKind] : undefined;
}

/** Whether `path` is a run folder (it holds an events.jsonl), as Open Run... tells one from a source. */
export function isRunFolder(path: string): boolean {
  return statSync(path).isDirectory() && existsSync(join(path, EVENTS_FILE));
}

/** The config of a run folder's first line (its run_start), read from the head of the file only. */
export async function runStartConfig(dir: string): Promise<Record<string, unknown> | undefined> {
  try {
    const f = await open(join(dir, EVENTS_FILE), 'r');
    try {
      const buf = Buffer.alloc(1 << 20);
      const { bytesRead } = await f.read(buf, 0, buf.length, 0);
      const text = buf.subarray(0, bytesRead).toString('utf8');
      const end = text.indexOf('\n');
      const e = JSON.parse(end < 0 ? text : text.slice(0, end)) as { type?: string; config?: Record<string, unknown> };
      return e.type === 'run_start' ? e.config : undefined;
    } finally {
      await f.close();
    }
  } catch {
    return undefined;
  }
}
