/**
 * `npm run bench -- --only=start`: how long an agent waits for a sandbox. Sessions are submitted
 * with LPUSH and timed to `running` (heard on NATS) and to the first byte of an exec's output,
 * cold (no pool) against warm (a full pool of ready members), on the process runtime's bubblewrap
 * sandbox and on the Kubernetes runtime against the fake API server given a 1–3 s cold Pod start;
 * then the exec round trip on a running session, and the pool's hit rate under a burst of three
 * times its size. A build without warm pools says so and measures the cold half only.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Leasehold } from '../src/client/index.js';
import { freePort } from '../src/dev/servers.js';
import { poolName, type PoolTemplate } from '../src/pool/pool-template.js';
import { bubblewrapLauncher } from '../src/runtime/process/bubblewrap.js';
import { isSameProcessAlive, killGroup, PidFiles } from '../src/runtime/process/pid-files.js';
import { FakeKubeApiServer, type StartRange } from '../test/kubernetes/fake-api-server.js';
import type { BenchServers } from './burst.js';
import { startPlane, stopChild } from './children.js';
import { pushAll, sleep } from './load.js';
import { scrapePool, waitForFullPool, type PoolFigures } from './pool-metrics.js';
import { execRoundTrips, probeSession, sessionPayload, TransitionClock, type ProbeTarget, type SessionTimes } from './start-probe.js';

export interface StartOptions {
  /** Sessions timed in each half (cold, warm); the warm pool holds this many. */
  readonly workloads: number;
  /** The burst's pool; the burst is three times this. */
  readonly poolSize: number;
  /** Execs timed back to back for the round trip. */
  readonly execRounds: number;
  /** Between two submits: an offered load, not a queue drained at once. */
  readonly intervalMs: number;
  readonly log: (line: string) => void;
}

/** The Kubernetes fake's cold Pod start: image pull and container start on a real node take about this. */
export const COLD_POD_START_MS: StartRange = { min: 1_000, max: 3_000 };
const BURST_FACTOR = 3;
/** One session's whole probe: a cold Pod's 3 s, and a queue of them, with room to spare. */
const PROBE_TIMEOUT_MS = 60_000;

interface Percentiles {
  readonly samples: number;
  readonly p50_ms: number;
  readonly p99_ms: number;
  readonly max_ms: number;
}

export function percentiles(values: readonly number[]): Percentiles {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) => +(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN).toFixed(2);
  return { samples: sorted.length, p50_ms: at(50), p99_ms: at(99), max_ms: +(sorted.at(-1) ?? NaN).toFixed(2) };
}

interface Flavour {
  readonly name: 'bubblewrap' | 'kubernetes';
  unavailable(): string | null;
  /** A plane's runtime configuration, and what to close once that plane has stopped. */
  open(): Promise<{ readonly config: Record<string, unknown>; readonly coldStarts: () => number[]; close(): Promise<void> }>;
}

const FLAVOURS: readonly Flavour[] = [
  {
    name: 'bubblewrap',
    unavailable: () => bubblewrapLauncher().unavailableReason(),
    // The product's process runtime (bench/plane.ts builds it), untrusted work in bubblewrap.
    open: () => Promise.resolve({ config: { realProcesses: true }, coldStarts: () => [], close: () => Promise.resolve() }),
  },
  {
    name: 'kubernetes',
    unavailable: () => null,
    async open() {
      // In this process, as the kubernetes scenario's: its kubelet timers are what is measured, not its CPU.
      const api = new FakeKubeApiServer({ startMs: COLD_POD_START_MS, runMs: 5, terminateMs: 5, bookmarkMs: 10_000 });
      await api.start();
      const kubeconfig = api.writeKubeconfig('jobs');
      return {
        config: { runtime: 'kubernetes', kubernetes: { kubeconfig, namespace: 'jobs', sandboxNamespace: 'sandbox', runtimeClass: 'gvisor' } },
        coldStarts: () => [...api.startDelays.values()],
        async close() {
          await api.stop();
          rmSync(kubeconfig, { force: true });
        },
      };
    },
  },
];

interface PlaneUnderTest extends ProbeTarget {
  readonly httpPort: number;
}

