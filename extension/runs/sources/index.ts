// Runs from other tools (verl, TRL, evaluation harnesses) as run folders the run store opens like a
// native one: the source is read (formats.ts), turned into events of the current schema
// (convert.ts) and written as `events.jsonl` into a folder of the extension's own storage, never
// into the user's folder. No `vscode`.
//
// A source whose files are one step each (verl, TRL) is read a file at a time and appended, so a
// paper-size dump (629 files, ~650 K lines) never sits in memory whole and its first steps show
// while the rest is read (`onStarted`). `source-state.json` beside the events records each file's
// size and mtime and what it gave: opening the source again reads nothing when no file changed, and
// only the files from the first changed or new one on otherwise, appended as a resumed native run
// appends (a run_start with `resumed_from_step`, which drops the steps after it, then the new steps).
import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { contextOfRead, convertPart, runEndOf, runStartOf, type ConvertContext, type ConvertOptions, type ConvertReport } from './convert';
import { detectSource, filePerStep, readSourceFiles, sourceFiles, SOURCE_LABELS, type SourceIssue, type SourceKind } from './formats';
import { EVENTS_FILE } from '../runFile';

export { budgetOf, BUDGET_PATTERNS, convertSource, writeRunFolder, type ConvertOptions, type ConvertReport } from './convert';
export { detectSource, filePerStep, readSource, SOURCE_LABELS, type ExternalSample, type SourceIssue, type SourceKind, type SourceRead } from './formats';
export { loadTokenizer, type TokenCounter } from './tokens';
export { SourceFollower, type FollowOptions } from './follow';

export const EXTERNAL_RUNS_DIR = 'external-runs';
export const STATE_FILE = 'source-state.json';
const STATE_VERSION = 1;
/** Issues kept per file in the state (all of them are in the run's log). */
const ISSUES_KEPT = 100;

export interface OpenedExternal extends Omit<ConvertReport, 'events'> {
  kind: SourceKind;
  /** The run folder in the extension's storage. */
  dir: string;
  eventsPath: string;
  /** Files read by this open (0: the run folder was up to date). */
  filesRead: number;
}

export interface OpenOptions extends ConvertOptions {
  kind?: SourceKind;
  /** Called once the run folder holds its run_start and the first file's steps (at once when nothing is read). */
  onStarted?: (dir: string) => void | Promise<void>;
  /** Files read so far of those this open reads. */
  onProgress?: (done: number, total: number) => void;
}

interface FileState {
  path: string;
  size: number;
  mtimeMs: number;
  rollouts: number;
  steps: number[];
  tiers: number[];
  groups: number;
  mergedGroups: number;
  issues: SourceIssue[];
  /** Rollouts counted wrong for want of a grader: a later open with one reads the file again. */
  ungraded: boolean;
}

interface SourceState {
  v: number;
  /** What else decides the conversion (kind, tokenizer, budget pattern, L_max). */
  key: string;
  ctx: ConvertContext;
  files: FileState[];
  /** events.jsonl's size when this state was written: another size means another writer, read again. */
  eventsSize: number;
}

/** The storage folder of a source path: `<storage>/external-runs/<kind>-<name>-<hash of the path>`. */
export function externalRunDir(storage: string, source: string, kind: SourceKind): string {
  const abs = resolve(source);
  const hash = createHash('sha256').update(abs).digest('hex').slice(0, 12);
  const name = basename(abs).replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 40) || 'run';
  return join(storage, EXTERNAL_RUNS_DIR, `${kind}-${name}-${hash}`);
}

// One open at a time per run folder (Open Run... and the folder's follower may meet).
const busy = new Map<string, Promise<unknown>>();

/** Read `source` (a folder or file of a known tool) into a run folder under `storage`: only what
 * changed since the last read (see the top of this file). */
export async function openExternalRun(source: string, storage: string, options: OpenOptions = {}): Promise<OpenedExternal> {
  const path = resolve(source);
  const kind = options.kind ?? (await detectSource(path));
  if (!kind) throw new Error(`${path}: not a verl dump, a TRL completions table, an lm-evaluation-harness samples file or a SkyThought results file`);
  const dir = externalRunDir(storage, path, kind);
  const before = busy.get(dir) ?? Promise.resolve();
  const run = before.catch(() => undefined).then(() => update(path, kind, dir, options));
  busy.set(dir, run);
  try {
    return await run;
  } finally {
    if (busy.get(dir) === run) busy.delete(dir);
  }
}

