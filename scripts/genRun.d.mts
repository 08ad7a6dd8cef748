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
export function generate(path: string, shape: RunShape): Promise<{ bytes: number; lines: number }>;