/** A control plane of its own (own prefix, state directory, fake API server), closed with everything it started. */
async function withPlane<T>(s: BenchServers, flavour: Flavour, prefix: string, pools: readonly PoolTemplate[], body: (plane: PlaneUnderTest) => Promise<T>) {
  const runtime = await flavour.open();
  const stateDir = mkdtempSync(join(tmpdir(), 'leasehold-bench-start-'));
  const httpPort = await freePort();
  const child = await startPlane(s.redisUrl, s.natsUrl, prefix, { ...runtime.config, stateDir, httpPort, pools }).catch(async (error: unknown) => {
    rmSync(stateDir, { recursive: true, force: true });
    await runtime.close();
    throw error;
  });
  const lh = await Leasehold.connect({ redis: s.redis, nats: s.nc, keyPrefix: prefix });
  const clock = await TransitionClock.start(s.nc);
  const stop = async () => {
    clock.close();
    await lh.close();
    await stopChild(child);
    // bubblewrap sandboxes die with their control plane (--die-with-parent); whatever else its
    // process runtime still names (pool members made another way, say) would outlive the run.
    const killed = killLeftovers(stateDir);
    rmSync(stateDir, { recursive: true, force: true });
    await runtime.close();
    return killed;
  };
  let result: T;
  try {
    result = await body({ redis: s.redis, queue: `${prefix}workload_queue`, lh, clock, httpPort });
  } catch (error) {
    await stop();
    throw error;
  }
  const coldStarts = runtime.coldStarts();
  return { result, coldStarts, leftRunning: await stop() };
}

/** Kills what the process runtime's pid files under `stateDir` say is still alive; how many. */
export function killLeftovers(stateDir: string): number {
  let killed = 0;
  const dirs = readdirSync(stateDir, { recursive: true, withFileTypes: true }).filter((entry) => entry.isDirectory() && entry.name === 'pids');
  for (const dir of dirs) {
    const pids = new PidFiles(join(dir.parentPath, dir.name));
    for (const id of pids.ids()) {
      const record = pids.read(id);
      if (record && record.exitCode === undefined && isSameProcessAlive(record.pid, record.startTime)) {
        killGroup(record.pid, 'SIGKILL');
        killed++;
      }
    }
  }
  return killed;
}

interface HalfResult {
  readonly submit_to_running: Percentiles;
  readonly submit_to_first_byte: Percentiles;
  readonly exec_to_first_byte: Percentiles;
  readonly failed: number;
  readonly first_failure?: string;
}

/** `n` sessions submitted one every `intervalMs`, each timed, then cancelled and awaited to tornDown. */
async function pacedSessions(plane: PlaneUnderTest, tag: string, n: number, intervalMs: number): Promise<HalfResult> {
  const ids = Array.from({ length: n }, (_, i) => `${tag}-${i}`);
  const flows: Promise<SessionTimes>[] = [];
  for (const id of ids) {
    flows.push(probeSession(plane, id, PROBE_TIMEOUT_MS).finally(() => plane.lh.cancel(id).catch(() => undefined)));
    await sleep(intervalMs);
  }
  const outcomes = await Promise.allSettled(flows);
  await plane.clock.tornDown(ids, PROBE_TIMEOUT_MS);
  const times = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
  const failures = outcomes.flatMap((o) => (o.status === 'rejected' ? [String(o.reason)] : []));
  return {
    submit_to_running: percentiles(times.map((t) => t.running)),
    submit_to_first_byte: percentiles(times.map((t) => t.firstByte)),
    exec_to_first_byte: percentiles(times.map((t) => t.execFirstByte)),
    failed: failures.length,
    ...(failures.length > 0 && { first_failure: failures[0] }),
  };
}

/** Exec round trips on one running session of its own. */
async function roundTrips(plane: PlaneUnderTest, id: string, rounds: number): Promise<Percentiles> {
  try {
    await probeSession(plane, id, PROBE_TIMEOUT_MS);
    return percentiles(await execRoundTrips(plane.lh, id, rounds));
  } finally {
    await plane.lh.cancel(id).catch(() => undefined);
    await plane.clock.tornDown([id], PROBE_TIMEOUT_MS);
  }
}

