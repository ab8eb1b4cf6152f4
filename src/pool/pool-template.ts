import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { WORKLOAD_TYPES, type WorkloadType } from '../../machines/index.js';
import { ConfigError } from '../errors.js';
import { quantitySchema } from '../spec/schema.js';
import type { WorkloadSpec } from '../spec/index.js';

/**
 * A warm pool's template: what its members are (type, image, resources) and how many to hold.
 * A submitted workload claims a member only when its spec asks for exactly this.
 */
export interface PoolTemplate {
  readonly type: WorkloadType;
  readonly image: string;
  readonly resources: { readonly cpu?: string; readonly memory?: string };
  /** Members held ready while the pool is in use. */
  readonly size: number;
  /** Members held ready however idle the pool is; 0 lets it shrink to nothing. */
  readonly min: number;
  /** The most it grows to under demand. */
  readonly max: number;
  /** With no claim for this long, the pool shrinks to `min`. */
  readonly idleSeconds: number;
}

const MAX_POOL_SIZE = 1_000;

const count = (what: string) =>
  z
    // `--pool` gives text, a file numbers.
    .preprocess(
      (value) => (typeof value === 'string' && value.trim() !== '' ? Number(value) : value),
      z.number({ error: (issue) => (issue.input === undefined ? `${what} is required` : `${what} must be a whole number`) }),
    )
    .pipe(
      z
        .number()
        .int({ error: `${what} must be a whole number` })
        .min(0, { error: `${what} must not be negative` })
        .max(MAX_POOL_SIZE, { error: `${what} must be at most ${MAX_POOL_SIZE}` }),
    );

/** A template as written in a pool file (or built from `--pool`): size is required, the rest has defaults. */
export const poolTemplateSchema = z
  .strictObject({
    type: z.enum(WORKLOAD_TYPES, { error: `type must be one of ${WORKLOAD_TYPES.join(', ')}` }),
    image: z
      .string({ error: 'image is required' })
      .min(1, { error: 'image must not be empty' })
      .max(512, { error: 'image must be at most 512 characters' }),
    resources: z.strictObject({ cpu: quantitySchema.optional(), memory: quantitySchema.optional() }).default({}),
    size: count('size').refine((n) => n >= 1, { error: 'size must be at least 1' }),
    min: count('min').default(0),
    max: count('max').optional(),
    // 0 would make the target `min` from the first millisecond on: a pool that never fills.
    idleSeconds: count('idleSeconds')
      .pipe(z.number().min(1, { error: 'idleSeconds (idle) must be at least 1' }).max(7 * 24 * 3600, { error: 'idleSeconds must be at most a week' }))
      .default(600),
  })
  .transform(({ max, ...template }) => ({ ...template, max: max ?? Math.min(MAX_POOL_SIZE, template.size * 2) }))
  .refine((t) => t.min <= t.size && t.size <= t.max, { error: 'a pool needs min <= size <= max' });

/** Short option names of `--pool`, as the long names of a pool file. */
const OPTION_NAMES: Readonly<Record<string, 'size' | 'min' | 'max' | 'idleSeconds' | 'cpu' | 'memory'>> = {
  size: 'size',
  min: 'min',
  max: 'max',
  idle: 'idleSeconds',
  cpu: 'cpu',
  memory: 'memory',
};

/**
 * `--pool 'untrusted:python:3.12:size=20'`: the type, the image (which may hold colons of its own,
 * a tag or a registry port), then `name=value` options: size, min, max, idle (seconds), cpu, memory.
 */
export function parsePoolOption(text: string): PoolTemplate {
  const parts = text.split(':');
  const type = parts.shift() ?? '';
  const options: Record<string, string> = {};
  while (parts.length > 0 && /^[a-z]+=/.test(parts.at(-1)!)) {
    const [name, ...value] = parts.pop()!.split('=');
    const field = OPTION_NAMES[name!];
    if (!field) throw new ConfigError(`--pool ${text}: unknown option ${name}; options: ${Object.keys(OPTION_NAMES).join(', ')}`);
    if (field in options) throw new ConfigError(`--pool ${text}: option ${name} is given twice`);
    options[field] = value.join('=');
  }
  const { cpu, memory, ...counts } = options;
  return checked(
    { type, image: parts.join(':'), resources: { ...(cpu !== undefined ? { cpu } : {}), ...(memory !== undefined ? { memory } : {}) }, ...counts },
    `--pool ${text}`,
  );
}

/** A pool file: YAML or JSON, a list of templates (or `{pools: [...]}`), as the README shows. */
export function readPoolFile(path: string): PoolTemplate[] {
  let document: unknown;
  try {
    document = parseYaml(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ConfigError(`cannot read the pool file ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const list = Array.isArray(document) ? document : (document as { pools?: unknown } | null)?.pools;
  if (!Array.isArray(list)) throw new ConfigError(`the pool file ${path} must hold a list of pools (or pools: [...])`);
  return list.map((entry, i) => checked(entry, `${path}, pool ${i + 1}`));
}

/** Pools of one configuration: no two templates may claim the same specs. */
export function checkPools(templates: readonly PoolTemplate[]): readonly PoolTemplate[] {
  const seen = new Set<string>();
  for (const template of templates) {
    const name = poolName(template);
    if (seen.has(name)) throw new ConfigError(`two pools are declared for ${name}`);
    seen.add(name);
  }
  return templates;
}

function checked(input: unknown, where: string): PoolTemplate {
  const result = poolTemplateSchema.safeParse(input);
  if (result.success) return result.data;
  throw new ConfigError(`${where}: ${result.error.issues.map((issue) => issue.message).join('; ')}`);
}

/** How metrics, the inspector and logs name a pool: `untrusted:python:3.12`, with its resources when it asks for any. */
export function poolName(template: Pick<PoolTemplate, 'type' | 'image' | 'resources'>): string {
  const { cpu, memory } = template.resources;
  const resources = [cpu !== undefined ? `cpu=${cpu}` : '', memory !== undefined ? `memory=${memory}` : ''].filter(Boolean).join(',');
  return `${template.type}:${template.image}${resources ? ` (${resources})` : ''}`;
}

/**
 * Whether `spec` may start in a member of `template`: the same type, image and resources, and
 * nothing the member could not have been given when it was made ahead of time. A run that
 * heartbeats itself needs the heartbeat socket bound into its sandbox at launch, so it starts cold.
 */
export function matches(template: PoolTemplate, spec: WorkloadSpec): boolean {
  return (
    spec.type === template.type &&
    spec.image === template.image &&
    spec.resources.cpu === template.resources.cpu &&
    spec.resources.memory === template.resources.memory &&
    (spec.cmd === undefined || spec.heartbeat === 'runtime')
  );
}
