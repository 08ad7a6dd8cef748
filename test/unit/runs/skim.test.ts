// Skimmed rollouts (extension/runs/skim.ts) index exactly what the whole line's parse indexes: the
// same run read both ways (LineReader with and without skimRollouts, random chunking) gives the same
// RunModel state (rollout index, metrics, errors) and the same refused lines with the same messages;
// a skimmed event differs from the parsed one only in the big fields, which come back empty. On
// realistic lines (long non-ASCII text, escaped quotes and backslashes, \u escapes, keys in any order,
// duplicate keys, escaped key names, CRLF, a BOM at the start of the file), on lines each skim check
// must refuse, and on the event fuzzer's mutated lines.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LineReader, MAX_LINE_BYTES, type ParsedChunk } from '../../../extension/runs/lineReader';
import { RunModel } from '../../../extension/runs/runModel';
import { skimLine, skipString, skipTokenMarks } from '../../../extension/runs/skim';
import { baseLines, mutate, rng } from './fuzzLines';
import { line, runStart, stepLines } from './fixtures';

const BIG = ['text', 'prompt', 'problem', 'token_marks'];

const SENTENCES = [
  'Let me think: $x^2 - 5x + 6 = 0$ ⇒ $(x-2)(x-3) = 0$.\n', 'Wait — "double-check" that: 2² − 5·2 + 6 = 0 ✓\n',
  'The path C:\\tmp\\new and \\frac{a}{b} and \\boxed{17}.\n', '所以答案是 42。\n', 'Tab\there, bell \u0007, nul \u0000.\n',
  '<|im_start|>assistant\n<think>\n', '</think>\n\nThe answer is $\\boxed{17}$.<|im_end|>', '🚀 ∑_{k=1}^{n} k = n(n+1)/2 ∴ 5050\n',
  'Lone surrogate: \ud800 and a pair 😀.\n', 'Backslash before a quote: \\" and a quote before a backslash: "\\\n',
];

function longText(r: () => number, chars: number): string {
  let out = '';
  while (out.length < chars) out += SENTENCES[Math.floor(r() * SENTENCES.length)];
  return out;
}

/** A valid v1 rollout of `step` as an object (the fixtures' v1 shape, with realistic big fields). */
function rolloutObject(r: () => number, step: number, query: number, tier: number, sample: number): Record<string, unknown> {
  const nGen = 20 + Math.floor(r() * 3000);
  const marks: [number, number][] = [];
  for (let t = 32; t < nGen; t += 32) marks.push([t, t * 4]);
  marks.push([nGen, nGen * 4]);
  const correct = r() < 0.6;
  return JSON.parse(line('rollout', step, {
    query_id: `q-${step}-${query} é`, query_index: query, sample, tier, problem: longText(r, 200), difficulty: r() < 0.2 ? null : 'hard',
    prompt: `<|im_start|>user\n${longText(r, 300)}<|im_end|>\n<think>\nI will answer the question within ${tier} tokens.\n`,
    text: longText(r, 500 + Math.floor(r() * 4000)), token_marks: marks, n_gen: nGen, truncated: false, correct,
    answer: correct ? '17' : null, ground_truth: '17',
    reward: { reward: correct ? 3.5 : 0, cos: 3.9, penalty: 0.1, f1: 3.8, f2: 3.5, case: correct ? 'within' : 'wrong' },
    advantage: { intra: -0.25, inter: r() - 0.5, total: r() - 0.75 },
  })) as Record<string, unknown>;
}

/** Ways of writing the same object: key order, separators, \u escapes, duplicate and escaped keys. */
function spell(obj: Record<string, unknown>, r: () => number): string {
  let entries = Object.entries(obj);
  if (r() < 0.5) entries = entries.map((e) => [r(), e] as const).sort((a, b) => a[0] - b[0]).map(([, e]) => e);
  const pyStyle = r() < 0.5;
  const [comma, colon] = pyStyle ? [', ', ': '] : [',', ':'];
  const parts = entries.map(([k, v]) => {
    let value = JSON.stringify(v);
    if (typeof v === 'string' && r() < 0.3) value = value.replace(/[é∑😀]/g, (c) => [...c].map((u) => `\\u${u.charCodeAt(0).toString(16).padStart(4, '0')}`).join(''));
    if (Array.isArray(v) && pyStyle) value = value.replace(/,/g, ', ');
    const key = k === 'text' && r() < 0.1 ? '"te\\u0078t"' : JSON.stringify(k);
    return `${key}${colon}${value}`;
  });
  const d = r();
  if (d < 0.1) parts.unshift(`"text"${colon}12`); // an earlier duplicate: the later value wins
  else if (d < 0.2) parts.push(`"prompt"${colon}${JSON.stringify(longText(r, 100))}`); // a later duplicate wins
  else if (d < 0.25) parts.unshift(`"__proto__"${colon}{"x":1}`);
  return `{${parts.join(comma)}}`;
}

