// How far the first load of a big run is, in words: the dashboard's header line and the host's
// progress notification say the same numbers. The shape is extension/runs/runFile.ts's LoadProgress.

export interface LoadProgress {
  /** Bytes of events.jsonl read so far. */
  bytes: number;
  /** The file's size when the load began. */
  total: number;
}

/** Whole percent read, 0 to 100. */
export function loadedPercent(p: LoadProgress): number {
  return p.total > 0 ? Math.min(100, Math.max(0, Math.floor((100 * p.bytes) / p.total))) : 0;
}

const mb = (bytes: number) => Math.round(bytes / 1e6).toLocaleString('en-US');

/** `3,400 of 8,046 MB` */
export function loadedSize(p: LoadProgress): string {
  return `${mb(p.bytes)} of ${mb(p.total)} MB`;
}

/** The dashboard's line while a run loads. */
export function loadingLine(p: LoadProgress): string {
  return `Loading… ${loadedPercent(p)} % (${loadedSize(p)}): charts fill in as the file is read; rollouts appear when it is done`;
}
