// Opening a big run: how fast the extension's real loader (extension/runs/runFile.ts loadRunFile)
// turns an events.jsonl into a RunModel, against a plain sequential read of the same file measured
// in the same run (the anchor). Generates a schema-valid run of the paper's shape by default (629 steps
// x 64 queries x 16 rollouts, tiers 512/1024/2048/2560 of L_max 4096: ~8 GB) or reads --file.
//
//   npm run bench:runs -- [--scale 1/16] [--steps 629] [--queries 64] [--rollouts 16]
//                         [--tiers 512,1024,2048,2560] [--max-tokens 4096] [--mean-tokens 2600]
//                         [--seed 1] [--dir /tmp] [--keep] [--cold] [--file PATH] [--no-line-map]
//                         [--modes worker,in-process,worker-scan] [--groups 20] [--live-mb 200] [--workers N]
//
// The generated run has the trainer's line map `.events.lines` beside it (lineMap.ts), as a run the
// trainer wrote has; --no-line-map leaves it out. Modes: `worker` and `in-process` open the run as the
// extension does (through the line map when there is one that checks out), `worker-scan` and
// `in-process-scan` with the map ignored (`lineMap: false`): the open of a run without one (an older
// run, another tool's). `line_map` in index_build says whether the map was used, and why not.
//
// --workers N: the loader's parallel read (parallelRead.ts) with N ranges (threads); 1: one thread.
// Without it, the loader's default (min(cores, 8) ranges for spans of 64 MiB or more). `ranges` in
// index_build says how many ranges the first open read in parallel (absent: one thread).
//
// --scale multiplies the number of steps (1/16: 39 steps, ~0.5 GB). scripts/genRun.mjs writes it; a rollout line is like
// the trainer's: a v2 event, ~4 characters of text a token (so ~10 K characters at the default mean)
// with chat-template tokens, math symbols, CJK and escapes (\n, \", \\, \u0007), token marks at every
// 32 tokens, at each tier budget and at n_gen; samples are numbered within (query, tier); a step event
// with per_tier metrics after each step's rollouts, a checkpoint every 50 steps, evals every 100.
// The file goes under --dir and is deleted at the end unless --keep.
//
// Prints one JSON line per figure: {figure, value, unit, ...}. The anchor is `raw_read` (MB/s, warm:
// the file was just written or read, so it is in the page cache; with --cold the file's pages are
// evicted (`dd iflag=nocache count=0`) before the anchor, before each mode's first open and before
// the anchor read after it, so both read from the disk):
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
// Run with tsx (the loader is TypeScript): `node --import tsx scripts/bench-runs.mjs`. The worker
// modes run the worker as the extension does, bundled (esbuild, into the bench's temp folder), not
// through tsx, whose start-up would be counted in every first open.
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, open } from 'node:fs/promises';
import { closeSync, createWriteStream, existsSync, mkdtempSync, openSync, readSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { monitorEventLoopDelay, performance, PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { generate, rng } from './genRun.mjs';

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
    cold: { type: 'boolean', default: false },
    file: { type: 'string' },
    modes: { type: 'string', default: 'worker,in-process,worker-scan' },
    'no-line-map': { type: 'boolean', default: false },
    groups: { type: 'string', default: '20' },
    'live-mb': { type: 'string', default: '200' },
    workers: { type: 'string' },
    'worker-path': { type: 'string' }, // internal: the bundled run worker
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
    + '  [--max-tokens 4096] [--mean-tokens 2600] [--seed 1] [--dir /tmp] [--keep] [--cold] [--file PATH] [--modes worker,in-process] [--groups 20] [--live-mb 200] [--workers N]';
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

// ---------------------------------------------------------------------------------------------
// Measuring

/**
 * Plain sequential read of the whole file into one reused 1 MiB buffer: the anchor. `async`: through
 * FileHandle.read, the loader's own I/O path (libuv's thread pool, one round trip a chunk); else readSync.
 */
/** Drop the file's pages from the page cache (GNU dd's documented way; no root needed). */
function evict(path) {
  const res = spawnSync('dd', [`if=${path}`, 'iflag=nocache', 'count=0', 'status=none']);
  if (res.status !== 0) throw new Error(`--cold: could not evict ${path} from the page cache: ${res.stderr}`);
}

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
async function child(path, mode, groups, workerPath) {
  const { loadRunFile } = await import('../extension/runs/runFile.ts');
  const { RunModel } = await import('../extension/runs/runModel.ts');
  const { readRollout } = await import('../extension/runs/rolloutReader.ts');
  const { formatTraceDocument } = await import('../extension/traces/traceText.ts');
  const { annotate, specOfRollout } = await import('../extension/traces/annotate.ts');
  const baselineRssMb = process.memoryUsage().rss / MB;
  const t0 = performance.now();
  // The dashboard draws the first partial model that has step metrics (worker loads report them
  // as they read); an in-process load has them only with the whole model.
  let firstMetricsMs;
  let firstPoints = 0;
  const onProgress = (_p, partial) => {
    if (firstMetricsMs !== undefined || !partial?.metrics.size) return;
    firstMetricsMs = performance.now() - t0;
    firstPoints = Math.max(...[...partial.metrics.values()].map((x) => x.steps.length));
  };
  const parallel = opt.workers === undefined ? undefined : Number(opt.workers) > 1 ? { workers: Number(opt.workers) } : false;
  const worker = mode.startsWith('worker') ? 'always' : 'never';
  const lineMap = !mode.endsWith('-scan');
  const loaded = await loadRunFile(path, { worker, workerPath, onProgress, parallel, lineMap });
  const model = new RunModel(path, loaded.state);
  const loadMs = performance.now() - t0;
  const firstKey = model.metricKeys()[0];
  const firstSeries = firstKey ? model.series(firstKey) : undefined;
  firstMetricsMs ??= performance.now() - t0;
  if (!firstPoints) firstPoints = firstSeries?.steps.length ?? 0;
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
  // A read through the line map writes no index (it read little of the file): nothing to wait for.
  while (!loaded.lineMap?.used && !existsSync(indexPath) && performance.now() - t < INDEX_WAIT_MS) await new Promise((res) => setTimeout(res, 50));
  const indexWaitMs = performance.now() - t;
  const indexUsed = existsSync(indexPath);
  t = performance.now();
  const second = await loadRunFile(path, { worker, workerPath, lineMap });
  const again = new RunModel(path, second.state);
  const secondMs = performance.now() - t;
  console.log(JSON.stringify({
    mode, usedWorker: loaded.usedWorker, ranges: loaded.ranges, loadMs, firstMetricsMs, firstSeriesPoints: firstPoints,
    rollouts: rolloutsBefore, errors: model.errorCount, bytes: loaded.size,
    peakRssMb, baselineRssMb,
    groupSize, groupMsMedian: median(groupMs), groupMsMax: Math.max(...groupMs), traceMsMedian: median(traceMs), traceMsMax: Math.max(...traceMs),
    resumeMs, resumeStep, rolloutsBefore, rolloutsAfter,
    secondMs, indexUsed, indexWaitMs, secondRollouts: again.rolloutCount, lineMap: loaded.lineMap, secondLineMap: second.lineMap?.used,
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

/** extension/runs/runWorker.ts bundled as esbuild.config.mjs bundles it, into a temp folder removed at exit. */
async function bundleWorker() {
  const { build } = await import('esbuild');
  const dir = mkdtempSync(join(tmpdir(), 'hbpo-bench-worker-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const outfile = join(dir, 'runWorker.js');
  await build({ entryPoints: [join(root, 'extension/runs/runWorker.ts')], bundle: true, platform: 'node', format: 'cjs', target: 'node20', outfile, logLevel: 'warning' });
  return outfile;
}

async function main() {
  if (opt.child === 'writer') return writer(opt.file, opt.out, Number(opt.skip), Number(opt['live-mb']) * MB);
  if (opt.child === 'live') return live(opt.file, opt.out, Number(opt['live-mb']) * MB, opt.from);
  if (opt.child) return child(opt.file, opt.child, Number(opt.groups), opt['worker-path']);
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
    const { bytes, lines } = await generate(path, shape, { lineMap: !opt['no-line-map'] });
    emit('generated', {
      value: bytes / MB, unit: 'MiB', path, lines, rollouts: shape.steps * shape.queries * shape.rollouts, shape,
      seconds: (performance.now() - t0) / 1000,
    });
  }
  try {
    // Warm: the page cache holds the file for every mode. Cold: the file is evicted before each read.
    const cold = opt.cold;
    if (!cold) await rawRead(path);
    else evict(path);
    const anchor = await rawRead(path);
    if (cold) evict(path);
    const sync = await rawRead(path, false);
    emit('raw_read', {
      value: anchor.mbPerS, unit: 'MiB/s', bytes: anchor.size, seconds: anchor.seconds, cache: cold ? 'cold' : 'warm',
      how: 'FileHandle.read, 1 MiB chunks (the loader\'s I/O)', sync_mb_s: sync.mbPerS,
    });
    const indexPath = join(dirname(path), INDEX_FILE);
    const workerPath = await bundleWorker();
    for (const mode of opt.modes.split(',').filter(Boolean)) {
      rmSync(indexPath, { force: true }); // index_build is a first open: a scan, not the last mode's index
      if (cold) evict(path);
      const workers = opt.workers === undefined ? [] : ['--workers', opt.workers];
      const res = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', mode, '--file', path, '--groups', opt.groups, '--worker-path', workerPath, ...workers], {
        cwd: root, encoding: 'utf8', maxBuffer: 16 * MB,
      });
      const lastLine = res.stdout.trim().split('\n').pop() ?? '';
      if (res.status !== 0 || !lastLine.startsWith('{')) {
        emit('error', { mode, status: res.status, stderr: res.stderr.slice(-2000) });
        continue;
      }
      const m = JSON.parse(lastLine);
      if (cold) evict(path);
      const again = await rawRead(path); // the anchor next to this mode, in case the machine got busier
      const mbPerS = m.bytes / MB / (m.loadMs / 1000);
      emit('index_build', {
        mode, value: mbPerS, unit: 'MiB/s', seconds: m.loadMs / 1000, raw_read_mb_s: anchor.mbPerS, ratio: mbPerS / anchor.mbPerS,
        raw_read_after_mb_s: again.mbPerS, rollouts: m.rollouts, errors: m.errors, used_worker: m.usedWorker, ranges: m.ranges,
        line_map: m.lineMap,
      });
      emit('peak_rss', { mode, value: m.peakRssMb, unit: 'MiB', baseline_mb: m.baselineRssMb,
        bytes_per_rollout: ((m.peakRssMb - m.baselineRssMb) * MB) / Math.max(1, m.rollouts) });
      emit('first_step_metrics', {
        mode, value: m.firstMetricsMs, unit: 'ms', points: m.firstSeriesPoints,
        note: m.usedWorker ? 'the first partial model with step metrics (a first open: no index)' : 'with the whole model (in process: no partials)',
        raw_read_ms: anchor.seconds * 1000, ratio: m.firstMetricsMs / (anchor.seconds * 1000),
      });
      emit('read_group', { mode, value: m.groupMsMedian, max: m.groupMsMax, unit: 'ms', group_size: m.groupSize, samples: Number(opt.groups) });
      emit('open_trace', { mode, value: m.traceMsMedian, max: m.traceMsMax, unit: 'ms', samples: Number(opt.groups), note: 'read + layout + annotate' });
      emit('resume_drop', {
        mode, value: m.resumeMs, unit: 'ms', goal_ms: 50, resumed_from_step: m.resumeStep, rollouts_before: m.rolloutsBefore,
        rollouts_dropped: m.rolloutsBefore - m.rolloutsAfter, note: 'model.apply(run_start resumed_from_step = 90 % of the steps)',
      });
      emit('second_open', {
        mode, value: m.secondMs / 1000, unit: 's', goal_s: 2, index_used: m.indexUsed, line_map_used: m.secondLineMap, index_wait_ms: m.indexWaitMs,
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
