// The event fuzzer's line generator (test/unit/runs/eventFuzz.test.ts, skim.test.ts): the valid lines
// of a realistic run, and seeded mutations of a valid line (see eventFuzz.test.ts for what they are).
import { rng } from '../../../scripts/genRun.mjs';
import { finishedRun, line, rolloutText, runStart, stepLines, STEPS, T0 } from './fixtures';

export { rng };

/** A realistic run's lines: the finished fixture run, a natural-mode rollout, a resume. */
export function baseLines(): string[] {
  const lines = finishedRun().lines.slice(0, -1); // run_end goes last
  const step = STEPS + 1;
  lines.push(
    line('rollout', STEPS, {
      query_id: 'testbed-train-99', query_index: 5, sample: 0, tier: null, problem: 'Combien font 2 + 2 ? 二加二',
      difficulty: null, prompt: '<think>\n', text: `${rolloutText(STEPS, 5, 0)} — naturel`, n_gen: 37,
      token_marks: [[0, 0], [32, 60], [37, 71]], truncated: false, correct: true, answer: '4', ground_truth: '4',
      reward: { reward: 3.98, cos: 3.98, penalty: null, f1: null, f2: null, case: 'natural' },
      advantage: { intra: 0, inter: 0.7, total: 0.7 },
    }),
    runStart(step - 2, { resumed_from_step: STEPS - 1, time: T0 + 500 }),
    ...stepLines(STEPS, 3).lines,
    ...stepLines(step, 3).lines.map((l) => l), // one more step after the resume
    line('run_end', step, { status: 'finished', reason: 'completed', checkpoint: null }),
  );
  return lines;
}

/** Raw JSON texts (some not JSON at all) that replace a field's value. */
const RAW_VALUES = [
  '4294967295', '4294967296', '2147483648', '2147483647', '2147483646', '-1', '-2147483648', '-2147483649',
  '9007199254740993', '9007199254740992', '9007199254740991', '18446744073709551615', '1e308', '1e999', '-1e999',
  '0', '1', '3', '512', '1024', '0.5', '-0', '-0.0', '1.0', '1e0', '1E2', '2.5e-324', '1.7976931348623157e308',
  '"NaN"', '"Infinity"', '"-Infinity"', '"1"', '"4294967295"', '"tier:08"', 'null', 'true', 'false', '[]', '{}',
  '[1,2]', '[[1,2]]', '""', '"ünïcödé 🚀 \\u0000"', '"natural"', '"tier:512"', '"within"', '"natural\\n"',
  'NaN', 'Infinity', '01', '0x10', '+1', '.5', '1.', '"\\ud800"', // the last ones are not JSON
];

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Every path to a value inside `v` (the root excluded). */
function paths(v: Json, prefix: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  if (v !== null && typeof v === 'object') {
    for (const k of Array.isArray(v) ? v.map((_, i) => i) : Object.keys(v)) {
      const p = [...prefix, k];
      out.push(p);
      paths((v as Record<string | number, Json>)[k], p, out);
    }
  }
  return out;
}

function parentOf(root: Json, path: (string | number)[]): Record<string | number, Json> {
  let at = root as Record<string | number, Json>;
  for (const k of path.slice(0, -1)) at = at[k] as Record<string | number, Json>;
  return at;
}

const MARK = '@@fuzz-raw@@';

/** One mutated copy of `text` (a valid event line): a string that may hold newlines or bad UTF-8. */
export function mutate(text: string, r: () => number): Buffer {
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)]!;
  const obj = JSON.parse(text) as Json;
  const all = paths(obj);
  const path = pick(all);
  const key = path[path.length - 1]!;
  const raw = pick(RAW_VALUES);
  const op = Math.floor(r() * 11);
  switch (op) {
    case 0: case 1: case 2: case 3: { // replace a value (most fuzz is here)
      parentOf(obj, path)[key] = MARK;
      return Buffer.from(JSON.stringify(obj).replace(`"${MARK}"`, () => raw));
    }
    case 4: { // delete a field or an array item
      const parent = parentOf(obj, path);
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete parent[key];
      return Buffer.from(JSON.stringify(obj));
    }
    case 5: { // duplicate key, before (the original wins) or after (the duplicate wins) the original
      const parent = parentOf(obj, path);
      if (Array.isArray(parent)) return Buffer.from(JSON.stringify(obj).replace(/\]$/, ',1]'));
      const entries = Object.entries(parent);
      for (const k of Object.keys(parent)) delete parent[k];
      const first = r() < 0.5;
      if (first) parent[MARK] = 0;
      for (const [k, v] of entries) parent[k] = v;
      if (!first) parent[MARK] = 0;
      return Buffer.from(JSON.stringify(obj).replace(`"${MARK}":0`, () => `${JSON.stringify(String(key))}:${raw}`));
    }
    case 6: { // truncated
      const b = Buffer.from(text);
      return b.subarray(0, Math.floor(r() * b.length));
    }
    case 7: { // random bytes over or into the line (newlines and invalid UTF-8 included)
      const b = Buffer.from(text);
      const n = 1 + Math.floor(r() * 4);
      const parts: Buffer[] = [];
      let at = 0;
      for (let i = 0; i < n; i++) {
        const pos = at + Math.floor(r() * (b.length - at));
        parts.push(b.subarray(at, pos));
        const noise = Buffer.from(Array.from({ length: 1 + Math.floor(r() * 3) }, () => Math.floor(r() * 256)));
        parts.push(noise);
        at = Math.min(b.length, pos + (r() < 0.5 ? noise.length : 0));
      }
      parts.push(b.subarray(at));
      return Buffer.concat(parts);
    }
    case 8: // a BOM before the line (not at the start of the file: refused there)
      return Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)]);
    case 9: { // another event type, or an unknown one
      (obj as Record<string, Json>).type = pick(['run_start', 'rollout', 'step', 'eval', 'checkpoint', 'log', 'run_end', 'telemetry', 'Rollout']);
      return Buffer.from(JSON.stringify(obj));
    }
    default: { // two or three replacements at once
      for (let i = 0; i < 2 + Math.floor(r() * 2); i++) {
        const p = pick(paths(obj));
        parentOf(obj, p)[p[p.length - 1]!] = `${MARK}${i}`;
      }
      let s = JSON.stringify(obj);
      for (let i = 0; i < 3; i++) s = s.replace(`"${MARK}${i}"`, () => pick(RAW_VALUES));
      return Buffer.from(s);
    }
  }
}
