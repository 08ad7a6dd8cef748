// Readers of runs trained or evaluated elsewhere, as their own code writes them (no `vscode` here):
// - verl: `{step}.jsonl` rollout/validation dumps (RayPPOTrainer._dump_generations): `input`,
//   `output`, `gts`, `score`, `step`, plus the reward's extra fields of the batch's length;
// - TRL: GRPOTrainer `log_completions` tables, `completions/completions_{step:05d}.parquet` (one
//   column per reward function, `advantage`), and the same table exported as JSON/JSONL;
// - lm-evaluation-harness `--log_samples`: `samples_<task>_<date>.jsonl` (`doc`, `target`,
//   `arguments.gen_args_0.arg_0` the prompt, `resps` [[one text per repeat]], the metric fields);
// - SkyThought `skythought evaluate` runs: `<model>_<task>_<hash>/results.json` (a JSON object
//   keyed by the row's `_index`: the dataset row's fields, `input_conversation` (the messages, the
//   model's assistant prefill last), `prompt`, `responses` [{content, correctness, reason}] and
//   `token_usages` [{completion_tokens, prompt_tokens}]) beside `summary.json` (the run's
//   configuration); a folder of such runs (one per budget, say), or an older single results file.
// Each turns into ExternalSample rows; a field that is missing or malformed is an issue with its
// file, line or row and field, and the rest loads.
import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { parquetReadObjects } from 'hyparquet';

export type SourceKind = 'verl' | 'trl' | 'lm-eval' | 'skythought';

export const SOURCE_LABELS: Record<SourceKind, string> = {
  verl: 'verl', trl: 'TRL', 'lm-eval': 'lm-eval', skythought: 'SkyThought',
};

export interface SourceIssue {
  file: string;
  /** 1-based line of a JSONL file, or 0-based row of a parquet/JSON table. */
  line?: number;
  row?: number;
  field: string;
  message: string;
}

export type Recorded = Record<string, number | string | boolean | null>;

export interface ExternalSample {
  file: string;
  line?: number;
  row?: number;
  step: number;
  prompt: string;
  completion: string;
  /** The problem as the file states it (eval files), else undefined: the prompt stands for it. */
  problem?: string;
  groundTruth?: string;
  /** The file's own verdict: a boolean `correct`/`acc`, or a score that is exactly 0 or 1. */
  correct?: boolean;
  difficulty?: string | null;
  /** Tokens the file recorded for the completion (SkyThought's token_usages). */
  tokens?: number;
  /** The file's own numeric/string columns other than the texts (reward, advantage, score...). */
  recorded: Recorded;
}

export interface SourceRead {
  kind: SourceKind;
  /** The path the user opened. */
  path: string;
  files: string[];
  samples: ExternalSample[];
  issues: SourceIssue[];
  /** Newest mtime of the files read, unix seconds. */
  mtime: number;
}

const TRL_PARQUET = /^completions_(\d+)\.parquet$/;
const VERL_FILE = /^(\d+)\.jsonl$/;
const LM_EVAL_FILE = /^samples_.+\.jsonl$/;

/** What a path holds, or undefined when it is none of the known sources. */
export async function detectSource(path: string): Promise<SourceKind | undefined> {
  const st = await stat(path);
  if (st.isDirectory()) {
    const names = await readdir(path);
    if (names.some((n) => TRL_PARQUET.test(n))) return 'trl';
    if (names.includes('completions') && (await readdir(join(path, 'completions')).catch(() => [] as string[])).some((n) => TRL_PARQUET.test(n))) return 'trl';
    if (names.some((n) => VERL_FILE.test(n))) return 'verl';
    if (names.some((n) => LM_EVAL_FILE.test(n))) return 'lm-eval';
    for (const n of names) {
      const sub = join(path, n);
      if ((await stat(sub)).isDirectory() && (await readdir(sub)).some((x) => LM_EVAL_FILE.test(x))) return 'lm-eval';
    }
    // a SkyThought run is known by its two file names: its results may be hundreds of MB, not parsed twice
    if ((await skyThoughtFiles(path)).some((f) => basename(f) === SKY_RESULTS && existsSync(join(dirname(f), SKY_SUMMARY)))) return 'skythought';
    const json = names.find((n) => n.endsWith('.json') && n !== SKY_SUMMARY);
    return json ? sniffJson(join(path, json)) : undefined;
  }
  const name = basename(path);
  if (name.endsWith('.parquet')) return 'trl';
  if (VERL_FILE.test(name)) return 'verl';
  if (LM_EVAL_FILE.test(name)) return 'lm-eval';
  if (name.endsWith('.json')) return sniffJson(path);
  if (name.endsWith('.jsonl')) return sniffJsonl(path);
  return undefined;
}

