// Worker-thread entry (bundled as dist/runWorker.js): parse a whole events.jsonl into a RunModel
// and post back its state. The typed columns of the rollout index are transferred, not copied.
import { parentPort, workerData } from 'node:worker_threads';
import { readRunFile, type WorkerReply } from './runFile';
import { RolloutIndex } from './rolloutIndex';
import { RunModel } from './runModel';

async function main(eventsPath: string): Promise<void> {
  let reply: WorkerReply;
  let transfer: ArrayBuffer[] = [];
  try {
    const model = new RunModel(eventsPath);
    const read = await readRunFile(eventsPath, model);
    const state = model.toState();
    reply = { ok: true, read, state };
    transfer = RolloutIndex.transferables(state.rollouts);
  } catch (err) {
    reply = { ok: false, error: (err as Error).message };
  }
  parentPort!.postMessage(reply, transfer);
}

void main((workerData as { eventsPath: string }).eventsPath);