interface BurstResult {
  readonly pool_size: number;
  readonly submitted: number;
  readonly hits: number;
  readonly misses: number;
  readonly hit_rate: number;
  readonly submit_to_running: Percentiles;
}

/** Three times the pool's size pushed at once onto a full pool: the hit rate, from the pool's own counters. */
async function burstOnPool(plane: PlaneUnderTest, pool: string, tag: string, poolSize: number, before: PoolFigures): Promise<BurstResult> {
  const ids = Array.from({ length: poolSize * BURST_FACTOR }, (_, i) => `${tag}-${i}`);
  const running = ids.map((id) => plane.clock.running(id, PROBE_TIMEOUT_MS));
  const pushed = performance.now();
  await pushAll(plane.redis, plane.queue, ids.map(sessionPayload));
  const outcomes = await Promise.allSettled(running);
  const after = await scrapePool(plane.httpPort, pool);
  await Promise.all(ids.map((id) => plane.lh.cancel(id).catch(() => undefined)));
  await plane.clock.tornDown(ids, PROBE_TIMEOUT_MS);
  const hits = (after?.hits ?? 0) - before.hits;
  const misses = (after?.misses ?? 0) - before.misses;
  return {
    pool_size: poolSize,
    submitted: ids.length,
    hits,
    misses,
    hit_rate: +(hits / Math.max(1, hits + misses)).toFixed(3),
    submit_to_running: percentiles(outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value - pushed] : []))),
  };
}

const template = (size: number): PoolTemplate => ({ type: 'untrusted', image: 'alpine', resources: {}, size, min: size, max: size, idleSeconds: 600 });
/** A pool of `size` members fills in parallel or one by one, depending on the pool: allow for the slower. */
const fillTimeoutMs = (size: number) => 60_000 + size * 500;

async function onFlavour(s: BenchServers, flavour: Flavour, options: StartOptions) {
  const { workloads: n, poolSize, execRounds, intervalMs, log } = options;
  const tag = flavour.name === 'bubblewrap' ? 'sb' : 'sk';
  const pool = poolName(template(1));
  const run = (half: string) => `${tag}${half}${Date.now().toString(36)}`;

  log(`start, ${flavour.name}: cold, ${n} sessions…`);
  const cold = await withPlane(s, flavour, `start-${tag}-cold:`, [], async (plane) => ({
    ...(await pacedSessions(plane, run('c'), n, intervalMs)),
    exec_round_trip: await roundTrips(plane, run('rt'), execRounds),
  }));
  log(JSON.stringify(cold.result));

  log(`start, ${flavour.name}: warm, a pool of ${n}, ${n} sessions…`);
  const warm = await withPlane(s, flavour, `start-${tag}-warm:`, [template(n)], async (plane) => {
    const full = await waitForFullPool(plane.httpPort, pool, n, fillTimeoutMs(n));
    if (!full.ready) return { skipped: full.why };
    const half = await pacedSessions(plane, run('w'), n, intervalMs);
    const after = await scrapePool(plane.httpPort, pool);
    return { ...half, hits: (after?.hits ?? 0) - full.figures.hits, misses: (after?.misses ?? 0) - full.figures.misses };
  });
  log(JSON.stringify(warm.result));

  const burst =
    'skipped' in warm.result
      ? { result: { skipped: warm.result.skipped } }
      : await withPlane(s, flavour, `start-${tag}-burst:`, [template(poolSize)], async (plane) => {
          log(`start, ${flavour.name}: burst of ${poolSize * BURST_FACTOR} on a pool of ${poolSize}…`);
          const full = await waitForFullPool(plane.httpPort, pool, poolSize, fillTimeoutMs(poolSize));
          if (!full.ready) return { skipped: full.why };
          return await burstOnPool(plane, pool, run('b'), poolSize, full.figures);
        });
  if (!('skipped' in warm.result)) log(JSON.stringify(burst.result));
  // Expected 0 on each: more is a process the run would have left behind.
  const leftRunning = { cold: cold.leftRunning, warm: 'leftRunning' in warm ? warm.leftRunning : 0, burst: 'leftRunning' in burst ? burst.leftRunning : 0 };
  const starts = cold.coldStarts;
  return {
    ...(flavour.name === 'kubernetes' && { cold_pod_start_ms: { ...COLD_POD_START_MS, mean_drawn: Math.round(starts.reduce((a, b) => a + b, 0) / Math.max(1, starts.length)) } }),
    cold: cold.result,
    warm: warm.result,
    burst: burst.result,
    processes_left_after_stop: leftRunning,
  };
}

