// Pure helpers of the extension wiring (no `vscode` import, so the unit tests run them as they are):
// settings paths, config-file detection, and the words and numbers the Runs view and status bar show.
import { isAbsolute, join, resolve } from 'node:path';
import type { JudgedStatus } from '../runs/judge';

/**
 * Expand a folder setting (`hbpo.runsDirectory`): `${workspaceFolder}`, `${userHome}` and `~`; a
 * relative path resolves against the workspace folder. Undefined when relative and there is no folder.
 */
export function expandFolderSetting(value: string, workspaceFolder: string | undefined, home: string | undefined): string | undefined {
  let v = value.trim() || 'runs';
  if (workspaceFolder) v = v.replaceAll('${workspaceFolder}', workspaceFolder);
  if (home) {
    v = v.replaceAll('${userHome}', home);
    if (v === '~' || v.startsWith('~/') || v.startsWith('~\\')) v = join(home, v.slice(1));
  }
  if (isAbsolute(v)) return resolve(v);
  return workspaceFolder ? resolve(workspaceFolder, v) : undefined;
}

/** Whether `child` is `parent` or inside it (both absolute). */
export function isInside(child: string, parent: string): boolean {
  const c = resolve(child);
  const p = resolve(parent);
  return c === p || c.startsWith(p.endsWith('/') || p.endsWith('\\') ? p : `${p}/`) || c.startsWith(`${p}\\`);
}

/**
 * Whether a YAML or JSON file looks like an HBPO trainer config: a top-level `method:` or `tiers:` key.
 * YAML is checked with a line match (no parser): a key at column 0 of a block mapping.
 */
export function isTrainerConfigText(text: string, fileName: string): boolean {
  if (/\.json$/i.test(fileName)) {
    try {
      const v = JSON.parse(text) as unknown;
      return typeof v === 'object' && v !== null && !Array.isArray(v) && ('method' in v || 'tiers' in v);
    } catch {
      return false;
    }
  }
  return /^(method|tiers|"method"|"tiers"|'method'|'tiers')[ \t]*:/m.test(text);
}

/** A run's status as judged by the run store (extension/runs/judge.ts). */
export type DisplayStatus = JudgedStatus;

/** What one row of the Runs view (and the status bar) says about a run. */
export interface RunFigures {
  status: DisplayStatus;
  step: number;
  totalSteps?: number;
  stepsPerSecond?: number | null;
}

export function formatRate(stepsPerSecond: number | null | undefined): string | undefined {
  if (stepsPerSecond === null || stepsPerSecond === undefined || !Number.isFinite(stepsPerSecond) || stepsPerSecond <= 0) return undefined;
  if (stepsPerSecond >= 10) return `${stepsPerSecond.toFixed(0)} steps/s`;
  if (stepsPerSecond >= 0.1) return `${stepsPerSecond.toFixed(2)} steps/s`;
  return `${(60 * stepsPerSecond).toFixed(1)} steps/min`;
}

export function formatProgress(f: RunFigures): string {
  return f.totalSteps !== undefined ? `${f.step}/${f.totalSteps}` : `${f.step}`;
}

/** `running · 12/40 · 0.52 steps/s`; the rate only while running. */
export function describeRun(f: RunFigures): string {
  const parts: string[] = [f.status === 'pending' ? 'starting' : f.status, formatProgress(f)];
  if (f.status === 'running') {
    const rate = formatRate(f.stepsPerSecond);
    if (rate) parts.push(rate);
  }
  return parts.join(' · ');
}

/** `HBPO 12/40 · 0.52 steps/s` for the status bar. */
export function statusBarText(f: RunFigures): string {
  const rate = formatRate(f.stepsPerSecond);
  return `HBPO ${formatProgress(f)}${rate ? ` · ${rate}` : ''}`;
}

/** Seconds as `1 h 02 min`, `3 min 05 s` or `12 s`. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s >= 3600) return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
  if (s >= 60) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${s} s`;
}

/** The last `n` non-empty lines, for an error notification (which shows one paragraph). */
export function lastNonEmpty(lines: readonly string[], n: number): string[] {
  return lines.filter((l) => l.trim() !== '').slice(-n);
}
