// Opening a big run: how fast the extension's real loader (extension/runs/runFile.ts loadRunFile)
// turns an events.jsonl into a RunModel, against a plain sequential read of the same file measured
// in the same run (the anchor). Generates a schema-valid run of the paper's shape by default (629 steps
// x 64 queries x 16 rollouts, tiers 512/1024/2048/2560 of L_max 4096: ~8 GB) or reads --file.
//
//   npm run bench:runs -- [--scale 1/16] [--steps 629] [--queries 64] [--rollouts 16]
//                         [--tiers 512,1024,2048,2560] [--max-tokens 4096] [--mean-tokens 2600]
//                         [--seed 1] [--dir /tmp] [--keep] [--file PATH] [--modes worker,in-process]
//                         [--groups 20] [--live-mb 200]
//
// --scale multiplies the number of steps (1/16: 39 steps, ~0.5 GB). A generated rollout line is like
// the trainer's: a v2 event, ~4 characters of text a token (so ~10 K characters at the default mean)
// with chat-template tokens, math symbols, CJK and escapes (\n, \", \\, \u0007), token marks at every
// 32 tokens, at each tier budget and at n_gen; samples are numbered within (query, tier); a step event
// with per_tier metrics after each step's rollouts, a checkpoint every 50 steps, evals every 100.
// The file goes under --dir and is deleted at the end unless --keep.
//
// Prints one JSON line per figure: {figure, value, unit, ...}. The anchor is `raw_read` (MB/s, warm:
// the file was just written or read, so it is in the page cache; this script does not drop caches):
// the file read start to end through FileHandle.read in 1 MiB chunks, as the loader reads it, with no
// decoding (`sync_mb_s`: the same with readSync). `ratio` is index build speed over that anchor.
// Each loader mode runs in a child process of its own, so `peak_rss_mb` is that mode's alone
// (measured before the resume and the second open below). Before each mode the persisted index
// (`<run folder>/.events.index`, also next to a --file) is deleted, so index_build is a first open.
// Per mode, besides:
//   resume_drop  ms for model.apply(run_start with resumed_from_step = floor(total_steps x 0.9)) on
//                the loaded model: the extension host's stall when a live run resumes (goal < 50 ms).
//   second_open  s for a second loadRunFile + RunModel of the unchanged file; `index_used` says whether
//                the first load left .events.index next to it (waited for up to 3 s); goal < 2 s,
//                `ratio` over the raw read's seconds.
// Once, after the modes:
//   live_ingest  a RunTailer ({watch: true, pollMs: 200}) in a child process follows an events.jsonl
//                that a writer process grows to the first --live-mb MiB of the run (cut at a line end)
//                in 256 KiB appends, as fast as it can. Twice: `from: run_start`, the tailer started on
//                the run's first line, so what comes is read as appended lines (a live run with its
//                dashboard open); `from: empty`, started on an empty file, so the first growth it sees
//                is loaded whole (in the worker once over 2 MiB) and the rest read on. `value`: events
//                in the model / s from the writer's first write until the model holds every line;
//                `max_stall_ms`: the worst event-loop delay of the tailer's process over that time
//                (monitorEventLoopDelay, 10 ms resolution; `max_tick_gap_ms`: the longest gap of a 5 ms
//                interval, less 5; `max_gc_ms`: the longest garbage collection in that time). Goal
//                >= 2,000 events/s, no stall > 50 ms. `ratio`: `mb_s` over the
//                raw read. Each in a temp folder of its own, deleted after.
// Run with tsx (the loader is TypeScript): `node --import tsx scripts/bench-runs.mjs`.
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, open } from 'node:fs/promises';
import { closeSync, createWriteStream, existsSync, mkdtempSync, openSync, readSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { monitorEventLoopDelay, performance, PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const MB = 1024 * 1024;
/** The persisted index a load leaves next to the run (runFile.ts); absent, a second open is a scan. */
const INDEX_FILE = '.events.index';
const INDEX_WAIT_MS = 3000; // how long second_open waits for the first load's index to appear
const WRITE_CHUNK = 256 * 1024; // live_ingest's writer: one write a chunk
const TICK_MS = 5; // live_ingest's stall probe
const LIVE_TIMEOUT_MS = 10 * 60 * 1000;

const { values: opt } = parseArgs({
  options: {
    scale: { type: 'string', default: '1' },
    steps: { type: 'string' },
    queries: { type: 'string', default: '64' },
    rollouts: { type: 'string', default: '16' },
    tiers: { type: 'string', default: '512,1024,2048,2560' },
    'max-tokens': { type: 'string', default: '4096' },
    'mean-tokens': { type: 'string', default: '2600' },
    seed: { type: 'string', default: '1' },
    dir: { type: 'string', default: tmpdir() },
    keep: { type: 'boolean', default: false },
    file: { type: 'string' },
    modes: { type: 'string', default: 'worker,in-process' },
    groups: { type: 'string', default: '20' },
    'live-mb': { type: 'string', default: '200' },
    out: { type: 'string' }, // internal: live_ingest's folder (live) or file (writer)
    from: { type: 'string' }, // internal: live_ingest's start, 'run_start' or 'empty'
    skip: { type: 'string', default: '0' }, // internal: the bytes of the source the writer leaves out
    child: { type: 'string' }, // internal: measure one loader mode on --file
    help: { type: 'boolean', short: 'h' },
  },
});

if (opt.help) {
  console.log(readUsage());
  process.exit(0);
}

function readUsage() {
  return 'npm run bench:runs -- [--scale 1/16] [--steps N] [--queries 64] [--rollouts 16] [--tiers 512,1024,2048,2560]\n'
    + '  [--max-tokens 4096] [--mean-tokens 2600] [--seed 1] [--dir /tmp] [--keep] [--file PATH] [--modes worker,in-process] [--groups 20] [--live-mb 200]';
}

function fraction(s) {
  const [a, b] = s.split('/').map(Number);
  const x = b === undefined ? a : a / b;
  if (!(x > 0)) throw new Error(`--scale: not a positive number or fraction: ${s}`);
  return x;
}

function emit(figure, fields) {
  console.log(JSON.stringify({ figure, ...fields }));
}

/** mulberry32. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---------------------------------------------------------------------------------------------
// Generation

const SENTENCES = [
  'Let me think about this step by step.\n',
  'We need to find the value of $x$ such that $x^2 - 5x + 6 = 0$.\n',
  'Factoring: $(x - 2)(x - 3) = 0$, so $x \\in \\{2, 3\\}$.\n',
  'Wait, let me double-check: $2^2 - 5 \\cdot 2 + 6 = 4 - 10 + 6 = 0$ ✓.\n',
  'By the AM–GM inequality, $\\frac{a + b}{2} \\ge \\sqrt{ab}$ with equality iff $a = b$.\n',
  'So the sum is $\\sum_{k=1}^{n} k = \\frac{n(n+1)}{2}$, and for $n = 100$ that gives $5050$.\n',
  'Hmm, but the problem says "at most", so we need $n \\le 12$ — not $n < 12$.\n',
  'Alternatively, consider the angle θ with $\\cos θ = \\frac{3}{5}$; then $\\sin θ = \\frac{4}{5}$.\n',
  'Since $f(x) = e^{-x}$ is decreasing, $f(1) < f(0) = 1$. ∴ the bound holds.\n',
  'The area is $π r^2 = 9π ≈ 28.27$.\n',
  '所以答案是 $42$。让我再检查一下。\n',
  'Let\'s verify with a table:\n| n | f(n) |\n|---|------|\n| 1 | 2 |\n| 2 | 5 |\n',
  'Note: the path "C:\\\\tmp\\\\x" and the string "quoted" are not part of the answer.\n',
  'Therefore, the final answer is $\\boxed{17}$.\n',
  '</think>\n\nThe answer is $\\boxed{17}$.<|im_end|>\n',
  'Check the edge case: if $a = 0$ then $\\frac{1}{a}$ is undefined ⇒ exclude it.\n',
  'Using modular arithmetic: $7^{2024} \\equiv 7^{0} \\equiv 1 \\pmod{4}$.\n',
  '\u0007Odd control character in the sample text.\n',
  'Das Ergebnis ist größer als erwartet — also noch einmal nachrechnen.\n',
  'Then $|x - 3| < 2 \\iff 1 < x < 5$, and the integers are $2, 3, 4$.\n',
];

const PROBLEMS = [
  'Find all real $x$ with $x^2 - 5x + 6 = 0$. What is the sum of the solutions?',
  'A circle has radius 3. What is its area, to two decimal places? (Use π ≈ 3.14159.)',
  'How many positive integers $n \\le 100$ satisfy $n \\equiv 3 \\pmod 7$?',
  'Let $f(x) = 2x + 1$. Compute $f(f(f(1)))$.',
  '若 $a + b = 10$ 且 $ab = 21$，求 $a^2 + b^2$。',
];

function textOf(r, chars) {
  let out = '';
  let i = Math.floor(r() * SENTENCES.length);
  while (out.length < chars) {
    out += SENTENCES[i];
    i = (i + 1 + Math.floor(r() * 3)) % SENTENCES.length;
  }
  return out.slice(0, chars);
}

function promptOf(problem, tier) {
  return `<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n${problem}\n`
    + 'Please reason step by step, and put your final answer within \\boxed{}.<|im_end|>\n<|im_start|>assistant\n<think>\n'
    + `I will answer the question within ${tier} tokens.\n`;
}

function tokenMarks(nGen, tiers, charsPerToken) {
  const at = new Set([nGen]);
  for (let t = 32; t < nGen; t += 32) at.add(t);
  for (const t of tiers) if (t < nGen) at.add(t);
  return [...at].sort((a, b) => a - b).map((t) => [t, Math.round(t * charsPerToken)]);
}

const round = (x) => Math.round(x * 1e6) / 1e6;

/** Write a run of the given shape to `path`; returns its size in bytes and counts. */
async function generate(path, shape) {
  const { steps, queries, rollouts, tiers, maxTokens, meanTokens, seed } = shape;
  const r = rng(seed);
  const out = createWriteStream(path);
  let pending = [];
  let pendingChars = 0;
  let bytes = 0;
  let lines = 0;
  const write = async (obj) => {
    const s = `${JSON.stringify(obj)}\n`;
    pending.push(s);
    pendingChars += s.length;
    lines++;
    if (pendingChars > 4 * MB) await flush();
  };
  const flush = async () => {
    const chunk = Buffer.from(pending.join(''));
    bytes += chunk.length;
    pending = [];
    pendingChars = 0;
    if (!out.write(chunk)) await new Promise((res) => out.once('drain', res));
  };
  const beta = 4;
  const alpha = 1 / maxTokens;
  const f2 = (b) => beta * Math.cos((Math.PI * b) / (2 * maxTokens));
  const cos = (n) => beta * Math.cos((Math.PI * n) / (2 * maxTokens));
  let time = 1796033068.95;
  const perTier = rollouts / tiers.length;
  await write({
    v: 2, type: 'run_start', time, step: 0, run_id: 'bench-run',
    config: { method: 'hbpo', tiers, rollouts_per_query: rollouts, max_response_tokens: maxTokens, train: { queries_per_step: queries, steps } },
    method: 'hbpo', tiers, max_response_tokens: maxTokens, total_steps: steps, device: 'cuda', dtype: 'bfloat16',
    parameters: 1_543_714_304, trainable_parameters: 1_543_714_304, pid: 4242, resumed_from_step: null,
    versions: { hbpo: '0.1.0', torch: '2.15.0' },
    reward: { name: 'hbpo', variant: 'paper', alpha, beta, max_response_tokens: maxTokens },
    advantage: { name: 'hbpo', eps: 1e-6 },
  });
  for (let step = 1; step <= steps; step++) {
    const scored = [];
    for (let q = 0; q < queries; q++) {
      const problem = PROBLEMS[(step * queries + q) % PROBLEMS.length];
      const group = [];
      for (let i = 0; i < rollouts; i++) {
        const tier = tiers[Math.floor(i / perTier)] ?? tiers[tiers.length - 1];
        const sample = i % perTier;
        const nGen = Math.max(16, Math.min(maxTokens, Math.round(meanTokens * (0.5 + r()))));
        const truncated = nGen >= maxTokens;
        const correct = !truncated && r() < 0.7;
        const charsPerToken = 3.6 + 0.8 * r();
        const n1 = cos(nGen) - alpha * Math.abs(nGen - tier);
        const reward = !correct ? 0 : nGen <= tier ? f2(tier) : n1;
        group.push({ tier, sample, nGen, truncated, correct, charsPerToken, reward, n1 });
      }
      const mean = group.reduce((a, g) => a + g.reward, 0) / rollouts;
      const std = Math.sqrt(group.reduce((a, g) => a + (g.reward - mean) ** 2, 0) / rollouts);
      for (const g of group) {
        time += 0.01;
        const tierMean = group.filter((x) => x.tier === g.tier).reduce((a, x) => a + x.reward, 0) / perTier;
        const intra = tierMean - f2(g.tier);
        const inter = (g.reward - mean) / (std + 1e-6);
        const event = {
          v: 2, type: 'rollout', time, step, query_id: `deepscaler-${(step * 7919 + q * 104729) % 40315}`, query_index: q,
          sample: g.sample, tier: g.tier, problem, difficulty: ['easy', 'medium', 'hard'][q % 3],
          prompt: promptOf(problem, g.tier), text: textOf(r, Math.round(g.nGen * g.charsPerToken)),
          token_marks: tokenMarks(g.nGen, tiers, g.charsPerToken), n_gen: g.nGen, truncated: g.truncated,
          correct: g.correct, answer: g.truncated ? null : g.correct ? '17' : '15', ground_truth: '17',
          reward: {
            reward: round(g.reward), cos: round(cos(g.nGen)), penalty: round(alpha * Math.abs(g.nGen - g.tier)),
            f1: round(g.n1), f2: round(f2(g.tier)),
            case: g.truncated ? 'truncated' : !g.correct ? 'wrong' : g.nGen <= g.tier ? 'within' : 'over',
          },
          advantage: { intra: round(intra), inter: round(inter), total: round(intra + inter) },
        };
        scored.push(g);
        await write(event);
      }
    }
    time += 1;
    const avg = (xs) => xs.reduce((a, x) => a + x, 0) / Math.max(1, xs.length);
    const per_tier = tiers.map((tier) => {
      const gs = scored.filter((g) => g.tier === tier);
      const lengths = gs.map((g) => g.nGen);
      return {
        tier,
        metrics: {
          mean_length: round(avg(lengths)), length_std: round(Math.sqrt(avg(lengths.map((x) => (x - avg(lengths)) ** 2)))),
          min_length: Math.min(...lengths), max_length: Math.max(...lengths), accuracy: round(avg(gs.map((g) => +g.correct))),
          reward: round(avg(gs.map((g) => g.reward))), truncated: round(avg(gs.map((g) => +g.truncated))),
          'reward/f1': round(avg(gs.map((g) => g.n1))), 'reward/f2': round(f2(tier)),
          over_budget: round(avg(gs.map((g) => +(g.nGen > tier)))), 'advantage/intra': round(r() - 0.5), 'advantage/inter': 0,
        },
      };
    });
    await write({
      v: 2, type: 'step', time, step,
      metrics: {
        'reward/mean': round(avg(scored.map((g) => g.reward))), 'reward/std': round(r()), accuracy: round(avg(scored.map((g) => +g.correct))),
        'length/mean': round(avg(scored.map((g) => g.nGen))), 'length/std': round(300 * r()), loss: round(r() - 0.5),
        approx_kl: round(r() * 1e-3), clip_fraction: round(r() * 0.1), grad_norm: round(r()), lr: 1e-6,
      },
      per_tier,
    });
    if (step % 50 === 0) await write({ v: 2, type: 'checkpoint', time, step, path: `checkpoints/step-${step}`, reason: 'periodic' });
    if (step % 100 === 0) {
      for (const mode of ['natural', 'efficiency', ...tiers.map((t) => `tier:${t}`)]) {
        await write({
          v: 2, type: 'eval', time, step, dataset: 'gsm8k', mode, n: 1319, accuracy: round(r()), mean_tokens: round(2000 * r()),
          truncated: round(r() * 0.1), by_difficulty: { easy: { n: 400, accuracy: round(r()), mean_tokens: round(900 * r()) } },
        });
      }
    }
  }
  await write({ v: 2, type: 'run_end', time: time + 1, step: steps, status: 'finished', reason: 'completed', checkpoint: `checkpoints/step-${steps}` });
  await flush();
  await new Promise((res, rej) => out.end((err) => (err ? rej(err) : res())));
  return { bytes, lines };
}

// ---------------------------------------------------------------------------------------------
// Measuring

/**
 * Plain sequential read of the whole file into one reused 1 MiB buffer: the anchor. `async`: through
 * FileHandle.read, the loader's own I/O path (libuv's thread pool, one round trip a chunk); else readSync.
 */
async function rawRead(path, async = true) {
  const buf = Buffer.alloc(MB);
  let size = 0;
  const t0 = performance.now();
  if (async) {
    const file = await open(path, 'r');
    try {
      for (;;) {
        const { bytesRead } = await file.read(buf, 0, buf.length, size);
        if (bytesRead === 0) break;
        size += bytesRead;
      }
    } finally {
      await file.close();
    }
  } else {
    const fd = openSync(path, 'r');
    try {
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, size);
        if (n === 0) break;
        size += n;
      }
    } finally {
      closeSync(fd);
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  return { size, seconds, mbPerS: size / MB / seconds };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** In a child process: one loader mode on `path`, printing a JSON object with its figures. */
async function child(path, mode, groups) {
  const { loadRunFile } = await import('../extension/runs/runFile.ts');
  const { RunModel } = await import('../extension/runs/runModel.ts');
  const { readRollout } = await import('../extension/runs/rolloutReader.ts');
  const { formatTraceDocument } = await import('../extension/traces/traceText.ts');
  const { annotate, specOfRollout } = await import('../extension/traces/annotate.ts');
  const baselineRssMb = process.memoryUsage().rss / MB;
  const t0 = performance.now();
  const loaded = await loadRunFile(path, { worker: mode === 'worker' ? 'always' : 'never' });
  const model = new RunModel(path, loaded.state);
  const loadMs = performance.now() - t0;
  const firstKey = model.metricKeys()[0];
  const firstSeries = firstKey ? model.series(firstKey) : undefined;
  const firstMetricsMs = performance.now() - t0; // metrics come only with the whole model
  const steps = model.rolloutSteps();
  const r = rng(7);
  const groupMs = [];
  const traceMs = [];
  let groupSize = 0;
  let t;
  for (let i = 0; i < groups && steps.length > 0; i++) {
    const step = steps[Math.floor(r() * steps.length)];
    const qs = model.queryIndices(step);
    const q = qs[Math.floor(r() * qs.length)];
    t = performance.now();
    const read = await model.readRolloutGroup(step, q);
    groupMs.push(performance.now() - t);
    groupSize = read.rollouts.length;
    const s = model.rolloutGroup(step, q)[Math.floor(r() * groupSize)];
    t = performance.now();
    const e = await readRollout(model, s);
    formatTraceDocument(e, 'bench');
    annotate(specOfRollout(e, model.info));
    traceMs.push(performance.now() - t);
  }
  const peakRssMb = process.resourceUsage().maxRSS / 1024; // before the resume and the second open below

  // A resume from 90 % of the way: the run_start that supersedes the later steps, as the tailer
  // applies it on the extension host's thread.
  const lastStep = model.info?.total_steps ?? Math.max(0, ...steps);
  const resumeStep = Math.floor(lastStep * 0.9);
  const rolloutsBefore = model.rolloutCount;
  const resume = {
    ...model.info, v: 2, type: 'run_start', time: (model.lastEventTime ?? 0) + 1, step: resumeStep, resumed_from_step: resumeStep,
  };
  t = performance.now();
  model.apply(resume);
  const resumeMs = performance.now() - t;
  const rolloutsAfter = model.rolloutCount;

  // The same file opened again, unchanged: with a persisted index next to it, that is not a scan.
  const indexPath = join(dirname(path), INDEX_FILE);
  t = performance.now();
  while (!existsSync(indexPath) && performance.now() - t < INDEX_WAIT_MS) await new Promise((res) => setTimeout(res, 50));
  const indexWaitMs = performance.now() - t;
  const indexUsed = existsSync(indexPath);
  t = performance.now();
  const again = new RunModel(path, (await loadRunFile(path, { worker: mode === 'worker' ? 'always' : 'never' })).state);
  const secondMs = performance.now() - t;
  console.log(JSON.stringify({
    mode, usedWorker: loaded.usedWorker, loadMs, firstMetricsMs, firstSeriesPoints: firstSeries?.steps.length ?? 0,
    rollouts: rolloutsBefore, errors: model.errorCount, bytes: loaded.size,
    peakRssMb, baselineRssMb,
    groupSize, groupMsMedian: median(groupMs), groupMsMax: Math.max(...groupMs), traceMsMedian: median(traceMs), traceMsMax: Math.max(...traceMs),
    resumeMs, resumeStep, rolloutsBefore, rolloutsAfter,
    secondMs, indexUsed, indexWaitMs, secondRollouts: again.rolloutCount,
  }));
}

/**
 * In a child process of its own: append bytes `skip` to `limit` of `source` to `dest` (cut at a line
 * end) in WRITE_CHUNK writes, as fast as it can; prints {start} when it begins, then its figures.
 */
function writer(source, dest, skip, limit) {
  const buf = Buffer.alloc(WRITE_CHUNK);
  const input = openSync(source, 'r');
  const output = openSync(dest, 'a');
  let bytes = skip;
  let lines = 0;
  const t0 = performance.now();
  console.log(JSON.stringify({ start: Date.now() }));
  try {
    for (;;) {
      const want = Math.min(buf.length, limit - bytes);
      if (want <= 0) break;
      let n = readSync(input, buf, 0, want, bytes);
      if (n === 0) break; // the source ended before the limit
      if (bytes + n >= limit) n = buf.lastIndexOf(0x0a, n - 1) + 1; // the last write ends at a line end
      if (n === 0) break;
      const chunk = buf.subarray(0, n);
      for (let i = chunk.indexOf(0x0a); i !== -1; i = chunk.indexOf(0x0a, i + 1)) lines++;
      writeSync(output, chunk);
      bytes += n;
    }
  } finally {
    closeSync(input);
    closeSync(output);
  }
  console.log(JSON.stringify({ bytes: bytes - skip, lines, seconds: (performance.now() - t0) / 1000 }));
}

/**
 * In a child process: a RunTailer follows `dir`/events.jsonl, empty at the start or holding the run's
 * first line (`from`), while a writer process grows it from `source` up to `limit` bytes; prints the
 * ingest rate and the worst stall of this event loop.
 */
async function live(source, dir, limit, from) {
  const { RunTailer } = await import('../extension/runs/runTailer.ts');
  const dest = join(dir, 'events.jsonl');
  let first = new Uint8Array(0);
  if (from === 'run_start') {
    const head = Buffer.alloc(MB);
    const fd = openSync(source, 'r');
    const n = readSync(fd, head, 0, head.length, 0);
    closeSync(fd);
    first = head.subarray(0, head.subarray(0, n).indexOf(0x0a) + 1);
    if (first.length === 0) throw new Error('live_ingest: no line end in the first MiB');
  }
  const skip = first.length;
  writeFileSync(dest, first);
  const tailer = new RunTailer(dir, { watch: true, pollMs: 200 });
  await tailer.start();
  const m = tailer.model;
  // Every event of a generated run is one the model keeps: run_start, rollouts, steps, evals, checkpoints, run_end.
  const ingested = () => {
    const key = m.metricKeys()[0];
    return m.starts + m.rolloutCount + (key ? m.series(key).steps.length : 0) + m.evals.length + m.checkpoints.length + (m.end ? 1 : 0);
  };
  const delay = monitorEventLoopDelay({ resolution: 10 });
  let gcMaxMs = 0; // garbage collection, for telling a stall of its own from one of the tailer's code
  let measuring = false;
  const gc = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) if (measuring) gcMaxMs = Math.max(gcMaxMs, e.duration);
  });
  gc.observe({ entryTypes: ['gc'] });
  let maxGap = 0;
  let last = performance.now();
  let done;
  let wrote;
  const finished = new Promise((res) => (done = res));
  let changes = 0;
  tailer.onDidChange(() => changes++);
  const tick = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last - TICK_MS);
    last = now;
    if (wrote && ingested() >= wrote.lines) done(now);
  }, TICK_MS);
  const proc = spawn(process.execPath, [fileURLToPath(import.meta.url), '--child', 'writer', '--file', source, '--out', dest,
    '--live-mb', String(limit / MB), '--skip', String(skip)],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  proc.on('exit', (code) => code !== 0 && done(undefined)); // a writer that failed: no figure, not a hang
  let out = '';
  let t0;
  let before = 0; // events in the model when the writer started: its run_start line, if given
  proc.stdout.on('data', (d) => {
    out += d;
    const lines = out.split('\n');
    out = lines.pop();
    for (const l of lines) {
      const msg = JSON.parse(l);
      if (msg.start) {
        t0 = performance.now();
        before = ingested();
        delay.reset();
        delay.enable();
        measuring = true;
        maxGap = 0;
        last = t0;
      } else {
        wrote = { ...msg, lines: msg.lines + (skip > 0 ? 1 : 0), at: performance.now() };
      }
    }
  });
  const deadline = setTimeout(() => done(undefined), LIVE_TIMEOUT_MS);
  const end = await finished;
  clearTimeout(deadline);
  clearInterval(tick);
  delay.disable();
  measuring = false;
  gc.disconnect();
  const count = ingested();
  tailer.dispose();
  proc.kill();
  const seconds = end === undefined ? undefined : (end - t0) / 1000;
  console.log(JSON.stringify({
    from, complete: end !== undefined, events: count, lines: wrote?.lines, bytes: wrote?.bytes, seconds,
    eventsPerS: seconds ? (count - before) / seconds : undefined, writerSeconds: wrote?.seconds,
    lagAfterWriterMs: end !== undefined && wrote ? end - wrote.at : undefined,
    maxStallMs: delay.max / 1e6, p99StallMs: delay.percentile(99) / 1e6, maxTickGapMs: maxGap, gcMaxMs, changes,
    errors: m.errorCount, loadedInWorker: tailer.loadedInWorker,
  }));
}

