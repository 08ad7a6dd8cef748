// The reward-curve explorer's inputs: text fields -> validated parameters, and back. A bad value
// gets a message and the last good chart stays (the caller keeps the last `ok` result).
import { HBPO_DEFAULTS, HBPO_VARIANTS, type HbpoVariant } from './budgetMath';
import type { RewardExplorerParams } from './protocol/rewardExplorer';

export interface RewardForm {
  tiers: string;
  lMax: string;
  alpha: string;
  beta: string;
  variant: string;
}

export type FormField = keyof RewardForm;

export type FormResult =
  | { ok: true; params: RewardExplorerParams }
  | { ok: false; errors: { field: FormField; message: string }[] };

/** Bounds that keep the curves meaningful and the page responsive (lMax x tiers rewards per redraw). */
export const LIMITS = { maxLMax: 65536, maxTiers: 12, maxBeta: 1e6 } as const;

/** How the alpha field spells "1 / L_max" (the paper's default). */
export const ALPHA_DEFAULT_TEXT = '1/L_max';

export function defaultParams(): RewardExplorerParams {
  return { tiers: [...HBPO_DEFAULTS.tiers], lMax: HBPO_DEFAULTS.lMax, alpha: null, beta: HBPO_DEFAULTS.beta, variant: 'paper' };
}

/** `alpha: null` -> 1 / lMax. */
export function effectiveAlpha(p: Pick<RewardExplorerParams, 'alpha' | 'lMax'>): number {
  return p.alpha ?? 1 / p.lMax;
}

/** A plain decimal/exponent number or a fraction `a/b`; NaN for anything else. */
export function parseNumber(text: string): number {
  const t = text.trim();
  const num = /^[+-]?(\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?$/i;
  if (num.test(t)) return Number(t);
  const frac = /^([^/]+)\/([^/]+)$/.exec(t);
  if (frac && num.test(frac[1].trim()) && num.test(frac[2].trim())) return Number(frac[1]) / Number(frac[2]);
  return NaN;
}

export function parseRewardForm(form: RewardForm): FormResult {
  const errors: { field: FormField; message: string }[] = [];

  const lMax = parseNumber(form.lMax);
  const lMaxOk = Number.isInteger(lMax) && lMax >= 1 && lMax <= LIMITS.maxLMax;
  if (!lMaxOk) errors.push({ field: 'lMax', message: `L_max must be a whole number of tokens from 1 to ${LIMITS.maxLMax}.` });

  const parts = form.tiers.split(/[\s,;]+/).filter((s) => s !== '');
  const tiers = parts.map(parseNumber);
  if (parts.length === 0) errors.push({ field: 'tiers', message: 'Give at least one budget tier, e.g. 512, 1024.' });
  else if (parts.length > LIMITS.maxTiers) errors.push({ field: 'tiers', message: `At most ${LIMITS.maxTiers} tiers.` });
  else {
    const bad = parts.filter((_, i) => !(Number.isInteger(tiers[i]) && tiers[i] >= 1));
    if (bad.length > 0) errors.push({ field: 'tiers', message: `Tiers must be whole numbers of tokens >= 1 (not ${bad.join(', ')}).` });
    else if (new Set(tiers).size !== tiers.length) errors.push({ field: 'tiers', message: 'Tiers must differ.' });
    else if (lMaxOk && tiers.some((b) => b > lMax)) errors.push({ field: 'tiers', message: `Every tier must be at most L_max (${lMax}).` });
  }

  let alpha: number | null = null;
  const alphaText = form.alpha.trim();
  if (alphaText !== '' && !/^1\s*\/\s*L_?max$/i.test(alphaText)) {
    alpha = parseNumber(alphaText);
    if (!(Number.isFinite(alpha) && alpha >= 0)) {
      errors.push({ field: 'alpha', message: `alpha must be a number >= 0, a fraction like 1/4096, or ${ALPHA_DEFAULT_TEXT}.` });
    }
  }

  const beta = parseNumber(form.beta);
  if (!(Number.isFinite(beta) && beta > 0 && beta <= LIMITS.maxBeta)) {
    errors.push({ field: 'beta', message: `beta must be a number > 0 (and at most ${LIMITS.maxBeta}).` });
  }

  const variant = form.variant.trim();
  if (!(HBPO_VARIANTS as readonly string[]).includes(variant)) {
    errors.push({ field: 'variant', message: `variant must be one of: ${HBPO_VARIANTS.join(', ')}.` });
  }

  if (errors.length > 0) return { ok: false, errors };
  return {
    ok: true,
    params: { tiers: [...tiers].sort((a, b) => a - b), lMax, alpha, beta, variant: variant as HbpoVariant },
  };
}

export function formOf(p: RewardExplorerParams): RewardForm {
  return {
    tiers: p.tiers.join(', '),
    lMax: String(p.lMax),
    alpha: p.alpha === null ? ALPHA_DEFAULT_TEXT : String(p.alpha),
    beta: String(p.beta),
    variant: p.variant,
  };
}
