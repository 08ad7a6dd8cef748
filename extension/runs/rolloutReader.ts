// Lazy reads of rollout lines by byte range: the index keeps no text, so a rollout group's text
// (untrusted, possibly megabytes) is read from events.jsonl only when someone looks at it.
import { open } from 'node:fs/promises';
import { rolloutKeyOf, sameRollout, type RolloutKey } from '../../common/rolloutKey';
import type { RolloutEvent } from '../events';
import { parseLineBytes, type ParsedChunk } from './lineReader';
import type { RolloutSummary } from './rolloutIndex';
import type { RunModel } from './runModel';

export interface RolloutGroupRead {
  rollouts: RolloutEvent[];
  /** `line N: ...` for ranges that no longer hold the indexed rollout (file replaced, say). */
  errors: string[];
}

type Range = Pick<RolloutSummary, 'offset' | 'length' | 'line' | 'step' | 'queryIndex' | 'tier' | 'sample'>;

/** Read the lines of `ranges` from `eventsPath`, in the order given; never the whole file. */
export async function readRollouts(eventsPath: string, ranges: readonly Range[]): Promise<RolloutGroupRead> {
  const result: RolloutGroupRead = { rollouts: [], errors: [] };
  if (ranges.length === 0) return result;
  let file;
  try {
    file = await open(eventsPath, 'r');
  } catch (err) {
    result.errors.push(`cannot open ${eventsPath}: ${(err as Error).message}`);
    return result;
  }
  const found: (RolloutEvent | undefined)[] = [];
  try {
    for (const span of spans(ranges)) {
      const buf = Buffer.alloc(span.end - span.start);
      const { bytesRead } = await file.read(buf, 0, buf.length, span.start);
      for (const { r, index } of span.ranges) {
        const from = r.offset - span.start;
        const out: ParsedChunk = { events: [], errors: [] };
        if (from + r.length > bytesRead) {
          result.errors.push(`line ${r.line}: the file is shorter than indexed`);
          continue;
        }
        parseLineBytes(buf.subarray(from, from + r.length), r.line, r.offset, out);
        const e = out.events[0]?.event;
        if (e?.type === 'rollout' && sameRollout(rolloutKeyOf(e), r)) {
          found[index] = e;
        } else {
          result.errors.push(out.errors[0]?.message ?? `line ${r.line}: no longer the indexed rollout`);
        }
      }
    }
  } catch (err) {
    result.errors.push(`reading ${eventsPath}: ${(err as Error).message}`);
  } finally {
    await file.close();
  }
  result.rollouts = found.filter((e): e is RolloutEvent => e !== undefined);
  return result;
}

/** The full event of one rollout (text included), or undefined when it is not in the model or the file. */
export async function readRollout(model: RunModel, key: RolloutKey): Promise<RolloutEvent | undefined> {
  const s = model.rolloutGroup(key.step, key.queryIndex).find((r) => sameRollout(r, key));
  if (!s) return undefined;
  return (await readRollouts(model.eventsPath, [s])).rollouts[0];
}

/** Group ranges that sit next to each other (a group's rollouts usually do) into single reads. */
function spans(ranges: readonly Range[]): { start: number; end: number; ranges: { r: Range; index: number }[] }[] {
  const sorted = ranges.map((r, index) => ({ r, index })).sort((a, b) => a.r.offset - b.r.offset);
  const out: { start: number; end: number; ranges: { r: Range; index: number }[] }[] = [];
  for (const item of sorted) {
    const { offset, length } = item.r;
    const last = out[out.length - 1];
    if (last && offset <= last.end + 1) {
      last.end = Math.max(last.end, offset + length);
      last.ranges.push(item);
    } else {
      out.push({ start: offset, end: offset + length, ranges: [item] });
    }
  }
  return out;
}