async function sniffJson(path: string): Promise<SourceKind | undefined> {
  try {
    const v = JSON.parse(await readFile(path, 'utf8')) as unknown;
    if (Array.isArray(v) && v.length && isObj(v[0]) && 'completion' in v[0] && 'prompt' in v[0]) return 'trl';
    if (isObj(v)) {
      const first = Object.values(v)[0];
      if (isObj(first) && Array.isArray(first.responses)) return 'skythought';
    }
  } catch { /* not JSON */ }
  return undefined;
}

async function sniffJsonl(path: string): Promise<SourceKind | undefined> {
  const text = await readFile(path, 'utf8');
  const first = text.slice(0, text.indexOf('\n') + 1 || text.length);
  try {
    const v = JSON.parse(first) as Record<string, unknown>;
    if ('input' in v && 'output' in v) return 'verl';
    if ('prompt' in v && 'completion' in v) return 'trl';
    if ('resps' in v && 'doc' in v) return 'lm-eval';
  } catch { /* a torn first line */ }
  return undefined;
}

/** Read every file of a source. */
export async function readSource(path: string, kind?: SourceKind): Promise<SourceRead> {
  const k = kind ?? (await detectSource(path));
  if (!k) throw new Error(`${path}: not a verl dump, a TRL completions table, an lm-evaluation-harness samples file or a SkyThought results file`);
  return readSourceFiles(path, k, await sourceFiles(path, k));
}

/** Whether each file of a source is a step of its own (verl's `{step}.jsonl`, TRL's parquet per
 * logging step), so the files can be read one at a time; evaluation files are read together (a
 * model's files make one step). */
export function filePerStep(kind: SourceKind): boolean {
  return kind === 'verl' || kind === 'trl';
}

/** The files of a source, in step order; none is an error. */
export async function sourceFiles(path: string, kind: SourceKind): Promise<string[]> {
  const files = await filesOf(path, kind);
  if (files.length === 0) throw new Error(`${path}: no ${SOURCE_LABELS[kind]} files in it`);
  return files;
}

/** Read `files` of the source at `path` (all of them, or, where `filePerStep`, any run of them). */
export async function readSourceFiles(path: string, k: SourceKind, files: string[]): Promise<SourceRead> {
  const out: SourceRead = { kind: k, path, files, samples: [], issues: [], mtime: 0 };
  // evaluation files have no steps: a model's files (a run per budget, say) are one "step", so its
  // budgets sit side by side as tiers of one query; each further model is the next step
  const models = new Map<string, number>();
  for (const [i, f] of files.entries()) {
    out.mtime = Math.max(out.mtime, (await stat(f)).mtimeMs / 1000);
    if (k === 'skythought') {
      const model = await skyThoughtModel(f);
      if (!models.has(model)) models.set(model, models.size + 1);
      readSkyThought(f, await readFile(f, 'utf8'), models.get(model)!, out);
      continue;
    }
    if (k === 'verl') readVerl(f, await readFile(f, 'utf8'), out);
    else if (k === 'trl') await readTrl(f, out);
    else if (k === 'lm-eval') readLmEval(f, await readFile(f, 'utf8'), i + 1, out);
    else readSkyThought(f, await readFile(f, 'utf8'), i + 1, out);
  }
  return out;
}

/** The folder that holds a source's files: TRL's parquet files may sit in `completions/` below the
 * output folder it was pointed at (a file's own folder for a file). */
export async function sourceFilesDir(path: string, kind: SourceKind): Promise<string> {
  if (!(await stat(path)).isDirectory()) return dirname(path);
  if (kind === 'trl' && !(await readdir(path)).some((n) => TRL_PARQUET.test(n))) return join(path, 'completions');
  return path;
}

