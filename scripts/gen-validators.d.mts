// Types for scripts/gen-validators.mjs, imported by test/unit/events.test.ts.
export const SCHEMA: string;
export const OUT: string;
/** The generated validator module's text, from the schema as it is now. */
export function generate(): string;
