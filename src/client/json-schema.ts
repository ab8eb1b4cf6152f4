import { z } from 'zod';
import { RESERVED_ENV_PREFIX, RESERVED_LABEL_PREFIXES, workloadFieldsSchema, workloadSpecSchema } from '../spec/schema.js';
import { MAX_CMD_ARGS, MAX_ENV_NAME_LENGTH, MAX_ENV_VARS, MAX_LABEL_KEY_LENGTH, MAX_LABELS } from '../spec/size-bounds.js';

/** Where the published schema says it lives; producers may refer to it by this id. */
export const WORKLOAD_SCHEMA_ID = 'urn:leasehold:schema:workload';

type JsonSchema = Record<string, unknown>;

/**
 * The JSON Schema (draft 2020-12) of what may be pushed onto `workload_queue`, so that producers
 * in other languages can check a payload before `LPUSH`. Generated from intake's zod schema;
 * `scripts/write-json-schema.mjs` writes it to `schema/workload.schema.json`, and a test keeps the
 * file equal to this.
 *
 * `z.toJSONSchema` exports types, ranges, lengths and patterns, but not refinements (code) nor the
 * size bounds intake checks before the schema. What JSON Schema can say of those is added here,
 * from the same constants, so the two cannot drift. What it cannot say (see docs: the payload's
 * byte limit, a number quantity whose decimal form is no quantity) is left to intake.
 */
export function workloadJsonSchema(): JsonSchema {
  const schema = z.toJSONSchema(workloadSpecSchema, { io: 'input', unrepresentable: 'throw' }) as JsonSchema;
  const properties = schema.properties as Record<string, JsonSchema>;
  const noNul = { pattern: '^[^\\x00]*$' };

  const [cmdLine, argv] = (properties.cmd!.anyOf as JsonSchema[]).map((s) => s);
  Object.assign(cmdLine!, noNul);
  Object.assign(argv!, { maxItems: MAX_CMD_ARGS, prefixItems: [{ minLength: 1 }] });
  Object.assign(argv!.items as JsonSchema, noNul);

  const env = properties.env!;
  env.maxProperties = MAX_ENV_VARS;
  Object.assign(env.propertyNames as JsonSchema, {
    maxLength: MAX_ENV_NAME_LENGTH,
    not: { anyOf: [{ pattern: `^${RESERVED_ENV_PREFIX}` }, OBJECT_KEYS] },
  });
  Object.assign(env.additionalProperties as JsonSchema, noNul);

  const labels = properties.labels!;
  labels.maxProperties = MAX_LABELS;
  Object.assign(labels.propertyNames as JsonSchema, {
    maxLength: MAX_LABEL_KEY_LENGTH,
    not: { anyOf: [{ pattern: `^(${RESERVED_LABEL_PREFIXES.map(escapeRegExp).join('|')})` }, OBJECT_KEYS] },
  });

  // A quantity is a string, or a number turned into one, and that string is then checked: the
  // check is the pipe's second half, exported on its own.
  const quantityText = z.toJSONSchema(quantityPipe().out, { io: 'output' }) as JsonSchema;
  delete quantityText.$schema;
  for (const field of ['cpu', 'memory']) {
    const [text] = ((properties.resources!.properties as Record<string, JsonSchema>)[field]!.anyOf as JsonSchema[]).map((s) => s);
    Object.assign(text!, quantityText);
  }

  // The rule between cmd and mode is a refinement (code); JSON Schema says it with if/then.
  schema.allOf = [
    { if: { required: ['mode'], properties: { mode: { const: 'run' } } }, then: { required: ['cmd'] } },
    { if: { required: ['mode'], properties: { mode: { const: 'session' } } }, then: { not: { required: ['cmd'] } } },
  ];

  return {
    $schema: schema.$schema,
    $id: WORKLOAD_SCHEMA_ID,
    title: 'Leasehold workload',
    description: 'One entry of workload_queue (LPUSH it as JSON). Generated from the control plane\'s intake schema; intake also refuses a payload over its byte limit (64 KiB by default).',
    ...Object.fromEntries(Object.entries(schema).filter(([key]) => key !== '$schema')),
  };
}

/** Keys JavaScript objects give a meaning to: intake refuses them by name in env and labels. */
const OBJECT_KEYS = { enum: ['__proto__', 'constructor', 'prototype'] };

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** The `quantity` pipe inside `resources.cpu`: default → object → optional → pipe. */
function quantityPipe(): z.ZodPipe<z.ZodType, z.ZodType> {
  const resources = workloadFieldsSchema.shape.resources.unwrap();
  return resources.shape.cpu.unwrap() as unknown as z.ZodPipe<z.ZodType, z.ZodType>;
}