async function filesOf(path: string, kind: SourceKind): Promise<string[]> {
  if (!(await stat(path)).isDirectory()) return [path];
  const dir = await sourceFilesDir(path, kind);
  const names = await readdir(dir);
  const num = (re: RegExp) => (n: string) => Number(re.exec(n)![1]);
  if (kind === 'trl') return names.filter((n) => TRL_PARQUET.test(n)).sort((a, b) => num(TRL_PARQUET)(a) - num(TRL_PARQUET)(b)).map((n) => join(dir, n));
  if (kind === 'verl') return names.filter((n) => VERL_FILE.test(n)).sort((a, b) => num(VERL_FILE)(a) - num(VERL_FILE)(b)).map((n) => join(dir, n));
  if (kind === 'lm-eval') {
    const out: string[] = [];
    for (const n of names.sort()) {
      const p = join(dir, n);
      if (LM_EVAL_FILE.test(n)) out.push(p);
      else if ((await stat(p)).isDirectory()) for (const x of (await readdir(p)).sort()) if (LM_EVAL_FILE.test(x)) out.push(join(p, x));
    }
    return out;
  }
  return skyThoughtFiles(dir);
}

const SKY_RESULTS = 'results.json';
const SKY_SUMMARY = 'summary.json';

/** SkyThought results in a folder: its own results.json, each run folder's below it, and older
 * single results files (any other .json but a summary). */
async function skyThoughtFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const n of (await readdir(dir)).sort()) {
    const p = join(dir, n);
    const st = await stat(p);
    if (st.isDirectory()) {
      if ((await readdir(p)).includes(SKY_RESULTS)) out.push(join(p, SKY_RESULTS));
    } else if (extname(n) === '.json' && n !== SKY_SUMMARY) out.push(p);
  }
  return out;
}

/** The model a SkyThought results file is of: its run's summary.json names it; else the file. */
async function skyThoughtModel(file: string): Promise<string> {
  try {
    const s = JSON.parse(await readFile(join(dirname(file), SKY_SUMMARY), 'utf8')) as { configuration?: { model?: { name?: unknown } } };
    const name = s.configuration?.model?.name;
    if (typeof name === 'string' && name) return name;
  } catch { /* no summary: the file alone */ }
  return file;
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** JSON lines of a file: each parsed, or an issue; a blank last line is no line. */
function* jsonLines(file: string, text: string, out: SourceRead): Generator<{ value: Record<string, unknown>; line: number }> {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i].trim();
    if (!raw) continue;
    try {
      const value = JSON.parse(raw) as unknown;
      if (!isObj(value)) out.issues.push({ file, line: i + 1, field: '(line)', message: 'not a JSON object' });
      else yield { value, line: i + 1 };
    } catch (err) {
      out.issues.push({ file, line: i + 1, field: '(line)', message: `not JSON (${(err as Error).message})` });
    }
  }
}

function recordedOf(v: Record<string, unknown>, skip: Set<string>): Recorded {
  const r: Recorded = {};
  for (const [k, x] of Object.entries(v)) {
    if (skip.has(k)) continue;
    if (typeof x === 'number' || typeof x === 'boolean' || x === null) r[k] = x;
    else if (typeof x === 'bigint') r[k] = Number(x);
    else if (typeof x === 'string' && x.length <= 200) r[k] = x;
  }
  return r;
}

/** The file's verdict from a boolean field, or a score of exactly 0/1. */
function verdict(v: Record<string, unknown>, fields: string[]): boolean | undefined {
  for (const f of fields) {
    const x = v[f];
    if (typeof x === 'boolean') return x;
    if (typeof x === 'number' && (x === 0 || x === 1)) return x === 1;
  }
  return undefined;
}

const VERL_TEXT = new Set(['input', 'output', 'gts', 'step']);

