// A rollout's identity in a run: (step, query, tier, sample). The trainer numbers `sample` within
// each (query, tier) group, so with 8 rollouts over 4 tiers every tier has samples 0 and 1: the
// sample alone does not name a rollout. Natural-mode rollouts (no budget prompt) have tier null.
// Shared by the extension host and the webviews; imports nothing.

export interface RolloutKey {
  step: number;
  queryIndex: number;
  /** The budget tier in tokens, or null for a rollout without a budget prompt. */
  tier: number | null;
  /** Index within its (query, tier) group. */
  sample: number;
}

/** The key of a rollout event line (snake_case fields, as the trainer writes them). */
export function rolloutKeyOf(e: { step: number; query_index: number; tier: number | null; sample: number }): RolloutKey {
  return { step: e.step, queryIndex: e.query_index, tier: e.tier, sample: e.sample };
}

export function sameRollout(a: RolloutKey, b: RolloutKey): boolean {
  return a.step === b.step && a.queryIndex === b.queryIndex && a.tier === b.tier && a.sample === b.sample;
}

/** A string fit for a Map key or a DOM attribute: `step:query:tier:sample`, tier `n` for natural. */
export function rolloutKeyString(k: RolloutKey): string {
  return `${k.step}:${k.queryIndex}:${k.tier ?? 'n'}:${k.sample}`;
}

/** For people: `step 3 · query 2 · tier 128 · sample 1` (`natural` for a rollout without a budget). */
export function rolloutKeyText(k: RolloutKey): string {
  return `step ${k.step} · query ${k.queryIndex} · ${k.tier === null ? 'natural' : `tier ${k.tier}`} · sample ${k.sample}`;
}

const isCount = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;

/** A valid key from untrusted input (a webview message, a URI): exactly these four fields. */
export function isRolloutKey(v: unknown): v is RolloutKey {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  return keys.length === 4 && isCount(o.step) && isCount(o.queryIndex) && isCount(o.sample) &&
    (o.tier === null || (isCount(o.tier) && o.tier >= 1));
}
