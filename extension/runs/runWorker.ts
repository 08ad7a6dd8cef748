// Worker-thread entry (bundled as dist/runWorker.js): read a whole events.jsonl (from its persisted
// index on, when that checks out) into a RunModel, posting progress with a partial model (no
// rollouts) as it goes, then its state. The typed columns of the rollout index are transferred, not copied.
import { parentPort, workerData } from 'node:worker_threads';
import { readRunFile, type WorkerJob, type WorkerReply } from './runFile';
import { RolloutIndex } from './rolloutIndex';
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
    const state = model.toState();
    reply = { kind: 'done', ok: true, read, state };
    transfer = RolloutIndex.transferables(state.rollouts);
  } catch (err) {
    reply = { kind: 'done', ok: false, error: (err as Error).message };
  }
  post(reply, transfer);
}

void main(workerData as WorkerJob);
