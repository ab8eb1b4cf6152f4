/**
 * The benchmark's command line. Value flags take both forms, `--replicas 2` and `--replicas=2`,
 * because `npm run bench -- --replicas 2` is what people type and `--workloads=N` is what the
 * README has always shown.
 */
export interface BenchArgs {
  readonly quick: boolean;
  readonly json: boolean;
  readonly realProcesses: boolean;
  readonly only: string | undefined;
  readonly workloads: number | undefined;
  /** Replica processes (and BullMQ worker processes) for burst, latency and takeover; undefined: today's single process. */
  readonly replicas: number | undefined;
  /** Shard lease TTL of the takeover scenario's replicas, ms. */
  readonly shardTtlMs: number;
  /** Another build's checkout to measure beside this one (burst, latency, memory). */
  readonly baseline: string | undefined;
  /** The start scenario's burst pool (the burst is three times it); undefined: its default. */
  readonly poolSize: number | undefined;
  /** The latency scenario's offered load, workloads per second (the target is stated at 1,000). */
  readonly rate: number;
}

const VALUE_FLAGS = ['only', 'workloads', 'replicas', 'shard-ttl', 'baseline', 'pool-size', 'rate'] as const;
const BOOLEAN_FLAGS = ['quick', 'json', 'real-processes'] as const;

export function parseBenchArgs(argv: readonly string[]): BenchArgs {
  const values = new Map<string, string>();
  const booleans = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [name, inline] = arg.startsWith('--') ? splitOnce(arg.slice(2)) : [arg, undefined];
    if ((VALUE_FLAGS as readonly string[]).includes(name)) {
      const value = inline ?? argv[++i];
      if (value === undefined || value.startsWith('--')) throw new Error(`--${name} needs a value`);
      values.set(name, value);
    } else if ((BOOLEAN_FLAGS as readonly string[]).includes(name) && inline === undefined) {
      booleans.add(name);
    } else {
      throw new Error(`unknown benchmark option "${arg}"; options: ${[...BOOLEAN_FLAGS, ...VALUE_FLAGS].map((f) => `--${f}`).join(' ')}`);
    }
  }
  const replicas = positiveInt(values, 'replicas');
  return {
    quick: booleans.has('quick'),
    json: booleans.has('json'),
    realProcesses: booleans.has('real-processes'),
    only: values.get('only'),
    workloads: positiveInt(values, 'workloads'),
    replicas,
    shardTtlMs: positiveInt(values, 'shard-ttl') ?? 2_000,
    baseline: values.get('baseline'),
    poolSize: positiveInt(values, 'pool-size'),
    rate: positiveInt(values, 'rate') ?? 1_000,
  };
}

function splitOnce(text: string): [string, string | undefined] {
  const at = text.indexOf('=');
  return at < 0 ? [text, undefined] : [text.slice(0, at), text.slice(at + 1)];
}

function positiveInt(values: Map<string, string>, name: string): number | undefined {
  const text = values.get(name);
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} takes a positive whole number, not "${text}"`);
  return n;
}