function readVerl(file: string, text: string, out: SourceRead): void {
  const fileStep = Number(VERL_FILE.exec(basename(file))?.[1] ?? 0);
  for (const { value: v, line } of jsonLines(file, text, out)) {
    const bad = (field: string, message: string) => out.issues.push({ file, line, field, message });
    if (typeof v.input !== 'string') { bad('input', 'missing or not a string'); continue; }
    if (typeof v.output !== 'string') { bad('output', 'missing or not a string'); continue; }
    let step = fileStep;
    if (Number.isInteger(v.step) && (v.step as number) >= 0) step = v.step as number;
    else bad('step', `missing or not an integer; the file name's step ${fileStep} is used`);
    if (typeof v.score !== 'number') bad('score', 'missing or not a number');
    const gts = v.gts === null || v.gts === undefined ? undefined : typeof v.gts === 'string' ? v.gts : JSON.stringify(v.gts);
    out.samples.push({
      file, line, step, prompt: v.input, completion: v.output, groundTruth: gts,
      correct: verdict(v, ['acc', 'correct', 'score']), recorded: recordedOf(v, VERL_TEXT),
    });
  }
}

const TRL_TEXT = new Set(['prompt', 'completion', 'step']);

/** A TRL prompt is text, or (conversational) a list of messages: their contents, in order. */
function trlText(x: unknown): string | undefined {
  if (typeof x === 'string') return x;
  if (Array.isArray(x)) {
    const parts = x.map((m) => (isObj(m) && typeof m.content === 'string' ? `${String(m.role ?? '')}: ${m.content}` : undefined));
    if (parts.every((p) => p !== undefined)) return parts.join('\n');
  }
  return undefined;
}

async function readTrl(file: string, out: SourceRead): Promise<void> {
  let rows: Record<string, unknown>[];
  if (file.endsWith('.parquet')) {
    const buf = await readFile(file);
    try {
      const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
      rows = (await parquetReadObjects({ file: ab })) as Record<string, unknown>[];
    } catch (err) {
      out.issues.push({ file, field: '(file)', message: `not a readable parquet file (${(err as Error).message})` });
      return;
    }
  } else {
    try {
      const v = JSON.parse(await readFile(file, 'utf8')) as unknown;
      rows = Array.isArray(v) ? (v as Record<string, unknown>[]) : isObj(v) && Array.isArray(v.data) && Array.isArray(v.columns)
        // a W&B table export: {columns, data: [[...]]}
        ? (v.data as unknown[][]).map((r) => Object.fromEntries((v.columns as string[]).map((c, i) => [c, r[i]])))
        : [];
    } catch (err) {
      out.issues.push({ file, field: '(file)', message: `not JSON (${(err as Error).message})` });
      return;
    }
  }
  const fileStep = Number(TRL_PARQUET.exec(basename(file))?.[1] ?? 0);
  rows.forEach((v, row) => {
    const bad = (field: string, message: string) => out.issues.push({ file, row, field, message });
    const prompt = trlText(v.prompt);
    if (prompt === undefined) { bad('prompt', 'missing or not text'); return; }
    const completion = trlText(v.completion);
    if (completion === undefined) { bad('completion', 'missing or not text'); return; }
    let step = fileStep;
    const s = typeof v.step === 'bigint' ? Number(v.step) : v.step;
    if (Number.isInteger(s) && (s as number) >= 0) step = s as number;
    else bad('step', `missing or not an integer; the file name's step ${fileStep} is used`);
    if (typeof v.advantage !== 'number') bad('advantage', 'missing or not a number');
    const recorded = recordedOf(v, TRL_TEXT);
    // correctness: a reward column that says so (accuracy, correct, acc...) holding 0/1
    const col = Object.keys(recorded).find((k) => /^(acc|accuracy|correct|correctness)(_reward)?$|accuracy_reward/i.test(k));
    out.samples.push({ file, row, step, prompt, completion, correct: col ? verdict(v, [col]) : undefined, recorded });
  });
}

