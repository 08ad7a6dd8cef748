// The one vocabulary of prompt modes, for the extension host and the webviews (imports nothing).
// A mode is a budget tier, `natural` (no budget sentence) or `efficiency` ("... with minimal
// tokens"), as the trainer's prompts.py defines them. It has exactly three spellings, each made by
// one function here: the typed `Mode`; its key `tier:512` | `natural` | `efficiency` (eval events,
// the compare panel, configs: `modeKey` / `checkModeKey`); and its namespace in metric keys,
// `512` | `natural` (`budget/512/mean_length`: `metricLabel`). Rollouts carry a tier (number, or null
// for natural): `modeOfTier`.

export type Mode = { kind: 'tier'; budget: number } | { kind: 'natural' } | { kind: 'efficiency' };

/** `tier:<budget>`, `natural` or `efficiency`: the canonical key of a mode. */
export type ModeKey = string;

/** Largest budget a mode key may name (six digits). */
export const MAX_MODE_BUDGET = 999_999;

export const NATURAL: Mode = { kind: 'natural' };

/** A value for a message: JSON, cut to `max` characters. */
export function shown(x: unknown, max = 40): string {
  const s = typeof x === 'string' ? JSON.stringify(x) : String(JSON.stringify(x) ?? typeof x);
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

/**
 * The one parser of mode keys. Only the canonical spelling is a mode: `tier:512`, never `tier:0512`,
 * `Tier:512` or `tier: 512`; a near miss is refused with the spelling to use.
 */
export function checkModeKey(key: unknown): { ok: true; mode: Mode } | { ok: false; error: string } {
  if (key === 'natural' || key === 'efficiency') return { ok: true, mode: { kind: key } };
  const expected = 'expected natural, efficiency or tier:<budget>';
  if (typeof key !== 'string') return { ok: false, error: `${shown(key)} is not a mode; ${expected}` };
  const m = /^tier:([0-9]+)$/.exec(key);
  if (!m) {
    const loose = /^\s*(?:(natural|efficiency)|tier\s*:\s*\+?([0-9]{1,20}))\s*$/i.exec(key);
    const canonical = loose?.[1] ? loose[1].toLowerCase() : loose?.[2] && Number(loose[2]) >= 1 ? `tier:${Number(loose[2])}` : undefined;
    return { ok: false, error: canonical ? `${shown(key)} is not canonical; write "${canonical}"` : `${shown(key)} is not a mode; ${expected}` };
  }
  const budget = Number(m[1]);
  if (budget < 1) return { ok: false, error: `${shown(key)}: a budget is at least 1 token` };
  if (String(budget) !== m[1]) return { ok: false, error: `${shown(key)} is not canonical; write "tier:${budget}"` };
  if (budget > MAX_MODE_BUDGET) return { ok: false, error: `${shown(key)}: a budget is at most ${MAX_MODE_BUDGET} tokens` };
  return { ok: true, mode: { kind: 'tier', budget } };
}

/** The mode of a canonical key, else undefined (checkModeKey says why). */
export function parseModeKey(key: string): Mode | undefined {
  const r = checkModeKey(key);
  return r.ok ? r.mode : undefined;
}

export function modeKey(m: Mode): ModeKey {
  return m.kind === 'tier' ? `tier:${m.budget}` : m.kind;
}

/** The mode of a rollout's tier: a budget, or natural for null. */
export function modeOfTier(tier: number | null): Mode {
  return tier === null ? NATURAL : { kind: 'tier', budget: tier };
}

/** The budget of a mode in tokens, null for natural and efficiency. */
export function budgetOf(m: Mode): number | null {
  return m.kind === 'tier' ? m.budget : null;
}

/** For people: `512 tokens`, `natural`, `efficiency`. */
export function modeLabel(m: Mode): string {
  return m.kind === 'tier' ? `${m.budget} tokens` : m.kind;
}

/** For people, from a key: a key that is not a mode is shown as it is. */
export function modeKeyLabel(key: ModeKey): string {
  const m = parseModeKey(key);
  return m ? modeLabel(m) : key;
}

/** A mode's namespace in metric keys: `512`, `natural`, `efficiency`. */
export function metricLabel(m: Mode): string {
  return m.kind === 'tier' ? String(m.budget) : m.kind;
}

/** Natural, efficiency, then budgets ascending: the paper's comparison first. */
export function compareModes(a: Mode, b: Mode): number {
  const rank = (m: Mode) => (m.kind === 'natural' ? 0 : m.kind === 'efficiency' ? 1 : 2);
  return rank(a) - rank(b) || (budgetOf(a) ?? 0) - (budgetOf(b) ?? 0);
}

/** compareModes on keys; keys that are not modes sort last, A-Z. */
export function compareModeKeys(a: ModeKey, b: ModeKey): number {
  const ma = parseModeKey(a);
  const mb = parseModeKey(b);
  if (ma && mb) return compareModes(ma, mb);
  if (ma || mb) return ma ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

export function sameMode(a: Mode, b: Mode): boolean {
  return a.kind === b.kind && budgetOf(a) === budgetOf(b);
}
