// Worker-thread entry (bundled as dist/runWorker.js), for two jobs:
// - a run: read a whole events.jsonl (from its persisted index on, when that checks out) into a
//   RunModel, posting progress with a partial model (no rollouts) as it goes, then its state; a big
//   span is shared out to more workers of this script (parallelRead.ts);
// - a segment: parse one range of lines of it for such a read (parallelRead.ts), posting the bytes
//   done as it goes.
// Typed columns (the rollout index) are transferred, not copied.
import { dirname } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import type { RunEndEvent, RunStartEvent } from '../events';
import { parseMapSegment } from './lineMap';
import { parseSegment, segmentTransferables, type SegmentJob, type SegmentReply } from './parallelRead';
import { PROGRESS_MS, readRunFile, type WorkerJob, type WorkerReply } from './runFile';
import { packRollouts, RolloutIndex } from './rolloutIndex';
import { readRunMarks } from './runIndex';
import { RunModel, type RunModelState } from './runModel';

/**
 * A partial model knows the file's start, not its end: a finished run would be judged stale (its
 * trainer's pid is gone, no run_end read yet). The file's latest run_start or run_end, read from its
 * end, stands in for the status until the whole file is read.
 */
function withLatest(state: RunModelState, latest: RunStartEvent | RunEndEvent | undefined): RunModelState {
  if (!latest) return state;
  const { type, v: _v, ...rest } = latest;
  if (type === 'run_end') return { ...state, end: rest as RunModelState['end'], lastMarker: 'end' };
  return { ...state, info: rest as RunModelState['info'], end: undefined, lastMarker: 'start' };
}

async function main({ eventsPath, ...index }: WorkerJob): Promise<void> {
  let reply: WorkerReply;
  let transfer: ArrayBuffer[] = [];
  const post = (message: WorkerReply, list: ArrayBuffer[] = []) => parentPort!.postMessage(message, list);
  try {
    const model = new RunModel(eventsPath);
    const { latest } = await readRunMarks(dirname(eventsPath));
    const read = await readRunFile(eventsPath, model, {
      ...index,
      onProgress: (progress, partial) => post({ kind: 'progress', progress, partial: withLatest(partial(), latest) }),
    });
    const state = model.toState({ copy: false }); // the model ends here: hand over its columns
    const rollouts = packRollouts(state.rollouts);
    reply = { kind: 'done', ok: true, read, state: { ...state, rollouts } };
    transfer = RolloutIndex.transferables(rollouts);
  } catch (err) {
    reply = { kind: 'done', ok: false, error: (err as Error).message };
  }
  post(reply, transfer);
}

async function segment(job: SegmentJob): Promise<void> {
  const { progressMs } = job;
  let reply: SegmentReply;
  let transfer: ArrayBuffer[] = [];
  const post = (message: SegmentReply, list: ArrayBuffer[] = []) => parentPort!.postMessage(message, list);
  try {
    let reported = Date.now();
    const parse = job.map ? parseMapSegment : (j: SegmentJob, onBytes: (b: number) => void) => parseSegment(j.eventsPath, j.start, j.end, onBytes);
    const result = await parse(job, (bytes) => {
      if (Date.now() - reported < (progressMs ?? PROGRESS_MS)) return;
      reported = Date.now();
      post({ kind: 'progress', bytes });
    }, new AbortController().signal);
    reply = { kind: 'done', ok: true, segment: result };
    transfer = segmentTransferables(result);
  } catch (err) {
    reply = { kind: 'done', ok: false, error: (err as Error).message };
  }
  post(reply, transfer);
}

const job = workerData as WorkerJob | SegmentJob;
if (job.kind === 'segment') void segment(job);
else void main(job);