export type FlavourResult = Awaited<ReturnType<typeof onFlavour>> | { readonly skipped: string };

export async function startScenario(s: BenchServers, options: StartOptions) {
  const result: Partial<Record<Flavour['name'], FlavourResult>> = {};
  for (const flavour of FLAVOURS) {
    const unavailable = flavour.unavailable();
    if (unavailable) {
      options.log(`start, ${flavour.name}: skipped (${unavailable})`);
      result[flavour.name] = { skipped: unavailable };
    } else result[flavour.name] = await onFlavour(s, flavour, options);
  }
  return { workloads: options.workloads, interval_ms: options.intervalMs, exec_rounds: options.execRounds, ...result };
}

const ms = (p: Percentiles) => (p.samples === 0 ? 'no samples' : `p50 ${p.p50_ms} ms, p99 ${p.p99_ms} ms`);

/** The printed table: each figure cold against warm, with the issue's targets beside them. */
export function startRows(r: Awaited<ReturnType<typeof startScenario>>): [string, string][] {
  const rows: [string, string][] = [];
  for (const name of ['bubblewrap', 'kubernetes'] as const) {
    const f = r[name];
    const where = name === 'bubblewrap' ? 'bubblewrap' : 'kubernetes (fake API server)';
    if (!f) continue;
    if ('skipped' in f) {
      rows.push([`start, ${where}`, `skipped: ${f.skipped}`]);
      continue;
    }
    const warm = 'skipped' in f.warm ? undefined : f.warm;
    const pair = (cold: Percentiles, warmFigure: Percentiles | undefined, target = '') =>
      `cold ${ms(cold)}; ${warmFigure ? `warm ${ms(warmFigure)}` : 'warm skipped'}${target}`;
    const title = (what: string) => `start, ${where}: ${what}`;
    if ('cold_pod_start_ms' in f && f.cold_pod_start_ms) {
      rows.push([title('simulated cold Pod start'), `${f.cold_pod_start_ms.min}–${f.cold_pod_start_ms.max} ms (mean drawn ${f.cold_pod_start_ms.mean_drawn} ms)`]);
    }
    rows.push(
      [title(`submit → running, ${r.workloads} sessions`), pair(f.cold.submit_to_running, warm?.submit_to_running, '  (target warm p99 ≤ 50 ms)')],
      [title('submit → first byte of exec output'), pair(f.cold.submit_to_first_byte, warm?.submit_to_first_byte)],
      [title('exec → first byte'), pair(f.cold.exec_to_first_byte, warm?.exec_to_first_byte)],
      [title(`exec round trip, ${r.exec_rounds} in a row`), `${ms(f.cold.exec_round_trip)}  (target p99 ≤ 20 ms)`],
    );
    if (warm) rows.push([title('warm half, pool claims'), `${warm.hits} hits, ${warm.misses} misses`]);
    else if ('skipped' in f.warm) rows.push([title('warm'), `skipped: ${f.warm.skipped}`]);
    if (!('skipped' in f.burst)) {
      const b = f.burst;
      rows.push([
        title(`burst of ${b.submitted} on a pool of ${b.pool_size}`),
        `hit rate ${(b.hit_rate * 100).toFixed(0)}% (${b.hits} hits, ${b.misses} misses); submit → running ${ms(b.submit_to_running)}`,
      ]);
    }
    const failed = f.cold.failed + (warm?.failed ?? 0);
    if (failed > 0) rows.push([title('failed sessions'), `${failed}: ${f.cold.first_failure ?? warm?.first_failure}`]);
  }
  return rows;
}
