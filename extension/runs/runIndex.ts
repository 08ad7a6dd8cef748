// The runs of a runs folder, newest first, with a status and step each. Summaries read only the
// head of events.jsonl (the run_start, after any log lines of a preparation such as the testbed's
// first build) and its end (the latest run_start/run_end and the last step), never the whole file,
// so listing a folder of multi-gigabyte runs stays cheap.
import { open, readdir, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunEndEvent, RunEvent, RunStartEvent } from '../events';
import { judgeRun, type JudgedStatus, type RunFacts } from './judge';
import { parseLines } from './lineReader';
import type { IsAlive } from './pid';
import { EVENTS_FILE } from './runFile';

export interface RunSummary {
  id: string; // the folder name
  dir: string;
  /** `unknown`: events.jsonl has content but no readable run_start. `pending` also covers a run
   * that has only logged so far (preparing: building the testbed model before run_start). */
  status: JudgedStatus;
  /** What the file says, for callers that know more (a process of theirs) to judge again. */
  facts: Pick<RunFacts, 'latest' | 'unreadable'>;
  /** Step of the last event, 0 before the first. */
  step: number;
  totalSteps?: number;
  method?: string;
  tiers?: number[];
  pid?: number;
  /** run_start time (unix seconds) when known, else the folder's mtime. */
  startTime: number;
  endReason?: string;
  /** Why the folder could not be read fully, if it could not. */
  error?: string;
}

export interface RunIndexOptions {
  isAlive?: IsAlive;
  /** How far back from the end of events.jsonl to look for the latest run_start/run_end. */
  tailBytes?: number;
  /** Read size of that walk (a knob for tests: small blocks cut lines in many places). */
  blockBytes?: number;
}

/** What the head and end of a run's events.jsonl say (see readRunMarks). */
export interface RunMarks {
  /** The first run_start (after any log lines), when the file starts with one. */
  first?: RunStartEvent;
  /** The latest run_start or run_end: the walk back from the end found it, else `first`. */
  latest?: RunStartEvent | RunEndEvent;
  /** The last valid event (for the step). */
  last?: RunEvent;
  /** The latest run_start, when a run that ended went past the first one's total_steps (resumed for
   * more steps, or a source another tool keeps writing): its total is the one to show. */
  start?: RunStartEvent;
  /** Why the file does not read as a run: no run_start after its log lines, or unreadable. */
  unreadable?: string;
}

const HEAD_LIMIT = 4 * 1024 * 1024; // run_start carries the resolved config: allow it to be long
const BLOCK = 256 * 1024;
const DEFAULT_TAIL = 16 * 1024 * 1024;

export class RunIndex {
  constructor(readonly runsDir: string, private readonly options: RunIndexOptions = {}) {}

