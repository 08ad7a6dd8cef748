// Whether a trainer process still runs, to tell a live run from one that died without `run_end`.
import { readFileSync } from 'node:fs';

export type IsAlive = (pid: number) => boolean;

/**
 * Signal 0 checks for existence without delivering anything. Only positive pids are checked:
 * 0 and negatives would address process groups. EPERM means it exists but is not ours.
 * The pid is the one the trainer wrote on its own machine; a run folder copied from elsewhere (or
 * a reused pid) can read as alive or dead wrongly, which only affects the running/stale label.
 */
export function isPidAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Stricter, for acting on a pid (refusing a resume, signalling a trainer by pid): alive, and on Linux
 * its command line names hbpo, so a pid reused by another program is not taken for the trainer.
 */
export function isTrainerAlive(pid: number): boolean {
  if (!isPidAlive(pid)) return false;
  if (process.platform !== 'linux') return true;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('hbpo');
  } catch {
    return true;
  }
}
