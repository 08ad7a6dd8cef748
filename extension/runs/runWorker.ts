// Worker-thread entry (bundled as dist/runWorker.js), for two jobs:
// - a run: read a whole events.jsonl (from its persisted index on, when that checks out) into a
//   RunModel, posting progress with a partial model (no rollouts) as it goes, then its state; a big
//   span is shared out to more workers of this script (parallelRead.ts);
// - a segment: parse one range of lines of it for such a read (parallelRead.ts), posting the bytes
//   done as it goes.
// Typed columns (the rollout index) are transferred, not copied.
import { parentPort, workerData } from 'node:worker_threads';
import { parseSegment, segmentTransferables, type SegmentJob, type SegmentReply } from './parallelRead';
import { PROGRESS_MS, readRunFile, type WorkerJob, type WorkerReply } from './runFile';
import { packRollouts, RolloutIndex } from './rolloutIndex';
import { RunModel } from './runModel';

async function main({ eventsPath, ...index }: WorkerJob): Promise<void> {
  let reply: WorkerReply;
  let transfer: ArrayBuffer[] = [];
  const post = (message: WorkerReply, list: ArrayBuffer[] = []) => parentPort!.postMessage(message, list);
  try {
    const model = new RunModel(eventsPath);
    const read = await readRunFile(eventsPath, model, {
      ...index,
      onProgress: (progress, partial) => post({ kind: 'progress', progress, partial: partial() }),
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

async function segment({ eventsPath, start, end, progressMs }: SegmentJob): Promise<void> {
  let reply: SegmentReply;
  let transfer: ArrayBuffer[] = [];
  const post = (message: SegmentReply, list: ArrayBuffer[] = []) => parentPort!.postMessage(message, list);
  try {
    let reported = Date.now();
    const result = await parseSegment(eventsPath, start, end, (bytes) => {
      if (Date.now() - reported < (progressMs ?? PROGRESS_MS)) return;
      reported = Date.now();
      post({ kind: 'progress', bytes });
    });
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