async function main() {
  if (opt.child === 'writer') return writer(opt.file, opt.out, Number(opt.skip), Number(opt['live-mb']) * MB);
  if (opt.child === 'live') return live(opt.file, opt.out, Number(opt['live-mb']) * MB, opt.from);
  if (opt.child) return child(opt.file, opt.child, Number(opt.groups));
  let path = opt.file && resolve(opt.file);
  let generated = false;
  if (path) {
    if (!existsSync(path)) throw new Error(`--file: no such file: ${path}`);
  } else {
    const scale = fraction(opt.scale);
    const shape = {
      steps: Math.max(1, Math.round((opt.steps ? Number(opt.steps) : 629) * scale)),
      queries: Number(opt.queries), rollouts: Number(opt.rollouts),
      tiers: opt.tiers.split(',').map(Number), maxTokens: Number(opt['max-tokens']), meanTokens: Number(opt['mean-tokens']),
      seed: Number(opt.seed),
    };
    if (shape.rollouts % shape.tiers.length !== 0) throw new Error('--rollouts must be a multiple of the number of tiers');
    path = join(resolve(opt.dir), `hbpo-bench-${process.pid}`, 'events.jsonl');
    rmSync(dirname(path), { recursive: true, force: true });
    await mkdir(dirname(path), { recursive: true });
    generated = true;
    const t0 = performance.now();
    const { bytes, lines } = await generate(path, shape);
    emit('generated', {
      value: bytes / MB, unit: 'MiB', path, lines, rollouts: shape.steps * shape.queries * shape.rollouts, shape,
      seconds: (performance.now() - t0) / 1000,
    });
  }
  try {
    await rawRead(path); // warm the page cache the same way for every mode
    const anchor = await rawRead(path);
    const sync = await rawRead(path, false);
    emit('raw_read', {
      value: anchor.mbPerS, unit: 'MiB/s', bytes: anchor.size, seconds: anchor.seconds, cache: 'warm',
      how: 'FileHandle.read, 1 MiB chunks (the loader\'s I/O)', sync_mb_s: sync.mbPerS,
    });
    const indexPath = join(dirname(path), INDEX_FILE);
    for (const mode of opt.modes.split(',').filter(Boolean)) {
      rmSync(indexPath, { force: true }); // index_build is a first open: a scan, not the last mode's index
      const res = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', mode, '--file', path, '--groups', opt.groups], {
        cwd: root, encoding: 'utf8', maxBuffer: 16 * MB,
      });
      const lastLine = res.stdout.trim().split('\n').pop() ?? '';
      if (res.status !== 0 || !lastLine.startsWith('{')) {
        emit('error', { mode, status: res.status, stderr: res.stderr.slice(-2000) });
        continue;
      }
      const m = JSON.parse(lastLine);
      const again = await rawRead(path); // the anchor next to this mode, in case the machine got busier
      const mbPerS = m.bytes / MB / (m.loadMs / 1000);
      emit('index_build', {
        mode, value: mbPerS, unit: 'MiB/s', seconds: m.loadMs / 1000, raw_read_mb_s: anchor.mbPerS, ratio: mbPerS / anchor.mbPerS,
        raw_read_after_mb_s: again.mbPerS, rollouts: m.rollouts, errors: m.errors, used_worker: m.usedWorker,
      });
      emit('peak_rss', { mode, value: m.peakRssMb, unit: 'MiB', baseline_mb: m.baselineRssMb,
        bytes_per_rollout: ((m.peakRssMb - m.baselineRssMb) * MB) / Math.max(1, m.rollouts) });
      emit('first_step_metrics', {
        mode, value: m.firstMetricsMs, unit: 'ms', points: m.firstSeriesPoints, note: 'after the whole file is indexed',
        raw_read_ms: anchor.seconds * 1000, ratio: m.firstMetricsMs / (anchor.seconds * 1000),
      });
      emit('read_group', { mode, value: m.groupMsMedian, max: m.groupMsMax, unit: 'ms', group_size: m.groupSize, samples: Number(opt.groups) });
      emit('open_trace', { mode, value: m.traceMsMedian, max: m.traceMsMax, unit: 'ms', samples: Number(opt.groups), note: 'read + layout + annotate' });
      emit('resume_drop', {
        mode, value: m.resumeMs, unit: 'ms', goal_ms: 50, resumed_from_step: m.resumeStep, rollouts_before: m.rolloutsBefore,
        rollouts_dropped: m.rolloutsBefore - m.rolloutsAfter, note: 'model.apply(run_start resumed_from_step = 90 % of the steps)',
      });
      emit('second_open', {
        mode, value: m.secondMs / 1000, unit: 's', goal_s: 2, index_used: m.indexUsed, index_wait_ms: m.indexWaitMs,
        first_open_s: m.loadMs / 1000, raw_read_s: anchor.seconds, ratio: m.secondMs / 1000 / anchor.seconds, rollouts: m.secondRollouts,
      });
    }
    // Live: a tailer following the file as a writer process grows it, from its run_start line (the
    // tailer reads on what is appended) and from empty (the first growth is a full load).
    for (const from of ['run_start', 'empty']) {
      const liveDir = mkdtempSync(join(resolve(opt.dir), 'hbpo-bench-live-'));
      try {
        const res = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', 'live', '--file', path,
          '--out', liveDir, '--live-mb', opt['live-mb'], '--from', from], { cwd: root, encoding: 'utf8', maxBuffer: 16 * MB });
        const lastLine = res.stdout.trim().split('\n').pop() ?? '';
        if (res.status !== 0 || !lastLine.startsWith('{')) {
          emit('error', { mode: `live from ${from}`, status: res.status, stderr: res.stderr.slice(-2000) });
          continue;
        }
        const m = JSON.parse(lastLine);
        const mbPerS = m.seconds ? m.bytes / MB / m.seconds : undefined;
        emit('live_ingest', {
          from, value: m.eventsPerS, unit: 'events/s', goal: 2000, complete: m.complete, events: m.events, lines: m.lines,
          mib: m.bytes / MB, seconds: m.seconds, mb_s: mbPerS, raw_read_mb_s: anchor.mbPerS, ratio: mbPerS && mbPerS / anchor.mbPerS,
          writer_seconds: m.writerSeconds, lag_after_writer_ms: m.lagAfterWriterMs,
          max_stall_ms: m.maxStallMs, p99_stall_ms: m.p99StallMs, max_tick_gap_ms: m.maxTickGapMs, max_gc_ms: m.gcMaxMs, goal_stall_ms: 50,
          changes: m.changes, errors: m.errors, loaded_in_worker: m.loadedInWorker,
        });
      } finally {
        rmSync(liveDir, { recursive: true, force: true });
      }
    }
  } finally {
    if (generated && !opt.keep) rmSync(dirname(path), { recursive: true, force: true });
    else if (generated) emit('kept', { path, bytes: statSync(path).size });
  }
}

main().catch((err) => {
  console.error(err?.stack ?? String(err));
  process.exit(1);
});
