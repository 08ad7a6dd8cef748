// Types of the generated validator module (scripts/gen-validators.mjs): Ajv's standalone functions,
// `validate` for any event and `def_<name>` for each `$defs` entry of the schema (`def_rollout`, ...).
import type { ValidateFunction } from 'ajv';

type Validate = ValidateFunction<Record<string, unknown>>;
declare const validators: { validate: Validate } & { [name: `def_${string}`]: Validate | undefined };
export default validators;
