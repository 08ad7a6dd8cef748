// The comparison page's pure parts: the settings form, the token meter, and the columns' state as
// chunks and final states arrive. Tested without a DOM.
import { modeKeyLabel, parseModeKey } from './mode';
import { settingsProblems, type ColumnState, type CompareSettings, type CompareToWebview } from './protocol/compare';

export interface SettingsForm {
  tiers: string;
  lMax: string;
  samples: string;
  temperature: string;
  seed: string;
  /** Mode keys ticked; tier modes follow the tiers field (`tier:<t>` for each tier ticked). */
  modes: string[];
}

export function formOfSettings(s: CompareSettings): SettingsForm {
  return {
    tiers: s.tiers.join(', '), lMax: String(s.lMax), samples: String(s.samples),
    temperature: String(s.temperature), seed: String(s.seed), modes: [...s.modes],
  };
}

/** The settings a form gives, or its problems (each names its field). */
export function parseSettingsForm(f: SettingsForm): { ok: true; settings: CompareSettings } | { ok: false; errors: string[] } {
  const num = (s: string) => (s.trim() === '' ? NaN : Number(s.trim()));
  const tiers = f.tiers.split(/[\s,;]+/).filter((s) => s !== '').map(num);
  // Tier modes are kept only for tiers still in the field, in tier order, then natural, efficiency.
  const tierModes = tiers.map((t) => `tier:${t}`).filter((k) => f.modes.includes(k));
  const others = ['natural', 'efficiency'].filter((k) => f.modes.includes(k));
  const settings: CompareSettings = {
    tiers, lMax: num(f.lMax), samples: num(f.samples), temperature: num(f.temperature), seed: num(f.seed),
    modes: [...tierModes, ...others],
  };
  const errors = settingsProblems(settings);
  return errors.length ? { ok: false, errors } : { ok: true, settings };
}

export interface Meter {
  /** Fill of the bar, 0..1, against the budget (or L_max without one). */
  fraction: number;
  over: boolean;
  label: string;
}

/** The token meter of a column: tokens against its budget (natural/efficiency: against L_max). */
export function meterOf(c: Pick<ColumnState, 'tokens' | 'budget' | 'maxTokens'>): Meter {
  const limit = c.budget ?? c.maxTokens;
  const over = c.budget !== null && c.tokens > c.budget;
  return {
    fraction: Math.min(1, limit > 0 ? c.tokens / limit : 0),
    over,
    label: c.budget !== null
      ? `${c.tokens} / ${c.budget} tokens${over ? ` (${c.tokens - c.budget} over)` : ''}`
      : `${c.tokens} tokens (no budget; limit ${c.maxTokens})`,
  };
}

/** Columns of the current comparison, updated message by message; stale runs are ignored. */
export class ColumnStore {
  runId = 0;
  columns: ColumnState[] = [];
  running = false;

  /** Applies a message; returns the keys of the columns it changed ('*' for all). */
  apply(msg: CompareToWebview): string[] {
    switch (msg.type) {
      case 'state':
        this.runId = msg.runId;
        this.columns = msg.columns.map((c) => ({ ...c }));
        this.running = msg.running;
        return ['*'];
      case 'columns':
        this.runId = msg.runId;
        this.columns = msg.columns.map((c) => ({ ...c }));
        this.running = true;
        return ['*'];
      case 'chunk': {
        const c = msg.runId === this.runId ? this.columns.find((x) => x.key === msg.key) : undefined;
        if (!c) return [];
        c.text += msg.text;
        c.tokens = msg.tokens;
        if (c.status === 'waiting') c.status = 'running';
        return [c.key];
      }
      case 'column': {
        if (msg.runId !== this.runId) return [];
        const i = this.columns.findIndex((x) => x.key === msg.column.key);
        if (i < 0) return [];
        this.columns[i] = { ...msg.column };
        return [msg.column.key];
      }
      case 'runEnd':
        if (msg.runId === this.runId) this.running = false;
        return msg.runId === this.runId ? ['*'] : [];
      default:
        return [];
    }
  }
}

/** Tokens per second of a finished column (generation only), or undefined. */
export function tokensPerSecond(c: Pick<ColumnState, 'tokens' | 'ms'>): number | undefined {
  return c.ms && c.ms > 0 ? c.tokens / (c.ms / 1000) : undefined;
}

/** The mode keys a settings form offers: each tier, natural, efficiency. */
export function offeredModes(tiersField: string): string[] {
  const tiers = tiersField.split(/[\s,;]+/).filter((s) => s !== '').map(Number).filter((t) => Number.isInteger(t) && t > 0);
  return [...tiers.map((t) => `tier:${t}`).filter((k) => parseModeKey(k)), 'natural', 'efficiency'];
}

export interface ModeSummary {
  mode: string;
  label: string;
  budget: number | null;
  /** Finished columns. */
  n: number;
  tokens: number[];
  meanTokens: number | null;
  /** Share correct among graded columns; null when none is graded. */
  accuracy: number | null;
  meanReward: number | null;
}

/** Per-mode figures of the finished columns (for the chart, its table and the export). */
export function summarize(columns: readonly ColumnState[], modes: readonly string[]): ModeSummary[] {
  return modes.map((mode) => {
    const done = columns.filter((c) => c.mode === mode && c.status === 'done');
    const graded = done.filter((c) => typeof c.correct === 'boolean');
    const rewards = done.map((c) => c.reward?.reward).filter((r): r is number => typeof r === 'number');
    const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
    const m = parseModeKey(mode);
    return {
      mode, label: modeKeyLabel(mode), budget: m?.kind === 'tier' ? m.budget : null, n: done.length,
      tokens: done.map((c) => c.tokens), meanTokens: mean(done.map((c) => c.tokens)),
      accuracy: graded.length ? graded.filter((c) => c.correct).length / graded.length : null,
      meanReward: mean(rewards),
    };
  });
}

