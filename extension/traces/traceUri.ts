// Addresses of trace documents: hbpo-trace:/<run label>/step<S>-query<Q>-tier<T>-sample<N>.txt?run=<run folder>
// (`natural` for tier<T> when the rollout had no budget prompt) for a recorded rollout, the whole
// RolloutKey in the path (common/rolloutKey.ts); hbpo-trace:/compare/<label>.txt?live=<id> for a trace streaming in.
// The path is what the editor tab shows (and `.txt` makes it plain text); the query says which run
// folder to read. Pure (no `vscode`): the provider turns these parts into a vscode.Uri.

import type { RolloutKey } from '../../common/rolloutKey';

export const TRACE_SCHEME = 'hbpo-trace';

export interface TraceRef extends RolloutKey {
  runDir: string;
  label: string;
}

/** A label safe as one path segment (no slashes or control characters). */
function segment(label: string): string {
  return label.replace(/[\\/\u0000-\u001f\u007f]+/g, '_').trim() || 'run';
}

export function traceUriParts(ref: TraceRef): { path: string; query: string } {
  return {
    path: `/${segment(ref.label)}/step${ref.step}-query${ref.queryIndex}-${ref.tier === null ? 'natural' : `tier${ref.tier}`}-sample${ref.sample}.txt`,
    query: new URLSearchParams({ run: ref.runDir }).toString(),
  };
}

/** The reference in a trace URI's path and query, or undefined when it is not one of ours. */
export function parseTraceUri(path: string, query: string): TraceRef | undefined {
  const m = /^\/([^/]+)\/step(\d+)-query(\d+)-(?:tier(\d+)|natural)-sample(\d+)\.txt$/.exec(path);
  const runDir = new URLSearchParams(query).get('run');
  if (!m || !runDir) return undefined;
  const [step, queryIndex, sample] = [m[2], m[3], m[5]].map(Number);
  const tier = m[4] === undefined ? null : Number(m[4]);
  if (![step, queryIndex, sample, tier ?? 1].every(Number.isSafeInteger) || tier === 0) return undefined;
  return { runDir, label: m[1], step, queryIndex, tier, sample };
}

/** A live (streaming) trace: the id its panel gave it and the label the tab shows. */
export interface LiveTraceRef {
  id: string;
  label: string;
}

export function liveTraceUriParts(ref: LiveTraceRef): { path: string; query: string } {
  return { path: `/compare/${segment(ref.label)}.txt`, query: new URLSearchParams({ live: ref.id }).toString() };
}

/** The live trace in a URI's path and query, or undefined when it is not a live trace address. */
export function parseLiveTraceUri(path: string, query: string): LiveTraceRef | undefined {
  const m = /^\/compare\/([^/]+)\.txt$/.exec(path);
  const id = new URLSearchParams(query).get('live');
  if (!m || id === null || id === '') return undefined;
  return { id, label: m[1] };
}
