// Number formatting shared by the panels: one place decides how many digits a reward shows.

/** `—` for null/NaN, else fixed digits. */
export function fmt(x: number | null | undefined, digits = 3): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(digits);
}

export function fmtPct(x: number | null | undefined, digits = 1): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '—' : `${(100 * x).toFixed(digits)} %`;
}

export function fmtInt(x: number | null | undefined): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '—' : Math.round(x).toLocaleString('en-US');
}

/** 3725 -> `1 h 2 min`, 75 -> `1 min 15 s`. */
export function fmtDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '—';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/** Steps per second, or seconds per step when slower than one a second (the usual case). */
export function fmtRate(stepsPerSecond: number | null | undefined): string {
  if (stepsPerSecond === null || stepsPerSecond === undefined || !(stepsPerSecond > 0)) return '—';
  return stepsPerSecond >= 1 ? `${stepsPerSecond.toFixed(2)} steps/s` : `${(1 / stepsPerSecond).toFixed(1)} s/step`;
}

/** A one-line preview of untrusted text: whitespace collapsed, cut at `max` characters. */
export function preview(text: string, max = 80): string {
  const one = text.replace(/\s+/g, ' ').trim();
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
}
