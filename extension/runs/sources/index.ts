// Runs from other tools (verl, TRL, evaluation harnesses) as run folders the run store opens like a
// native one: the source is read (formats.ts), turned into events of the current schema
// (convert.ts) and written as `events.jsonl` into a folder of the extension's own storage, never
// into the user's folder. No `vscode`.
import { createHash } from 'node:crypto';
import { basename, join, resolve } from 'node:path';
import { convertSource, writeRunFolder, type ConvertOptions, type ConvertReport } from './convert';
import { readSource, SOURCE_LABELS, type SourceKind } from './formats';

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
