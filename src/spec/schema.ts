import { z } from 'zod';
import { WORKLOAD_TYPES } from '../../machines/index.js';

/** Pods are named `job-<id>`, and a Pod name must be a DNS-1123 label of at most 63 characters. */
export const MAX_ID_LENGTH = 63 - 'job-'.length;
export const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** `run`: the workload is its `cmd`. `session`: it runs nothing of its own; commands are exec'd into it. */
export const WORKLOAD_MODES = ['run', 'session'] as const;
export type WorkloadMode = (typeof WORKLOAD_MODES)[number];
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/**
 * Variables the control plane sets for a workload (heartbeat URL, token, socket, workload id). A
 * spec may not set or shadow them: the launcher once took the heartbeat socket from this namespace,
 * and a spec that set it to `/` had the host's root bind-mounted into its sandbox.
 */
export const RESERVED_ENV_PREFIX = 'LEASEHOLD_';
/** Ids of warm pool members (src/pool/warm-pool.ts); no workload may take one. */
export const RESERVED_ID_PREFIX = 'wp-';
/** Kubernetes resource quantities: `500m`, `1`, `0.5`, `256Mi`, `1G`. */
const QUANTITY = /^([0-9]+(\.[0-9]+)?|\.[0-9]+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;
const LABEL_KEY = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
/**
 * Label prefixes a spec may not use: ours mark what Leasehold manages, and `app.kubernetes.io/`
 * is what Services and NetworkPolicies select on. A Pod a submitter labels
 * `app.kubernetes.io/name: leasehold` would join the control plane's Service and pass the policies
 * that admit only the control plane to Redis and NATS.
 */
export const RESERVED_LABEL_PREFIXES = ['leasehold.dev/', 'app.kubernetes.io/'] as const;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;

export const quantitySchema = z
  .union([z.string(), z.number().positive()])
  .transform(String)
  .pipe(
    z
      .string()
      // Kubernetes refuses a quantity past int64 only when the Pod is created; say so at intake.
      .max(20, { error: 'must be a Kubernetes quantity of at most 20 characters' })
      .regex(QUANTITY, { error: 'must be a Kubernetes quantity such as 500m, 1, 256Mi or 1Gi' }),
  );

/** The fields of a payload, each checked alone; `workloadSpecSchema` adds the rules between them. */
export const workloadFieldsSchema = z.strictObject({
  id: z
    .string({ error: 'is required and must be a string' })
    .max(MAX_ID_LENGTH, { error: `must be at most ${MAX_ID_LENGTH} characters, so that job-<id> is a valid Pod name` })
    .regex(DNS1123_LABEL, {
      error: "must be a DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit",
    })
    // A workload under a member's id would take that member's place in its runtime (src/pool/).
    .refine((id) => !id.startsWith(RESERVED_ID_PREFIX), { error: `must not start with ${RESERVED_ID_PREFIX}: ids starting so are the warm pools' own` }),
  type: z.enum(WORKLOAD_TYPES, { error: `must be one of ${WORKLOAD_TYPES.join(', ')}` }),
  image: z.string({ error: 'is required and must be a string' }).min(1, { error: 'must not be empty' }).max(512, { error: 'must be at most 512 characters' }),
  cmd: z
    .union(
      [
        z.string().min(1, { error: 'must not be empty' }),
        z
          .array(z.string())
          .min(1, { error: 'must hold at least the program to run' })
          // exec("") fails only at spawn, as a confusing ENOENT after the workload was admitted.
          .refine((argv) => argv[0] !== '', { error: 'must start with the program to run, not an empty string' }),
      ],
      { error: 'must be an array of strings (exec) or a string (run by /bin/sh -c)' },
    )
    // exec() would end an argument at a NUL and run something other than what was submitted.
    .refine((cmd) => !(typeof cmd === 'string' ? [cmd] : cmd).some((arg) => arg.includes('\0')), { error: 'must not contain NUL characters' })
    // Absent: a session (see `mode`).
    .optional(),
  /**
   * `run`: the workload is its `cmd`, and ends when it exits. `session`: it runs nothing of its
   * own and stays running until cancelled, its lease lapses or its deadline passes; commands are
   * exec'd into it. Defaults from `cmd`: none makes a session.
   */
  mode: z.enum(WORKLOAD_MODES, { error: 'must be run or session' }).optional(),
  env: z
    .record(
      z
        .string()
        .regex(ENV_NAME, { error: 'names must look like VAR_NAME' })
        .refine((name) => !name.startsWith(RESERVED_ENV_PREFIX), {
          error: `names starting with ${RESERVED_ENV_PREFIX} are reserved for the control plane`,
        }),
      // A NUL cannot reach a process's environment; passed on to a sandbox, it would end the value early.
      z.string().refine((value) => !value.includes('\0'), { error: 'values must not contain NUL characters' }),
      {
        // A bad name says what is wrong with it, not only that the object is wrong.
        error: (issue) =>
          (issue.code === 'invalid_key' ? issue.issues[0]?.message : undefined) ?? 'must be an object of string values',
      },
    )
    .default({}),
  resources: z
    .strictObject({ cpu: quantitySchema.optional(), memory: quantitySchema.optional() })
    .default({}),
  leaseSeconds: wholeSeconds(1, 3600).default(30),
  maxLifetimeSeconds: wholeSeconds(1, 7 * 24 * 3600).default(3600),
  labels: z
    .record(
      z
        .string()
        .regex(LABEL_KEY, { error: 'keys must be valid Kubernetes label keys' })
        .refine((key) => !RESERVED_LABEL_PREFIXES.some((prefix) => key.startsWith(prefix)), {
          error: `keys starting with ${RESERVED_LABEL_PREFIXES.join(' or ')} are reserved for the control plane`,
        }),
      z.string().regex(LABEL_VALUE, { error: 'values must be valid Kubernetes label values' }),
      {
        error: (issue) => (issue.code === 'invalid_key' ? issue.issues[0]?.message : undefined) ?? 'must be an object of string values',
      },
    )
    .default({}),
  /**
   * `runtime`: the control plane renews the lease while the runtime reports the workload alive.
   * `self`: the workload must heartbeat itself (see README, "Heartbeats"); a session's holder
   * heartbeats it from outside. Defaults to `runtime` for a run, `self` for a session: a session's
   * keeper is always alive, so a runtime-renewed session would live until its deadline whether
   * anyone still uses it or not.
   */
  heartbeat: z.enum(['runtime', 'self'], { error: 'must be runtime or self' }).optional(),
});

/**
 * A payload as intake takes it: the fields, then `mode` and `heartbeat` settled from `cmd`. A
 * session with a `cmd` is refused rather than the `cmd` ignored or run: whoever wrote both meant
 * one of them, and running it is not what `session` promises.
 */
export const workloadSpecSchema = workloadFieldsSchema
  .superRefine((fields, ctx) => {
    if (fields.mode === 'run' && fields.cmd === undefined) ctx.addIssue({ code: 'custom', path: ['cmd'], message: 'is required' });
    if (fields.mode === 'session' && fields.cmd !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['cmd'],
        message: 'must be absent in a session: a session runs nothing of its own, commands are exec\'d into it once it is running (leave mode out, or set it to run, to run cmd)',
      });
    }
  })
  .transform(({ mode, heartbeat, ...fields }) => {
    const settled: WorkloadMode = mode ?? (fields.cmd === undefined ? 'session' : 'run');
    const renewal: 'runtime' | 'self' = heartbeat ?? (settled === 'session' ? 'self' : 'runtime');
    const { id, type, image, cmd, env, resources, leaseSeconds, maxLifetimeSeconds, labels, ...rest } = fields;
    // A field added to the schema must be named here too, or the spec would drop it.
    void (rest satisfies Record<string, never>);
    // Named field by field rather than spread from zod's output, and the empty maps most specs
    // have shared: a spec is held per live workload for as long as it lives (100,000 at a time).
    return {
      id,
      type,
      image,
      ...(cmd === undefined ? {} : { cmd }),
      env: emptyOr(env),
      resources: emptyOr(resources),
      leaseSeconds,
      maxLifetimeSeconds,
      labels: emptyOr(labels),
      mode: settled,
      heartbeat: renewal,
    };
  });

const EMPTY = Object.freeze({});
/** The one frozen empty object for an empty map: never written to, a spec being read-only. */
function emptyOr<T extends object>(value: T): T {
  for (const _ in value) return value;
  return EMPTY as T;
}

export type WorkloadSpec = z.output<typeof workloadSpecSchema>;
export type WorkloadSubmission = z.input<typeof workloadSpecSchema>;

/** One message for every way a duration can be wrong (a string, a fraction, 0, 2^53): the range. */
function wholeSeconds(min: number, max: number) {
  const error = `must be a whole number of seconds from ${min} to ${max}`;
  return z.int({ error }).min(min, { error }).max(max, { error });
}
