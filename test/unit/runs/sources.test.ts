// Runs from other tools: the committed fixtures in test/fixtures/external/ (made by TRL's
// GRPOTrainer, verl's own dump function, lm-evaluation-harness's tracker; see
// scripts/make-external-fixtures.py) open through the same path as a native run (events.jsonl
// read by loadRunModel, rollouts read back by byte range, a trace laid out and annotated).
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { TrainerGrader } from '../../../extension/compare/grader';
import { readGroup } from '../../../extension/panels/rolloutData';
import { loadRunModel } from '../../../extension/runs/runFile';
import { RunTailer } from '../../../extension/runs/runTailer';
import { budgetOf, detectSource, loadTokenizer, openExternalRun, SourceFollower, sourceLabel, type TokenCounter } from '../../../extension/runs/sources';
import { annotate, specOfRollout } from '../../../extension/traces/annotate';
import { formatTraceDocument } from '../../../extension/traces/traceText';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const FIX = join(ROOT, 'test', 'fixtures', 'external');
const tmp = mkdtempSync(join(tmpdir(), 'hbpo-sources-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** The testbed model's tokenizer when it is built on this machine (the fixtures were made with it). */
function testbedTokenizerDir(): string | undefined {
  const root = join(process.env.HBPO_CACHE_DIR ?? join(homedir(), '.cache', 'hbpo-studio'), 'testbed');
  if (!existsSync(root)) return undefined;
  const dirs = readdirSync(root).map((n) => join(root, n)).filter((d) => existsSync(join(d, 'tokenizer.json')));
  return dirs.sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
}
const TOK_DIR = testbedTokenizerDir();

test('budget sentences: HBPO within/with, L1, a user pattern, efficiency and none', () => {
  assert.equal(budgetOf('<think>\nI will answer the question within 512 tokens.\n').budget, 512);
  assert.equal(budgetOf('<think>\nI will answer the question with 64 tokens.\n').budget, 64);
  assert.equal(budgetOf('What is 2+2? Think for 1234 tokens.').budget, 1234);
  assert.equal(budgetOf('Budget: 300 tok', 'Budget: (\\d+) tok').budget, 300);
  assert.deepEqual(budgetOf('I will answer the question with minimal tokens.'), { budget: null, sentence: 'I will answer the question with minimal tokens.', efficiency: true });
  assert.deepEqual(budgetOf('no sentence here'), { budget: null });
});

test('each fixture is detected as its tool', async () => {
  assert.equal(await detectSource(join(FIX, 'verl')), 'verl');
  assert.equal(await detectSource(join(FIX, 'verl', '1.jsonl')), 'verl');
  assert.equal(await detectSource(join(FIX, 'trl')), 'trl');
  assert.equal(await detectSource(join(FIX, 'trl', 'completions', 'completions_00001.parquet')), 'trl');
  assert.equal(await detectSource(join(FIX, 'eval', 'lm-eval')), 'lm-eval');
  assert.equal(await detectSource(join(FIX, 'eval', 'skythought')), 'skythought');
  assert.equal(await detectSource(join(ROOT, 'test', 'fixtures', 'runs')), undefined);
});

test('verl dump folder: counts, tiers, groups, the torn line reported, nothing written beside it', async () => {
  const before = readdirSync(join(FIX, 'verl')).sort();
  const r = await openExternalRun(join(FIX, 'verl'), tmp);
  assert.deepEqual(readdirSync(join(FIX, 'verl')).sort(), before);
  assert.ok(r.dir.startsWith(tmp));
  // 2 steps x 3 problems x 3 tiers x 2 samples, less the line cut short in 2.jsonl
  assert.equal(r.rollouts, 35);
  assert.deepEqual(r.steps, [1, 2]);
  assert.deepEqual(r.tiers, [32, 64, 128]);
  assert.equal(r.groups, 6);
  assert.equal(r.tokens, 'estimate');
  const torn = r.issues.filter((i) => i.field === '(line)');
  assert.equal(torn.length, 1);
  assert.match(torn[0].file, /verl\/2\.jsonl$/);
  assert.equal(torn[0].line, 18);
  assert.match(torn[0].message, /not JSON/);

  const model = await loadRunModel(r.dir, { worker: 'never', index: false });
  assert.equal(model.errorCount, 0, JSON.stringify(model.errors));
  assert.equal(model.rolloutCount, 35);
  assert.equal(model.status(() => false), 'finished');
  assert.equal(sourceLabel(model.info?.config), 'verl');
  assert.deepEqual(model.info?.tiers, [32, 64, 128]);
  assert.ok(model.logs.some((l) => /2\.jsonl: line 18: \(line\): not JSON/.test(l.message)), 'the torn line is in the run log');
  assert.deepEqual(model.queryIndices(1), [0, 1, 2]);
  const group = model.rolloutGroup(1, 0);
  assert.deepEqual(group.map((g) => [g.tier, g.sample]), [[32, 0], [32, 1], [64, 0], [64, 1], [128, 0], [128, 1]]);
  assert.deepEqual(model.queryIndices(2), [0, 1, 2]);
  assert.equal(model.rolloutGroup(2, 2).length, 5); // the torn line's group

  // per-tier step metrics and the file's own score, as recorded
  assert.deepEqual(model.tierModes().map((m) => (m as { budget?: number }).budget), [32, 64, 128]);
  assert.ok(model.metricKeys().includes('recorded/score/mean'));

  const view = await readGroup(model, 1, 0);
  assert.equal(view.rows.length, 6);
  assert.deepEqual(view.errors, []);
  assert.equal(view.groundTruth, '9');
});

test('verl with the testbed tokenizer: exact counts and token marks, a trace annotated', { skip: TOK_DIR ? false : 'the testbed model is not built here' }, async () => {
  const tok: TokenCounter = await loadTokenizer(TOK_DIR!);
  const r = await openExternalRun(join(FIX, 'verl'), tmp, { tokenizer: tok });
  assert.equal(r.tokens, 'tokenizer');
  const model = await loadRunModel(r.dir, { worker: 'never', index: false });
  const read = await model.readRolloutGroup(1, 0);
  const events = read.rollouts;
  assert.equal(events.length, 6);
  for (const e of events) {
    assert.equal(e.n_gen, tok.encode(e.text).length);
    const marks = e.token_marks!;
    assert.deepEqual(marks[marks.length - 1], [e.n_gen, [...e.text].length]); // code points, as the trainer writes them
    for (let i = 1; i < marks.length; i++) assert.ok(marks[i][0] > marks[i - 1][0] && marks[i][1] >= marks[i - 1][1]);
  }
  // a rollout over its budget: the ⟨32⟩ crossing sits where the first 32 tokens end
  const over = events.find((e) => e.tier === 32 && e.n_gen > 32)!;
  assert.ok(over, 'a tier-32 rollout went over budget');
  const spec = specOfRollout(over, model.info);
  const markup = annotate(spec);
  assert.equal(markup.marksMissing, false);
  const c32 = markup.crossings.find((c) => c.tier === 32)!;
  assert.equal(over.text.slice(0, c32.char), tok.decode(tok.encode(over.text).slice(0, 32)));
  assert.ok(markup.overBudget && markup.overBudget.exact);
  assert.match(markup.lenses[0], new RegExp(`tier 32 · ${over.n_gen} tokens \\(${over.n_gen - 32} over budget\\)`));
  // reward recomputed with HBPO's formula (case over, f1), shown as recomputed, the file's score as recorded
  assert.equal(over.reward.case, over.correct ? 'over' : 'wrong');
  const doc = formatTraceDocument(over, 'verl').content;
  assert.match(doc, /reward \(recomputed\)/);
  assert.match(doc, /recorded by verl: .*score/);
});

test('TRL parquet: 2 steps, groups of one problem across its tiers, advantage as recorded', async () => {
  const r = await openExternalRun(join(FIX, 'trl'), tmp);
  assert.equal(r.kind, 'trl');
  assert.equal(r.rollouts, 24);
  assert.deepEqual(r.steps, [1, 2]);
  assert.deepEqual(r.tiers, [32, 64, 128]);
  assert.equal(r.issues.length, 0, JSON.stringify(r.issues));
  const model = await loadRunModel(r.dir, { worker: 'never', index: false });
  assert.equal(model.rolloutCount, 24);
  let n = 0;
  for (const step of [1, 2]) for (const q of model.queryIndices(step)) {
    const g = model.rolloutGroup(step, q);
    n += g.length;
    // 4 completions per prompt (num_generations) per tier the problem had at that step
    const perTier = new Map<number | null, number>();
    for (const x of g) perTier.set(x.tier, (perTier.get(x.tier) ?? 0) + 1);
    for (const c of perTier.values()) assert.equal(c, 4);
  }
  assert.equal(n, 24);
  const ev = (await model.readRolloutGroup(1, 0)).rollouts[0] as unknown as { recorded: Record<string, number>; n_gen_source: string; prompt: string };
  assert.equal(typeof ev.recorded.advantage, 'number');
  assert.equal(typeof ev.recorded.accuracy, 'number');
  assert.equal(ev.n_gen_source, 'estimate');
  assert.ok(model.metricKeys().includes('recorded/advantage/mean'));
  // non-ASCII prompts come through intact
  const all = await Promise.all([1, 2].flatMap((s) => model.queryIndices(s).map((q) => model.readRolloutGroup(s, q))));
  assert.ok(all.flatMap((g) => g.rollouts).some((e) => /Réfléchis|请逐步推理/.test(e.prompt)));
});

test('lm-eval samples: repeats per doc, tiers from the prompt, correctness needs the grader', async () => {
  const r = await openExternalRun(join(FIX, 'eval', 'lm-eval'), tmp);
  assert.equal(r.rollouts, 24); // 8 docs x 3 repeats
  assert.deepEqual(r.tiers, [32, 128]);
  assert.equal(r.groups, 4); // a problem's two budgets are one group
  const noVerdict = r.issues.filter((i) => i.field === 'correct');
  assert.equal(noVerdict.length, 24);
  assert.equal(noVerdict[0].line, 1);
  const python = join(ROOT, '.venv', 'bin', 'python');
  if (!existsSync(python)) return;
  const grader = new TrainerGrader(python, ROOT);
  try {
    const graded = await openExternalRun(join(FIX, 'eval', 'lm-eval'), tmp, {
      grade: (items) => Promise.all(items.map((i) => grader.grade(i.text, i.groundTruth).then((v) => v.correct))),
    });
    assert.equal(graded.issues.filter((i) => i.field === 'correct').length, 0);
    const model = await loadRunModel(graded.dir, { worker: 'never', index: false });
    const events = (await Promise.all(model.queryIndices(1).map((q) => model.readRolloutGroup(1, q)))).flatMap((g) => g.rollouts);
    // each doc's exact_match is the mean of its repeats' verdicts
    const byPrompt = new Map<string, boolean[]>();
    for (const e of events) byPrompt.set(e.prompt, [...(byPrompt.get(e.prompt) ?? []), e.correct]);
    for (const e of events) {
      const em = (e as unknown as { recorded: { exact_match: number } }).recorded.exact_match;
      const v = byPrompt.get(e.prompt)!;
      assert.equal(v.filter(Boolean).length / v.length, em);
    }
  } finally {
    grader.dispose();
  }
});

test('SkyThought runs (skythought evaluate, one per budget): one query per problem with both budgets as tiers, verdicts and token counts as recorded', async () => {
  const root = join(FIX, 'eval', 'skythought');
  const runs = readdirSync(root).sort();
  assert.equal(runs.length, 2);
  const results = runs.map((d) => JSON.parse(readFileSync(join(root, d, 'results.json'), 'utf8')) as Record<string, {
    problem: string; difficulty: string; responses: { content: string; correctness: boolean }[]; token_usages: { completion_tokens: number }[];
  }>);
  const r = await openExternalRun(root, tmp);
  assert.equal(r.issues.length, 0, JSON.stringify(r.issues));
  assert.equal(r.rollouts, 24);
  assert.equal(r.tokens, 'recorded');
  assert.deepEqual(r.tiers, [32, 128]);
  // one model: one step; each problem is one group holding both runs' samples
  assert.deepEqual(r.steps, [1]);
  assert.equal(r.groups, 4);
  const model = await loadRunModel(r.dir, { worker: 'never', index: false });
  let correct = 0;
  for (let q = 0; q < 4; q++) {
    const g = await model.readRolloutGroup(1, q);
    assert.equal(g.rollouts.length, 6);
    assert.deepEqual(g.rollouts.map((e) => e.tier).sort((a, b) => a! - b!), [32, 32, 32, 128, 128, 128]);
    for (const e of g.rollouts) {
      const budget = e.tier!;
      // the run of this budget: SkyThought's `prompt` is its assistant prefill, the budget sentence
      const item = results.find((x) => (x[String(q)] as unknown as { prompt: string }).prompt.includes(` ${budget} tokens`))![String(q)];
      const i = item.responses.findIndex((x) => x.content === e.text);
      assert.ok(i >= 0, `rollout text not in the ${budget}-token run's responses`);
      assert.equal(e.n_gen, item.token_usages[i].completion_tokens);
      assert.equal(e.correct, item.responses[i].correctness);
      assert.equal(e.difficulty, item.difficulty);
      assert.equal(e.problem, item.problem);
      // the prompt is the conversation the model saw: the user's message and the budget prefill
      assert.match(e.prompt, /^user:\n/);
      assert.ok(e.prompt.includes(item.problem));
      assert.ok(e.prompt.includes(`I will answer the question within ${budget} tokens.`));
      correct += Number(e.correct);
    }
  }
  const recordedCorrect = results.flatMap((x) => Object.values(x).flatMap((it) => it.responses.map((y) => Number(y.correctness)))).reduce((a, b) => a + b, 0);
  assert.equal(correct, recordedCorrect);
  // one run folder, and its results.json alone, read the same 12 samples; summary.json is no results file
  assert.equal(await detectSource(join(root, runs[0])), 'skythought');
  const one = await openExternalRun(join(root, runs[0]), join(tmp, 'sky-one'));
  const file = await openExternalRun(join(root, runs[0], 'results.json'), join(tmp, 'sky-file'));
  assert.equal(one.rollouts, 12);
  assert.equal(file.rollouts, 12);
  assert.equal(one.issues.length + file.issues.length, 0);
});

test('SkyThought: two models are two steps; a response without content is reported with its file, row and field', async () => {
  const root = join(FIX, 'eval', 'skythought');
  const [a, b] = readdirSync(root).sort();
  const dir = join(tmp, 'sky-models');
  for (const [d, name] of [[a, 'org/model-a'], [b, 'org/model-b']] as const) {
    mkdirSync(join(dir, d), { recursive: true });
    const summary = JSON.parse(readFileSync(join(root, d, 'summary.json'), 'utf8'));
    summary.configuration.model.name = name;
    writeFileSync(join(dir, d, 'summary.json'), JSON.stringify(summary));
    const res = JSON.parse(readFileSync(join(root, d, 'results.json'), 'utf8'));
    if (d === b) delete res['1'].responses[2].content;
    writeFileSync(join(dir, d, 'results.json'), JSON.stringify(res));
  }
  const r = await openExternalRun(dir, tmp);
  assert.deepEqual(r.steps, [1, 2]);
  assert.equal(r.rollouts, 23);
  assert.equal(r.issues.length, 1);
  assert.equal(r.issues[0].field, '1.responses[2].content');
  assert.equal(r.issues[0].row, 1);
  assert.ok(r.issues[0].file.endsWith(join(b, 'results.json')));
});

test('a verl line without `output` and one with a string step: reported with file, line and field; the rest loads', async () => {
  const dir = join(tmp, 'verl-bad');
  mkdirSync(dir, { recursive: true });
  const lines = readFileSync(join(FIX, 'verl', '1.jsonl'), 'utf8').split('\n').filter((l) => l);
  const a = JSON.parse(lines[2]);
  delete a.output;
  lines[2] = JSON.stringify(a);
  const b = JSON.parse(lines[5]);
  b.step = 'one';
  lines[5] = JSON.stringify(b);
  writeFileSync(join(dir, '1.jsonl'), lines.join('\n') + '\n');
  const r = await openExternalRun(dir, tmp);
  assert.equal(r.rollouts, 17);
  const missing = r.issues.find((i) => i.field === 'output')!;
  assert.equal(missing.line, 3);
  assert.match(missing.file, /verl-bad\/1\.jsonl$/);
  const step = r.issues.find((i) => i.field === 'step')!;
  assert.equal(step.line, 6);
  assert.match(step.message, /file name's step 1/);
  assert.deepEqual(r.steps, [1]);
  const model = await loadRunModel(r.dir, { worker: 'never', index: false });
  assert.equal(model.rolloutCount, 17);
  assert.ok(model.logs.some((l) => /verl-bad\/1\.jsonl: line 3: output: missing/.test(l.message)));
});

test('TRL: a torn parquet file is reported and the other step loads; rows missing a field are reported by row', async () => {
  const dir = join(tmp, 'trl-bad', 'completions');
  mkdirSync(dir, { recursive: true });
  copyFileSync(join(FIX, 'trl', 'completions', 'completions_00001.parquet'), join(dir, 'completions_00001.parquet'));
  const whole = readFileSync(join(FIX, 'trl', 'completions', 'completions_00002.parquet'));
  writeFileSync(join(dir, 'completions_00002.parquet'), whole.subarray(0, whole.length >> 1));
  const r = await openExternalRun(join(tmp, 'trl-bad'), tmp);
  assert.equal(r.rollouts, 12);
  assert.deepEqual(r.steps, [1]);
  const torn = r.issues.filter((i) => i.field === '(file)');
  assert.equal(torn.length, 1);
  assert.match(torn[0].file, /completions_00002\.parquet$/);

  // the same table exported as JSON (W&B's {columns, data}), two rows damaged
  const model = await loadRunModel(r.dir, { worker: 'never', index: false });
  const rows = (await Promise.all(model.queryIndices(1).map((q) => model.readRolloutGroup(1, q)))).flatMap((g) => g.rollouts);
  const columns = ['step', 'prompt', 'completion', 'accuracy', 'advantage'];
  const data: unknown[][] = rows.map((e) => {
    const rec = (e as unknown as { recorded: Record<string, number> }).recorded;
    return [1, e.prompt, e.text, rec.accuracy, rec.advantage];
  });
  data[4][2] = null;
  data[7][4] = 'n/a';
  const json = join(tmp, 'trl-table.json');
  writeFileSync(json, JSON.stringify({ columns, data }));
  const t = await openExternalRun(json, tmp, { kind: 'trl' });
  assert.equal(t.rollouts, 11);
  assert.deepEqual(t.issues.map((i) => [i.row, i.field]), [[4, 'completion'], [7, 'advantage']]);
});

test('a verl folder still being written: a new step file is read into the same run folder, and its tailer sees it', async () => {
  const dir = join(tmp, 'verl-live');
  mkdirSync(dir, { recursive: true });
  copyFileSync(join(FIX, 'verl', '1.jsonl'), join(dir, '1.jsonl'));
  const first = await openExternalRun(dir, tmp);
  assert.deepEqual(first.steps, [1]);
  const tailer = new RunTailer(first.dir, { worker: 'never' });
  await tailer.start();
  assert.equal(tailer.model.rolloutCount, 18);
  const updates: number[][] = [];
  const follower = new SourceFollower(dir, tmp, { kind: 'verl', debounceMs: 50, pollMs: 100, onUpdate: (o) => updates.push(o.steps) });
  try {
    copyFileSync(join(FIX, 'verl', '2.jsonl'), join(dir, '2.jsonl'));
    const deadline = Date.now() + 10_000;
    while (updates.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await follower.idle();
    assert.deepEqual(updates.at(-1), [1, 2]);
    const count = (): number => tailer.model.rolloutCount;
    while (count() !== 35 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(tailer.model.rolloutCount, 35);
    assert.deepEqual(tailer.model.rolloutSteps(), [1, 2]);
  } finally {
    follower.dispose();
    tailer.dispose();
  }
});

test('a TRL output folder followed: a step file written into its completions/ folder is read (the output folder itself does not change)', async () => {
  const dir = join(tmp, 'trl-live');
  mkdirSync(join(dir, 'completions'), { recursive: true });
  copyFileSync(join(FIX, 'trl', 'completions', 'completions_00001.parquet'), join(dir, 'completions', 'completions_00001.parquet'));
  const first = await openExternalRun(dir, tmp);
  assert.deepEqual(first.steps, [1]);
  const updates: number[][] = [];
  // no fs.watch events can help here: only the poll of the step files' sizes and mtimes
  const follower = new SourceFollower(dir, tmp, { kind: 'trl', debounceMs: 50, pollMs: 100, onUpdate: (o) => updates.push(o.steps) });
  try {
    const deadline = Date.now() + 10_000;
    while (updates.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await follower.idle();
    assert.deepEqual(updates.at(-1), [1], 'the first poll reads once, and finds nothing new');
    const before = statSync(dir).mtimeMs;
    copyFileSync(join(FIX, 'trl', 'completions', 'completions_00002.parquet'), join(dir, 'completions', 'completions_00002.parquet'));
    assert.equal(statSync(dir).mtimeMs, before);
    while (updates.at(-1)?.length !== 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await follower.idle();
    assert.deepEqual(updates.at(-1), [1, 2]);
  } finally {
    follower.dispose();
  }
});

test('a verl folder opened again: unchanged, nothing is read; from a changed file on, read again and appended as a resume; a removed file\'s step goes', async () => {
  const dir = join(tmp, 'verl-again');
  mkdirSync(dir, { recursive: true });
  const one = readFileSync(join(FIX, 'verl', '1.jsonl'), 'utf8');
  const two = readFileSync(join(FIX, 'verl', '2.jsonl'), 'utf8');
  writeFileSync(join(dir, '1.jsonl'), one);
  writeFileSync(join(dir, '2.jsonl'), two);
  writeFileSync(join(dir, '3.jsonl'), one.split('\n').filter((l) => l).map((l) => JSON.stringify({ ...JSON.parse(l), step: 3 })).join('\n') + '\n');
  const starts: string[] = [];
  const open = (extra: Parameters<typeof openExternalRun>[2] = {}) => openExternalRun(dir, tmp, { onStarted: (d) => void starts.push(d), ...extra });
  const modelOf = async (r: { dir: string }) => loadRunModel(r.dir, { worker: 'never', index: false });

  const first = await open();
  assert.equal(first.filesRead, 3);
  assert.deepEqual([first.rollouts, first.steps, first.tiers], [18 + 17 + 18, [1, 2, 3], [32, 64, 128]]);
  const stamp = () => { const s = statSync(first.eventsPath); return [s.size, s.mtimeMs]; };
  const written = stamp();

  const again = await open();
  assert.equal(again.filesRead, 0);
  assert.deepEqual(stamp(), written, 'nothing written when no file changed');
  assert.deepEqual([again.rollouts, again.steps, again.groups, again.issues.length], [first.rollouts, first.steps, first.groups, first.issues.length]);
  assert.deepEqual(starts, [first.dir, first.dir]);

  // step 2's file rewritten shorter (a dump still being written, then finished otherwise): 2 and 3 are read again
  writeFileSync(join(dir, '2.jsonl'), two.split('\n').slice(0, 10).join('\n') + '\n');
  const changed = await open();
  assert.equal(changed.filesRead, 2);
  assert.deepEqual([changed.rollouts, changed.steps], [18 + 10 + 18, [1, 2, 3]]);
  assert.equal(changed.issues.filter((i) => i.field === '(line)').length, 0, 'the torn line went with the old file');
  let model = await modelOf(changed);
  assert.equal(model.errorCount, 0, JSON.stringify(model.errors));
  assert.equal(model.rolloutCount, 46);
  assert.deepEqual(model.rolloutSteps(), [1, 2, 3]);
  assert.equal(model.status(() => false), 'finished');
  assert.equal((await Promise.all(model.queryIndices(2).map((q) => model.readRolloutGroup(2, q)))).flatMap((g) => g.rollouts).length, 10);

  rmSync(join(dir, '3.jsonl'));
  const removed = await open();
  assert.equal(removed.filesRead, 0);
  assert.deepEqual([removed.rollouts, removed.steps], [28, [1, 2]]);
  model = await modelOf(removed);
  assert.equal(model.rolloutCount, 28);
  assert.deepEqual(model.rolloutSteps(), [1, 2]);

  // another budget pattern changes every tier: read again from nothing
  const fresh = await open({ budgetPattern: 'within (\\d+) tokens' });
  assert.equal(fresh.filesRead, 2);
  assert.equal((await modelOf(fresh)).rolloutCount, 28);
});