  /** Every subfolder holding events.jsonl or config.yaml, newest first; [] if the folder is missing. */
  async list(): Promise<RunSummary[]> {
    let names: string[];
    try {
      names = await readdir(this.runsDir);
    } catch {
      return [];
    }
    const found = await Promise.all(names.filter((n) => !n.startsWith('.')).map((n) => this.summarize(n)));
    return found
      .filter((s): s is RunSummary => s !== undefined)
      .sort((a, b) => b.startTime - a.startTime || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** The summary of one run folder, or undefined when it is not a run folder. */
  async summarize(name: string): Promise<RunSummary | undefined> {
    const dir = join(this.runsDir, name);
    const [dirStat, events, config] = await Promise.all([statOrNull(dir), statOrNull(join(dir, EVENTS_FILE)), statOrNull(join(dir, 'config.yaml'))]);
    if (!dirStat?.isDirectory() || (!events?.isFile() && !config?.isFile())) return undefined;
    const summary: RunSummary = { id: name, dir, status: 'pending', facts: {}, step: 0, startTime: dirStat.mtimeMs / 1000 };
    if (events?.isFile() && events.size > 0) {
      const marks = await readMarks(join(dir, EVENTS_FILE), events.size, this.options);
      if (marks.last) summary.step = marks.last.step;
      if (marks.first) summary.startTime = marks.first.time;
      const start = marks.latest?.type === 'run_start' ? marks.latest : marks.start ?? marks.first;
      if (start) describeStart(summary, start);
      if (marks.latest?.type === 'run_end') summary.endReason = marks.latest.reason;
      summary.error = marks.unreadable;
      summary.facts = { latest: marks.latest, unreadable: marks.unreadable };
    }
    summary.status = judgeRun({ ...summary.facts, isAlive: this.options.isAlive }).status;
    return summary;
  }
}

/**
 * The markers of `<runDir>/events.jsonl` that decide its status, reading only its head and end (up
 * to `tailBytes` back, default 16 MiB; Infinity walks back as far as it takes). A missing file
 * gives `{}`; a file that cannot be read gives `unreadable`.
 */
export async function readRunMarks(runDir: string, options: Omit<RunIndexOptions, 'isAlive'> = {}): Promise<RunMarks> {
  const path = join(runDir, EVENTS_FILE);
  const info = await statOrNull(path);
  if (!info?.isFile() || info.size === 0) return {};
  return readMarks(path, info.size, options);
}

async function readMarks(path: string, size: number, options: Omit<RunIndexOptions, 'isAlive'>): Promise<RunMarks> {
  let file: FileHandle;
  try {
    file = await open(path, 'r');
  } catch (err) {
    return { unreadable: (err as Error).message };
  }
  try {
    const marks: RunMarks = {};
    const { event: start, onlyLogs } = await firstEvent(file, size);
    if (start?.type === 'run_start') marks.first = start;
    else if (!onlyLogs) marks.unreadable = 'the first event after any log lines is not a run_start event';
    const { tailBytes = DEFAULT_TAIL, blockBytes = BLOCK } = options;
    const { last, marker } = await lastEvents(file, size, tailBytes, blockBytes);
    marks.last = last;
    // Past the tail limit the head's marker stands in (a run_end there: a preparation that was stopped).
    marks.latest = marker ?? (start?.type === 'run_start' || start?.type === 'run_end' ? start : undefined);
    // Only then is the walk back to the latest run_start worth its reads: a run that ended within
    // its first total (nearly all) has no later run_start that says more.
    if (marks.latest?.type === 'run_end' && marks.first && marks.last && marks.last.step > marks.first.total_steps) {
      const found = await lastEvents(file, size, tailBytes, blockBytes, 'run_start');
      if (found.marker?.type === 'run_start') marks.start = found.marker;
    }
    return marks;
  } catch (err) {
    return { unreadable: (err as Error).message };
  } finally {
    await file.close();
  }
}

function describeStart(summary: RunSummary, start: RunStartEvent): void {
  summary.totalSteps = start.total_steps;
  summary.method = start.method;
  summary.tiers = start.tiers;
  summary.pid = start.pid;
}

async function statOrNull(path: string) {
  try {
    return await stat(path);
  } catch {
    return null;
  }
}

/**
 * The first event that is not a log line (a run_start, in a healthy run): the trainer may log before
 * it starts (the testbed's first build). `onlyLogs`: the head holds log lines and nothing after them
 * yet, so the run is still preparing. A line that is not a valid event ends the search.
 */
async function firstEvent(file: FileHandle, size: number): Promise<{ event?: RunEvent; onlyLogs: boolean }> {
  const buf = Buffer.alloc(Math.min(size, HEAD_LIMIT));
  const { bytesRead } = await file.read(buf, 0, buf.length, 0);
  const head = buf.subarray(0, bytesRead);
  let sawLog = false;
  for (let at = 0; ;) {
    const nl = head.indexOf(0x0a, at);
    if (nl === -1) return { onlyLogs: sawLog };
    const event = parseLines(head.subarray(at, nl + 1), at).events[0]?.event; // `at`: a BOM counts only at 0
    if (event?.type !== 'log') return { event, onlyLogs: false };
    sawLog = true;
    at = nl + 1;
  }
}

const MARKERS = [Buffer.from('"run_start"'), Buffer.from('"run_end"')];

/**
 * Walk back from the end a block at a time: the last valid event (for the step) and the latest
 * run_start or run_end (for the status), giving up on the latter after `limit` bytes. Only lines
 * that mention a marker type are validated, so the walk over rollout lines stays cheap (a quote
 * inside a JSON string is escaped, so model text cannot fake the `"run_end"` bytes). `only`: the
 * latest marker of that type.
 */
async function lastEvents(file: FileHandle, size: number, limit: number, block: number,
  only?: 'run_start'): Promise<{ last?: RunEvent; marker?: RunStartEvent | RunEndEvent }> {
  let last: RunEvent | undefined;
  let end = size;
  let carry = Buffer.alloc(0); // the start of a line cut by the block boundary, read next round
  while (end > 0 && size - end < limit) {
    const start = Math.max(0, end - block);
    const buf = Buffer.alloc(end - start);
    await file.read(buf, 0, buf.length, start);
    const bytes = Buffer.concat([buf, carry]);
    end = start;
    const first = start === 0 ? 0 : bytes.indexOf(0x0a) + 1; // bytes before it may be a cut line
    if (start > 0 && first === 0) {
      carry = bytes; // no line start in this block yet: one long line
      continue;
    }
    carry = bytes.subarray(0, first);
    let lineEnd = bytes.length;
    while (lineEnd > first) {
      const nl = bytes.lastIndexOf(0x0a, lineEnd - 1);
      const lineStart = Math.max(nl + 1, first);
      const line = bytes.subarray(lineStart, lineEnd);
      lineEnd = lineStart - 1;
      const isMarker = MARKERS.some((m) => line.includes(m));
      if (last && !isMarker) continue;
      const e = parseLines(Buffer.concat([line, Buffer.from('\n')]), start + lineStart).events[0]?.event;
      if (!e) continue;
      last ??= e;
      if (e.type === (only ?? e.type) && (e.type === 'run_start' || e.type === 'run_end')) return { last, marker: e };
    }
  }
  return { last };
}