/** Lines each check of the skim must refuse (the whole parse refuses them too). */
function brokenLines(r: () => number): string[] {
  const good = JSON.stringify(rolloutObject(r, 1, 0, 512, 0));
  const at = good.indexOf('"text":"') + 8 + 100;
  return [
    `${good.slice(0, at)}\u0001${good.slice(at)}`, // a raw control character inside the text
    `${good.slice(0, at)}\\x${good.slice(at)}`, // a bad escape
    `${good.slice(0, at)}\\u12G4${good.slice(at)}`, // a bad \u escape
    `${good.slice(0, at)}\t${good.slice(at)}`, // a raw tab inside the text
    good.replace('"token_marks":[[32,128]', '"token_marks":[[32,2147483648]'), // out of range
    good.replace('"token_marks":[[32,128]', '"token_marks":[[32,-1]'),
    good.replace('"token_marks":[[32,128]', '"token_marks":[[32.5,128]'),
    good.replace('"token_marks":[[32,128]', '"token_marks":[[32,128,1]'),
    good.replace('"token_marks":[[32,128]', '"token_marks":[[032,128]'),
    good.replace('"n_gen":', '"n_gen":-'),
    good.replace(/"text":"/, '"text":5,"x":"'), // the text a number
    good.slice(0, -1), // no closing brace
    `${good},`, // trailing garbage
    `${good} x`,
    good.replace('{', '{,'),
    good.replace(/,"problem"/, ',,"problem"'),
    good.replace(/"problem":/, '"problem"'),
  ];
}

/** Read `file` both ways (random chunks); what each gives. */
function readBoth(file: Buffer, r: () => number) {
  const read = (skim: boolean) => {
    const reader = new LineReader(0, 1, MAX_LINE_BYTES, skim);
    const model = new RunModel('/nonexistent/events.jsonl');
    const got: ParsedChunk = { events: [], errors: [] };
    const take = (c: ParsedChunk) => {
      model.ingest(c);
      got.events.push(...c.events);
      got.errors.push(...c.errors);
    };
    for (let at = 0; at < file.length;) {
      const size = 1 + Math.floor(r() * 20000);
      take(reader.push(file.subarray(at, at + size)));
      at += size;
    }
    take(reader.flush());
    return { model, got };
  };
  return { full: read(false), skim: read(true) };
}

/** The same run both ways; returns how many rollouts were skimmed. */
function assertSame(file: Buffer, r: () => number): number {
  const { full, skim } = readBoth(file, r);
  assert.deepStrictEqual(skim.got.errors, full.got.errors, 'the same lines refused, with the same messages');
  assert.deepStrictEqual(skim.model.toState(), full.model.toState(), 'the same model and rollout index');
  assert.equal(skim.got.events.length, full.got.events.length);
  let skimmed = 0;
  skim.got.events.forEach((s, i) => {
    const f = full.got.events[i]!;
    assert.deepStrictEqual([s.line, s.offset, s.length], [f.line, f.offset, f.length]);
    if (!s.skimmed) {
      assert.deepStrictEqual(s.event, f.event);
      return;
    }
    skimmed++;
    assert.equal(s.event.type, 'rollout');
    const se = s.event as unknown as Record<string, unknown>;
    const fe = f.event as unknown as Record<string, unknown>;
    assert.deepStrictEqual(Object.keys(se), Object.keys(fe));
    for (const k of Object.keys(fe)) {
      if (BIG.includes(k) && (se[k] === '' || (Array.isArray(se[k]) && (se[k] as unknown[]).length === 0))) continue;
      assert.deepStrictEqual(se[k], fe[k], `line ${s.line}: ${k}`);
    }
  });
  return skimmed;
}

test('skim: realistic rollout lines index exactly as the whole parse, and are skimmed', () => {
  const r = rng(5);
  const lines: string[] = [JSON.stringify(JSON.parse(runStart()))];
  let rollouts = 0;
  for (let step = 1; step <= 3; step++) {
    for (let q = 0; q < 3; q++) {
      for (const tier of [512, 1024]) {
        for (let sample = 0; sample < 2; sample++, rollouts++) lines.push(spell(rolloutObject(r, step, q, tier, sample), r));
      }
    }
    lines.push(...stepLines(step).lines.filter((l) => !l.includes('"rollout"')));
  }
  for (const eol of ['\n', '\r\n']) {
    for (const bom of [false, true]) {
      const text = lines.join(eol) + eol;
      const file = Buffer.concat([Buffer.from(bom ? [0xef, 0xbb, 0xbf] : []), Buffer.from(text)]);
      const skimmed = assertSame(file, r);
      const { full } = readBoth(file, r);
      assert.equal(full.got.errors.length, 0, full.got.errors[0]?.message);
      assert.equal(full.model.rolloutCount, rollouts);
      // Every rollout but those whose big fields are all short or spelled oddly is skimmed.
      assert.ok(skimmed >= rollouts * 0.8, `${skimmed} of ${rollouts} skimmed`);
    }
  }
});

test('skim: lines it must refuse go to the whole parse, which refuses them the same way', () => {
  const r = rng(9);
  const broken = brokenLines(r);
  for (const b of broken) {
    const file = Buffer.from(`${runStart()}\n${b}\n`);
    assertSame(file, r);
    const { skim } = readBoth(file, r);
    assert.equal(skim.got.errors.length, 1, `refused: ${b.slice(0, 60)}…`);
  }
});

test('skim: the checks of its parts', () => {
  const s = (t: string) => skipString(Buffer.from(t), 0);
  assert.equal(s('"abc"x'), 5);
  assert.equal(s('"a\\"b\\\\"'), 8);
  assert.equal(s('"\\u00e9\\ud800"'), 14);
  assert.equal(s('"é∑😀 long enough to take the four-byte path ........"'), Buffer.byteLength('"é∑😀 long enough to take the four-byte path ........"'));
  for (const bad of ['"abc', '"a\\', '"a\\x"', '"\\u12"', '"\\u12g4"', '"a\u0001b"', '"a\tb"']) assert.equal(s(bad), -1, bad);
  const m = (t: string) => skipTokenMarks(Buffer.from(t), 0);
  assert.equal(m('[]'), 2);
  assert.equal(m('[[0, 0], [32, 128]]'), 19);
  assert.equal(m('[[2147483647,2147483647]]'), 25);
  for (const bad of ['[[2147483648,1]]', '[[1,-1]]', '[[1.0,1]]', '[[01,1]]', '[[1,1],]', '[[1]]', '[[1,2,3]]', '[1,2]', '[[1,2]']) assert.equal(m(bad), -1, bad);
  // Nothing worth skipping, or not an object: the whole parse.
  assert.equal(skimLine(Buffer.from('{"v":1,"type":"log","message":"short"}')), undefined);
  assert.equal(skimLine(Buffer.from(`[${JSON.stringify('x'.repeat(100))}]`)), undefined);
  const big = `{"text":${JSON.stringify('é'.repeat(100))},"a":[1,{"b":"}"}]}`;
  assert.equal(skimLine(Buffer.from(big)), '{"text":"","a":[1,{"b":"}"}]}');
});

test('skim: the event fuzzer\'s mutated lines read the same both ways', () => {
  const cases = Math.max(1, Number(process.env.HBPO_FUZZ_CASES ?? 400) || 400);
  const r = rng(Number(process.env.HBPO_FUZZ_SEED ?? 21) || 21);
  const base = baseLines();
  const long = Array.from({ length: 6 }, (_, i) => JSON.stringify(rolloutObject(r, 4, i, 512, 0)));
  const sources = [...base, ...long, ...long];
  let refused = 0;
  for (let done = 0; done < cases; done += 40) {
    const parts: Buffer[] = [...base, ...long].map((l) => Buffer.from(l));
    for (let i = 0; i < 40; i++) {
      const bad = mutate(sources[Math.floor(r() * sources.length)]!, r);
      parts.splice(1 + Math.floor(r() * parts.length), r() < 0.3 ? 0 : 1, bad);
    }
    let file = Buffer.concat(parts.flatMap((p) => [p, Buffer.from('\n')]));
    if (r() < 0.2) file = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), file]);
    assertSame(file, r);
    refused += readBoth(file, r).skim.got.errors.length;
  }
  assert.ok(refused > 0, 'the fuzz refuses lines');
});
