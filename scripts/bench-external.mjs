// Opening a run trained elsewhere at the paper's size: a verl rollout dump (629 files x 1,024 lines,
// tiers 512/1,024/2,048/2,560, ~2,600 tokens a rollout: ~6 GB), read by the extension's reader
// (extension/runs/sources: a file at a time, appended to a run folder in storage), against a plain
// read of the same files measured in the same run (the anchor).
//
//   npm run bench:external -- [--scale 1/16] [--dir /tmp] [--keep]
//
// Prints one JSON line per figure {figure, value, unit, ...}:
//   raw_read       the dump's files read start to end (FileHandle.read, 1 MiB chunks), no decoding: MB/s
//   first_chart    s from the open to the run folder holding the first step (onStarted) plus the run
//                  model loaded from it (loadRunModel, what the dashboard draws its first chart from)
//   read_all       s to read every file into the run folder; `ratio`: its MB/s over raw_read's
//   peak_rss_mb    the process's peak resident memory after read_all (a dump read whole would need
//                  several times the dump's size)
//   reopen         s to open the unchanged dump again (nothing read: source-state.json)
//   append         s when verl writes the next step's file: that file alone is read and appended
//   load_all       s for loadRunModel of the whole run folder (a window opening it after a reload)
import { mkdtempSync, rmSync, readdirSync, statSync, copyFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { generateVerl, PAPER_SHAPE } from './genRun.mjs';
import { openExternalRun } from '../extension/runs/sources/index.ts';
import { loadRunModel } from '../extension/runs/runFile.ts';

const MB = 1024 * 1024;
const { values: opt } = parseArgs({ options: { scale: { type: 'string', default: '1/16' }, dir: { type: 'string', default: tmpdir() }, keep: { type: 'boolean', default: false } } });
const [num, den = '1'] = opt.scale.split('/');
const steps = Math.max(2, Math.round(PAPER_SHAPE.steps * Number(num) / Number(den)));
const print = (o) => console.log(JSON.stringify(o));

const root = mkdtempSync(join(opt.dir, 'hbpo-bench-external-'));
const dump = join(root, 'verl-dump');
const storage = join(root, 'storage');
try {
  (await import('node:fs')).mkdirSync(dump);
  const t0 = performance.now();
  const made = await generateVerl(dump, { steps: steps + 1, queries: PAPER_SHAPE.queries, rollouts: PAPER_SHAPE.rollouts });
  const extra = join(root, `${steps + 1}.jsonl`); // the "next step", held back for the append
  copyFileSync(join(dump, `${steps + 1}.jsonl`), extra);
  rmSync(join(dump, `${steps + 1}.jsonl`));
  const bytes = readdirSync(dump).reduce((a, n) => a + statSync(join(dump, n)).size, 0);
  print({ figure: 'dump', files: steps, lines: steps * PAPER_SHAPE.queries * PAPER_SHAPE.rollouts, mb: +(bytes / MB).toFixed(1), generate_s: +((performance.now() - t0) / 1000).toFixed(1), all_lines: made.lines });

  const buf = Buffer.alloc(MB);
  let t = performance.now();
  for (const n of readdirSync(dump)) {
    const f = await open(join(dump, n), 'r');
    try { while ((await f.read(buf, 0, buf.length)).bytesRead > 0); } finally { await f.close(); }
  }
  const rawS = (performance.now() - t) / 1000;
  print({ figure: 'raw_read', value: +(bytes / MB / rawS).toFixed(0), unit: 'MB/s', seconds: +rawS.toFixed(3) });

  t = performance.now();
  let firstChart;
  const opened = await openExternalRun(dump, storage, {
    onStarted: async (d) => {
      const model = await loadRunModel(d, { worker: 'never', index: false });
      firstChart = { value: +((performance.now() - t) / 1000).toFixed(3), unit: 's', rollouts: model.rolloutCount, steps: model.rolloutSteps().length };
    },
  });
  const allS = (performance.now() - t) / 1000;
  print({ figure: 'first_chart', ...firstChart });
  print({ figure: 'read_all', value: +allS.toFixed(1), unit: 's', mb_s: +(bytes / MB / allS).toFixed(0), ratio: +((bytes / allS) / (bytes / rawS)).toFixed(3), rollouts: opened.rollouts, steps: opened.steps.length });
  print({ figure: 'peak_rss_mb', value: Math.round(process.resourceUsage().maxRSS / 1024), unit: 'MiB', dump_mb: +(bytes / MB).toFixed(0) });

  t = performance.now();
  const again = await openExternalRun(dump, storage);
  print({ figure: 'reopen', value: +((performance.now() - t) / 1000).toFixed(3), unit: 's', files_read: again.filesRead });

  copyFileSync(extra, join(dump, `${steps + 1}.jsonl`));
  t = performance.now();
  const appended = await openExternalRun(dump, storage);
  print({ figure: 'append', value: +((performance.now() - t) / 1000).toFixed(3), unit: 's', files_read: appended.filesRead, steps: appended.steps.length });

  t = performance.now();
  const model = await loadRunModel(opened.dir, { index: false });
  print({ figure: 'load_all', value: +((performance.now() - t) / 1000).toFixed(2), unit: 's', rollouts: model.rolloutCount, errors: model.errorCount });
} finally {
  if (!opt.keep) rmSync(root, { recursive: true, force: true });
  else console.error(`kept ${root}`);
}
