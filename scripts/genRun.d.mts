// Types of scripts/genRun.mjs for the TypeScript tests that use its seeded generator.
export interface RunShape {
  steps: number;
  queries: number;
  rollouts: number;
  tiers: number[];
  maxTokens: number;
  meanTokens: number;
  seed: number;
}
export const PAPER_SHAPE: RunShape;
/** mulberry32: small, seeded, good enough to pick mutations and shapes. */
export function rng(seed: number): () => number;
/** `lineMap`: also write the trainer's line map `.events.lines` beside `path`. */
export function generate(path: string, shape: RunShape, options?: { lineMap?: boolean }): Promise<{ bytes: number; lines: number }>;
/** The first line of a line map (`.events.lines`). */
export const LINE_MAP_HEADER: string;
/** The line map's record of `event`, whose line (newline excluded) is `line` at byte `offset` of events.jsonl. */
export function mapRecord(offset: number, line: Uint8Array, event: { type: string; [key: string]: unknown }): string;
/** A verl rollout dump (`{step}.jsonl` files) of the shape, into `dir`. */
export function generateVerl(dir: string, shape: Partial<RunShape>): Promise<{ bytes: number; lines: number }>;
