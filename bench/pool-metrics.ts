/**
 * A warm pool's figures as the control plane's /metrics shows them (src/pool/):
 * `leasehold_pool_members{pool, state}` and `leasehold_pool_claims_total{pool, result}`.
 * Read from the metrics rather than guessed from which workloads were fast.
 */
import { sleep } from './load.js';

export interface PoolFigures {
  readonly ready: number;
  readonly starting: number;
  readonly claimed: number;
  readonly hits: number;
  readonly misses: number;
  /** Every pool the metrics name: when ours is missing, what it is called instead. */
  readonly pools: readonly string[];
}

interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** Samples of the Prometheus text format (what prom-client writes; no timestamps, no exemplars). */
export function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line.trim());
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      labels[key!] = value!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** This pool's figures; null when the build has no pool metrics at all (warm pools not in it). */
export async function scrapePool(httpPort: number, pool: string): Promise<PoolFigures | null> {
  const response = await fetch(`http://127.0.0.1:${httpPort}/metrics`);
  if (!response.ok) throw new Error(`GET /metrics answered ${response.status}`);
  const text = await response.text();
  if (!/^# TYPE leasehold_pool_members /m.test(text)) return null;
  const samples = parseMetrics(text);
  const ours = samples.filter((s) => s.labels.pool === pool);
  const sum = (name: string, label: string, value: string) =>
    ours.filter((s) => s.name === name && s.labels[label] === value).reduce((total, s) => total + s.value, 0);
  return {
    ready: sum('leasehold_pool_members', 'state', 'ready'),
    starting: sum('leasehold_pool_members', 'state', 'starting'),
    claimed: sum('leasehold_pool_members', 'state', 'claimed'),
    hits: sum('leasehold_pool_claims_total', 'result', 'hit'),
    misses: sum('leasehold_pool_claims_total', 'result', 'miss'),
    pools: [...new Set(samples.flatMap((s) => (s.name.startsWith('leasehold_pool_') && s.labels.pool !== undefined ? [s.labels.pool] : [])))],
  };
}

export type PoolReadiness = { readonly ready: true; readonly figures: PoolFigures } | { readonly ready: false; readonly why: string };

/** Waits until the pool holds `size` ready members: the warm half starts from a full pool, not a filling one. */
export async function waitForFullPool(httpPort: number, pool: string, size: number, timeoutMs: number): Promise<PoolReadiness> {
  const deadline = performance.now() + timeoutMs;
  let last: PoolFigures | null = null;
  while (performance.now() < deadline) {
    last = await scrapePool(httpPort, pool);
    if (last === null) return { ready: false, why: 'this build has no pool metrics (leasehold_pool_members): warm pools are not in it' };
    if (last.ready >= size) return { ready: true, figures: last };
    await sleep(100);
  }
  const seen = last?.pools.length ? `; pools in /metrics: ${last.pools.join(', ')}` : '; no pool in /metrics yet';
  return { ready: false, why: `pool ${pool} not full within ${(timeoutMs / 1000).toFixed(1)} s (ready ${last?.ready ?? 0}, starting ${last?.starting ?? 0} of ${size}${seen})` };
}