async function update(path: string, kind: SourceKind, dir: string, options: OpenOptions): Promise<OpenedExternal> {
  const files = await sourceFiles(path, kind);
  const stats = await Promise.all(files.map((f) => stat(f)));
  const eventsPath = join(dir, EVENTS_FILE);
  const key = JSON.stringify([kind, options.tokenizer?.path ?? null, options.budgetPattern ?? null, options.maxResponseTokens ?? null]);
  let state = await readState(dir);
  if (state && (state.key !== key || !existsSync(eventsPath) || statSync(eventsPath).size !== state.eventsSize
    || (options.grade && state.files.some((f) => f.ungraded)))) state = undefined;
  // the first file that is new or changed; evaluation files are read together, so all or none
  let from = 0;
  if (state) {
    while (from < files.length && from < state.files.length && state.files[from].path === files[from]
      && state.files[from].size === stats[from].size && state.files[from].mtimeMs === stats[from].mtimeMs) from++;
    if (!filePerStep(kind) && (from < files.length || state.files.length !== files.length)) (state = undefined), (from = 0);
  }
  if (state && from === files.length && state.files.length === files.length) {
    await options.onStarted?.(dir);
    return report(kind, dir, eventsPath, state, 0);
  }

  const kept = state ? state.files.slice(0, from) : [];
  if (!state) {
    await rm(dir, { recursive: true, force: true }); // events, the loader's index, the old state
    await mkdir(dir, { recursive: true });
  }
  const resumedFrom = state ? Math.max(0, ...kept.flatMap((f) => f.steps)) : null;
  let ctx = state?.ctx;
  const totalSteps = (got: number[]) => Math.max(0, ...got, ...(filePerStep(kind) ? files.map(stepOfFile) : []));
  const out = await open(eventsPath, 'a');
  const done: FileState[] = [];
  try {
    const parts = filePerStep(kind) ? files.slice(from).map((f) => [f]) : [files];
    let started = false;
    const start = async (stepsSoFar: number[]) => {
      const read = { kind, path, mtime: Math.max(...stats.map((s) => s.mtimeMs)) / 1000 };
      await out.write(JSON.stringify(runStartOf(read, files.length, ctx!, options,
        { totalSteps: totalSteps(stepsSoFar), resumedFrom, pid: process.pid })) + '\n');
      started = true;
    };
    for (const [n, part] of parts.entries()) {
      const i = from + n;
      const read = await readSourceFiles(path, kind, part);
      const prepared = await contextOfRead(read, options);
      ctx ??= prepared.ctx;
      if (!started) await start(prepared.rows.map((r) => r.s.step));
      const converted = await convertPart(read, ctx, options, prepared);
      await out.write(converted.events.map((e) => JSON.stringify(e)).join('\n') + (converted.events.length ? '\n' : ''));
      done.push({
        path: part.length === 1 ? part[0] : path, size: part.length === 1 ? stats[i].size : 0, mtimeMs: part.length === 1 ? stats[i].mtimeMs : 0,
        rollouts: converted.rollouts, steps: converted.steps, tiers: converted.tiers, groups: converted.groups,
        mergedGroups: converted.mergedGroups, issues: converted.issues.slice(0, ISSUES_KEPT),
        ungraded: converted.issues.some((x) => x.field === 'correct' && /no grader/.test(x.message)),
      });
      if (n === 0) await options.onStarted?.(dir);
      options.onProgress?.(n + 1, parts.length);
    }
    if (!ctx) throw new Error(`${path}: no ${SOURCE_LABELS[kind]} files in it`);
    if (!started) await start([]); // files were removed at the end: the steps after the kept ones go
    const all = [...kept, ...done];
    const last = Math.max(0, ...all.flatMap((f) => f.steps));
    await out.write(JSON.stringify(runEndOf(kind, last)) + '\n');
  } finally {
    await out.close();
  }
  // evaluation files: the state holds the whole read as one entry (path = the source) with each file's stamp below
  const fileStates = filePerStep(kind) ? [...kept, ...done] : stampAll(done[0], files, stats);
  const next: SourceState = { v: STATE_VERSION, key, ctx: ctx!, files: fileStates, eventsSize: statSync(eventsPath).size };
  const tmp = join(dir, `${STATE_FILE}.tmp-${process.pid}`);
  await writeFile(tmp, JSON.stringify(next));
  await rename(tmp, join(dir, STATE_FILE));
  if (done.length === 0) await options.onStarted?.(dir);
  return report(kind, dir, eventsPath, next, done.length);
}

/** Evaluation files read together: the first entry carries the counts, every file its own stamp. */
function stampAll(whole: FileState, files: string[], stats: { size: number; mtimeMs: number }[]): FileState[] {
  return files.map((f, i) => i === 0 ? { ...whole, path: f, size: stats[i].size, mtimeMs: stats[i].mtimeMs }
    : { path: f, size: stats[i].size, mtimeMs: stats[i].mtimeMs, rollouts: 0, steps: [], tiers: [], groups: 0, mergedGroups: 0, issues: [], ungraded: false });
}

function stepOfFile(file: string): number {
  const m = /(\d+)\.(?:jsonl|parquet)$/.exec(basename(file));
  return m ? Number(m[1]) : 0;
}

async function readState(dir: string): Promise<SourceState | undefined> {
  try {
    const s = JSON.parse(await readFile(join(dir, STATE_FILE), 'utf8')) as SourceState;
    return s.v === STATE_VERSION && Array.isArray(s.files) ? s : undefined;
  } catch {
    return undefined;
  }
}

function report(kind: SourceKind, dir: string, eventsPath: string, state: SourceState, filesRead: number): OpenedExternal {
  const f = state.files;
  return {
    kind, dir, eventsPath, filesRead,
    issues: f.flatMap((x) => x.issues),
    rollouts: f.reduce((a, x) => a + x.rollouts, 0),
    steps: [...new Set(f.flatMap((x) => x.steps))].sort((a, b) => a - b),
    tiers: [...new Set([...state.ctx.tiers, ...f.flatMap((x) => x.tiers)])].sort((a, b) => a - b),
    groups: f.reduce((a, x) => a + x.groups, 0),
    mergedGroups: f.reduce((a, x) => a + x.mergedGroups, 0),
    tokens: state.ctx.tokens,
  };
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
