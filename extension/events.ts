// The run event protocol as the extension reads it from runs/<id>/events.jsonl: parse and validate
// one line against trainer/hbpo/schemas/events.schema.json (the source of truth; the trainer's tests
// validate every event it emits against the same file). The types live in common/events.ts. The
// validator is Ajv's, compiled from the schema ahead of time (scripts/gen-validators.mjs): compiling
// it at load cost every process and worker thread that reads events ~120 ms.
import type { RunEvent } from '../common/events';
import validators from './generated/eventsValidator';

export * from '../common/events';

const { validate } = validators;

export type ParseResult = { ok: true; event: RunEvent } | { ok: false; error: string };

/** Parse and validate one line of events.jsonl; `line` is 1-based, for the error message. */
export function parseEventLine(text: string, line: number): ParseResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, error: `line ${line}: not JSON (${(err as Error).message})` };
  }
  if (!validate(value)) {
    const type = typeof value === 'object' && value && 'type' in value ? ` (${String(value.type)})` : '';
    return { ok: false, error: `line ${line}${type}: ${describe(value)}` };
  }
  return { ok: true, event: value as unknown as RunEvent };
}

function describe(value: unknown): string {
  // oneOf failures list an error per branch; re-validate against the event's own type for the
  // one message that matters.
  const type = (value as { type?: unknown })?.type;
  const own = typeof type === 'string' && Object.hasOwn(validators, `def_${type}`) ? validators[`def_${type}`] : undefined;
  const errors = own && !own(value) ? own.errors : validate.errors;
  const e = errors?.[0];
  return e ? `${e.instancePath || '(event)'} ${e.message ?? 'is invalid'}` : 'invalid event';
}
