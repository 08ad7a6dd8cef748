// One model per run folder for whoever only reads a run (trace documents, e.g. the tabs VS Code
// restores after a reload): every request for a folder shares one RunTailer and so one load, where
// each used to parse the whole run (4 tabs of a paper-scale run: 4 parses). The run registry holds
// the tailers of its runs (loadedModel over its own); SharedModels holds them for any other folder.
// No `vscode`: unit-tested in plain Node.
import { resolve } from 'node:path';
import type { RunModel } from './runModel';
import { RunTailer } from './runTailer';

/**
 * The tailer's model once what is written so far is in it (every caller waits for the same first
 * load); rejects with the read error if reading failed, so a broken folder is not mistaken for an empty run.
 */
export async function loadedModel(tailer: RunTailer): Promise<RunModel> {
  await tailer.start();
  // A reload under way (the file was replaced) or a failed read: read now rather than answer from
  // a partial model or an old error.
  if (tailer.loading || tailer.lastError) await tailer.refresh();
  if (tailer.lastError) throw tailer.lastError;
  return tailer.model;
}

export class SharedModels {
  private readonly tailers = new Map<string, RunTailer>();

  constructor(private readonly create: (dir: string) => RunTailer = (dir) => new RunTailer(dir)) {}

  /** The folder's shared model; concurrent requests share one load. */
  async model(dir: string): Promise<RunModel> {
    const d = resolve(dir);
    let tailer = this.tailers.get(d);
    if (!tailer) {
      tailer = this.create(d);
      this.tailers.set(d, tailer);
    }
    try {
      return await loadedModel(tailer);
    } catch (err) {
      // A failure is not kept: the next request starts afresh (the folder may be readable by then).
      if (this.tailers.get(d) === tailer) {
        this.tailers.delete(d);
        tailer.dispose();
      }
      throw err;
    }
  }

  dispose(): void {
    for (const t of this.tailers.values()) t.dispose();
    this.tailers.clear();
  }
}
