// A schema-valid v2 events.jsonl of a given shape, as the trainer writes it: what bench:runs opens
// and what the e2e test of a big run shows. Rollout lines carry ~`meanTokens` x 4 characters of text
// with chat-template tokens, math symbols, CJK and escapes (\n, \", \\, \u0007), token marks at
// every 32 tokens, at each tier budget and at n_gen; samples are numbered within (query, tier); a
// step event with per_tier metrics after each step's rollouts, a checkpoint every 50 steps, evals
// every 100. Deterministic for a seed.
//
//   generate(path, { steps, queries, rollouts, tiers, maxTokens, meanTokens, seed }, { lineMap }) -> { bytes, lines }
//
// `lineMap: true` also writes the trainer's line map `.events.lines` beside it (docs/ARCHITECTURE.md),
// closed after the events file, as the trainer leaves it.
import { createWriteStream } from 'node:fs';
import { dirname, join } from 'node:path';
import { crc32 } from 'node:zlib';

const MB = 1024 * 1024;
const NEWLINE = Buffer.from('\n');

/** The first line of a line map. */
export const LINE_MAP_HEADER = JSON.stringify({ hbpo_lines: 1 });

/**
 * The line map's record (docs/ARCHITECTURE.md, "line map") of `event`, written to events.jsonl as the
 * bytes `line` (newline excluded) at byte `offset`: as the trainer writes it (trainer/hbpo/events.py).
 */
export function mapRecord(offset, line, event) {
  const record = [offset, line.length, crc32(line)];
  if (event.type === 'rollout') {
    record.push(event.time, event.step, event.query_index, event.sample, event.tier, event.n_gen, event.correct, event.truncated,
      event.reward.reward, event.reward.case, event.query_id, event.difficulty ?? null);
  }
  const text = JSON.stringify(record).slice(0, -1);
  return `${text},${crc32(text)}]`; // its own check: the CRC-32 of what comes before it
}

/** The paper's shape: 629 steps x 64 queries x 16 rollouts, tiers 512/1024/2048/2560 of L_max 4096 (~8 GB). */
export const PAPER_SHAPE = { steps: 629, queries: 64, rollouts: 16, tiers: [512, 1024, 2048, 2560], maxTokens: 4096, meanTokens: 2600, seed: 1 };

/** mulberry32. */
export function rng(seed) {
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
export async function generate(path, shape, { lineMap = false } = {}) {
  const { steps, queries, rollouts, tiers, maxTokens, meanTokens, seed } = shape;
  const r = rng(seed);
  const out = createWriteStream(path);
  const map = lineMap ? createWriteStream(join(dirname(path), '.events.lines')) : undefined;
  let pending = [];
  let pendingBytes = 0;
  let mapLines = [LINE_MAP_HEADER];
  let bytes = 0; // written or pending: where the next line starts
  let lines = 0;
  const write = async (obj) => {
    const line = Buffer.from(JSON.stringify(obj));
    if (map) mapLines.push(mapRecord(bytes, line, obj));
    pending.push(line, NEWLINE);
    pendingBytes += line.length + 1;
    bytes += line.length + 1;
    lines++;
    if (pendingBytes > 4 * MB) await flush();
  };
  const drain = (stream, chunk) => stream.write(chunk) || new Promise((res) => stream.once('drain', res));
  const flush = async () => {
    await drain(out, Buffer.concat(pending, pendingBytes));
    pending = [];
    pendingBytes = 0;
    if (map) {
      await drain(map, `${mapLines.join('\n')}\n`);
      mapLines = [];
    }
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
  const close = (stream) => new Promise((res, rej) => stream.end((err) => (err ? rej(err) : res())));
  await close(out);
  if (map) await close(map);
  return { bytes, lines };
}

/**
 * A verl rollout dump of a given shape (`trainer.rollout_data_dir`, as RayPPOTrainer._dump_generations
 * writes it: one `{step}.jsonl` per step, a line per rollout with `input`, `output`, `gts`, `score`,
 * `step` and the reward's extra field `acc`, json.dumps with ensure_ascii=False). A query's rollouts
 * are spread over the tiers, the budget sentence in its prompt. Returns bytes and lines written.
 */
export async function generateVerl(dir, shape) {
  const { steps, queries, rollouts, tiers, maxTokens, meanTokens, seed } = { ...PAPER_SHAPE, ...shape };
  const r = rng(seed);
  let bytes = 0;
  let lines = 0;
  for (let step = 1; step <= steps; step++) {
    const out = [];
    for (let q = 0; q < queries; q++) {
      const problem = `${PROBLEMS[(step * 7 + q) % PROBLEMS.length]} (case ${step}.${q})`;
      for (let k = 0; k < rollouts; k++) {
        const tier = tiers[k % tiers.length];
        const tokens = Math.max(1, Math.min(maxTokens, Math.round(meanTokens * (0.3 + 1.4 * r()) * (tier / tiers[tiers.length - 1]) ** 0.5)));
        const score = r() < 0.6 ? 1 : 0;
        out.push(JSON.stringify({ input: promptOf(problem, tier), output: textOf(r, tokens * 4), gts: '17', score, step, acc: score === 1 }));
      }
    }
    const text = out.join('\n') + '\n';
    const buf = Buffer.from(text, 'utf8');
    await new Promise((res, rej) => {
      const w = createWriteStream(join(dir, `${step}.jsonl`));
      w.on('error', rej);
      w.end(buf, res);
    });
    bytes += buf.length;
    lines += out.length;
  }
  return { bytes, lines };
}