function readLmEval(file: string, text: string, step: number, out: SourceRead): void {
  for (const { value: v, line } of jsonLines(file, text, out)) {
    const bad = (field: string, message: string) => out.issues.push({ file, line, field, message });
    const args = v.arguments;
    let prompt: unknown;
    if (isObj(args) && isObj(args.gen_args_0)) prompt = args.gen_args_0.arg_0;
    if (typeof prompt !== 'string') { bad('arguments.gen_args_0.arg_0', 'missing or not a string (the prompt)'); continue; }
    const resps = v.resps;
    if (!Array.isArray(resps) || !Array.isArray(resps[0])) { bad('resps', 'missing or not a list of lists'); continue; }
    const texts = resps[0] as unknown[];
    const doc = isObj(v.doc) ? v.doc : {};
    const problem = ['problem', 'question', 'Question', 'query'].map((k) => doc[k]).find((x) => typeof x === 'string') as string | undefined;
    const target = typeof v.target === 'string' ? v.target : v.target === undefined ? undefined : JSON.stringify(v.target);
    if (target === undefined) bad('target', 'missing');
    const metric = ['exact_match', 'acc', 'correct'].find((m) => typeof v[m] === 'number' || typeof v[m] === 'boolean');
    const recorded = recordedOf(v, new Set(['doc', 'arguments', 'resps', 'filtered_resps', 'target']));
    if (typeof v.doc_id === 'number') recorded.doc_id = v.doc_id;
    texts.forEach((t, i) => {
      if (typeof t !== 'string') { bad(`resps[0][${i}]`, 'not a string'); return; }
      // exact_match is the doc's mean over its repeats: a per-sample verdict only with one repeat
      const correct = texts.length === 1 && metric ? verdict(v, [metric]) : undefined;
      out.samples.push({
        file, line, step, prompt, completion: t, problem, groundTruth: target, correct,
        difficulty: typeof doc.difficulty === 'string' ? doc.difficulty : typeof doc.level === 'string' ? doc.level : null,
        recorded,
      });
    });
  }
}

function readSkyThought(file: string, text: string, step: number, out: SourceRead): void {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    out.issues.push({ file, field: '(file)', message: `not JSON (${(err as Error).message})` });
    return;
  }
  if (!isObj(v)) {
    out.issues.push({ file, field: '(file)', message: 'not a JSON object keyed by problem id' });
    return;
  }
  let row = 0;
  for (const [id, item] of Object.entries(v)) {
    const r = row++;
    const bad = (field: string, message: string) => out.issues.push({ file, row: r, field: `${id}.${field}`, message });
    if (!isObj(item)) { bad('(item)', 'not an object'); continue; }
    if (!Array.isArray(item.responses)) { bad('responses', 'missing or not a list'); continue; }
    const problem = ['problem', 'question', 'prompt'].map((k) => item[k]).find((x) => typeof x === 'string') as string | undefined;
    // SkyThought's `prompt` is one message (the user's, or the assistant prefill that carries a
    // budget sentence); the conversation is the whole prompt the model saw
    const conversation = conversationText(item.input_conversation);
    const prompt = conversation ?? (typeof item.prompt === 'string' ? item.prompt : problem);
    if (prompt === undefined) { bad('problem', 'missing: no problem, question or prompt'); continue; }
    const gt = ['answer', 'solution', 'expected_answer'].map((k) => item[k]).find((x) => typeof x === 'string') as string | undefined;
    const usages = Array.isArray(item.token_usages) ? item.token_usages : [];
    item.responses.forEach((resp, i) => {
      if (!isObj(resp) || typeof resp.content !== 'string') { bad(`responses[${i}].content`, 'missing or not a string'); return; }
      const u = usages[i];
      const tokens = isObj(u) && typeof u.completion_tokens === 'number' ? u.completion_tokens
        : typeof resp.num_tokens === 'number' ? resp.num_tokens : undefined;
      out.samples.push({
        file, row: r, step, prompt, completion: resp.content, problem, groundTruth: gt,
        correct: typeof resp.correctness === 'boolean' ? resp.correctness : undefined,
        difficulty: difficultyOf(item.difficulty ?? item.level),
        tokens, recorded: { id, ...(tokens !== undefined ? { completion_tokens: tokens } : {}) },
      });
    });
  }
}

/** Chat messages ({role, content}) as one text, a `role:` line before each; undefined if not messages. */
function conversationText(v: unknown): string | undefined {
  if (!Array.isArray(v) || v.length === 0) return undefined;
  const parts: string[] = [];
  for (const m of v) {
    if (!isObj(m) || typeof m.content !== 'string') return undefined;
    parts.push(`${typeof m.role === 'string' ? m.role : 'message'}:\n${m.content}`);
  }
  return parts.join('\n\n');
}

/** A difficulty as written (a label, or MATH's level number). */
function difficultyOf(v: unknown): string | null {
  if (typeof v === 'string' && v) return v;
  if (typeof v === 'number' && Number.isFinite(v)) return `level ${v}`;
  return null;
}
