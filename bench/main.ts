/**
 * `npm run bench [-- --quick] [-- --json] [-- --replicas 2]`: Leasehold measured side by side with
 * BullMQ and the bare-Redis ceiling, in one run, on servers this script starts. See README,
 * "Performance" (its "Several replicas" part for `--replicas`).
 */
import { cpus } from 'node:os';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import { startNats, startRedis, type OwnedServer } from '../src/dev/servers.js';
import { createKeys } from '../src/keys.js';
import { FakeKubeApiServer } from '../test/kubernetes/fake-api-server.js';
import { parseBenchArgs } from './args.js';
import { alternating, baselineBuild, type Baseline, type BuildUnderTest } from './baseline.js';
import { burst, leaseholdBurst, type BenchServers } from './burst.js';
import { commandCalls } from './redis-calls.js';
import { startPlane, stopChild, type Child } from './children.js';
import { addCpu, cpuReport, type CpuReport, type CpuUsed } from './cpu.js';
import { payload, pushAll, subscribeCounting } from './load.js';
import { ReplicaGroup } from './replica-group.js';
import { startRows, startScenario } from './start.js';
import { takeover } from './takeover.js';

const args = parseBenchArgs(process.argv.slice(2));
const { quick, only, realProcesses } = args;
const asJson = args.json;
const SIZES = quick
  ? { burst: 5_000, latencySeconds: 3, live: 20_000, lapse: 1_000, kubernetes: 500, takeoverLong: 1_000, takeoverShort: 2_000 }
  : { burst: 20_000, latencySeconds: 10, live: 100_000, lapse: 1_000, kubernetes: 2_000, takeoverLong: 4_000, takeoverShort: 8_000 };
if (args.workloads) SIZES.burst = args.workloads;
/** `--replicas N`: burst and latency at 1 and N processes, side by side; undefined: one process as always. */
const replicaCounts = args.replicas === undefined ? undefined : [...new Set([1, args.replicas])];

const log = (line: string) => process.stderr.write(`${line}\n`);

/** LPUSH → `running` seen on NATS at a steady offered load; `replicas` undefined: one plane as always. */
async function latencyAt(s: BenchServers, replicas: number | undefined, build?: BuildUnderTest) {
  const prefix = build?.prefix ?? (replicas === undefined || replicas === 1 ? 'latency:' : `latency${replicas}:`);
  const tag = replicas ?? 1;
  const urls = { redis: s.redisUrl, nats: s.natsUrl };
  const single: Child | undefined = replicas === undefined ? await startPlane(urls.redis, urls.nats, prefix, {}, build?.plane) : undefined;
  const group = replicas === undefined ? undefined : await ReplicaGroup.start(s.redis, urls, prefix, replicas);
  const pushedAt = new Map<string, number>();
  const samples: number[] = [];
  const unsubscribe = subscribeCounting(s.nc, 'workloads.*.running', (m) => {
    const at = pushedAt.get(m.id);
    if (at !== undefined) samples.push(performance.now() - at);
  });
  await s.nc.flush();
  const rate = args.rate;
  const total = rate * SIZES.latencySeconds;
  const started = performance.now();
  let sent = 0;
  // Offered load on a schedule, not in bursts: every millisecond, whatever is due.
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * rate));
    for (; sent < due; sent++) {
      const id = `l${tag}-${sent}`;
      pushedAt.set(id, performance.now());
      void s.redis.lpush(`${prefix}workload_queue`, payload(id));
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  const deadline = performance.now() + 10_000;
  while (samples.length < total && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  unsubscribe();
  if (single) await stopChild(single);
  await group?.stop();
  samples.sort((a, b) => a - b);
  const pct = (p: number) => +(samples[Math.min(samples.length - 1, Math.floor((p / 100) * samples.length))] ?? NaN).toFixed(2);
  return { replicas: replicas ?? 1, offered_per_s: rate, seconds: SIZES.latencySeconds, samples: samples.length, p50_ms: pct(50), p99_ms: pct(99), max_ms: +(samples.at(-1) ?? NaN).toFixed(2) };
}

async function latency(s: BenchServers) {
  if (!replicaCounts) return latencyAt(s, undefined);
  const rows = [];
  for (const count of replicaCounts) rows.push(await latencyAt(s, count));
  return { ...rows[0]!, by_replicas: rows };
}

async function holdingManyAndReaper(redis: Redis, redisUrl: string, nc: NatsConnection, natsUrl: string, build?: BuildUnderTest) {
  const n = SIZES.live;
  const prefix = build?.prefix ?? 'live:';
  // Leases long enough that no renewal falls inside the reaper measurement.
  const plane = await startPlane(redisUrl, natsUrl, prefix, { reaperIntervalMs: 100 }, build?.plane);
  const baseline = (await (plane.send({ type: 'memory' }), plane.next('memory'))) as { rss: number; heapUsed: number };
  let running = 0;
  let resolveRunning!: () => void;
  const allRunning = new Promise<void>((resolve) => (resolveRunning = resolve));
  const lapsing = new Set(Array.from({ length: SIZES.lapse }, (_, i) => `h-${i}`));
  let expiring = 0;
  let resolveExpired!: () => void;
  const allExpired = new Promise<void>((resolve) => (resolveExpired = resolve));
  const unsubscribe = subscribeCounting(nc, 'workloads.>', (m) => {
    if (m.to === 'running' && ++running === n) resolveRunning();
    if (m.to === 'expiring' && lapsing.has(m.id) && ++expiring === lapsing.size) resolveExpired();
  });
  await nc.flush();
  const payloads = Array.from({ length: n }, (_, i) =>
    payload(`h-${i}`, { cmd: ['sleep', 'infinity'], leaseSeconds: 3600, ...(lapsing.has(`h-${i}`) ? { heartbeat: 'self' } : {}) }),
  );
  await pushAll(redis, `${prefix}workload_queue`, payloads);
  await allRunning;
  await new Promise((resolve) => setTimeout(resolve, 500)); // let the last snapshot and lease writes land
  plane.send({ type: 'memory' });
  const loaded = (await plane.next('memory')) as { rss: number; heapUsed: number; heapTotal: number; external: number; live: number; spaces: Record<string, [number, number]> };
  const memory = {
    live: loaded.live,
    rss_bytes: loaded.rss,
    // What the RSS is made of: the JS heap V8 holds (used or not) and memory outside it (Buffers).
    heap_total_bytes: loaded.heapTotal,
    heap_used_bytes: loaded.heapUsed,
    external_bytes: loaded.external,
    heap_spaces_mib_held_used: loaded.spaces,
    rss_bytes_per_workload: Math.round((loaded.rss - baseline.rss) / n),
    heap_bytes_per_workload: Math.round((loaded.heapUsed - baseline.heapUsed) / n),
  };

  // 1,000 leases lapse at once: their keys vanish and their deadlines pass, as on a real expiry.
  const before = await commandCalls(redis);
  // Deadlines are Redis time, in the workload's shard (keys.ts); the lease keys keep the seed's name.
  const keys = createKeys(prefix);
  const [seconds] = await redis.time();
  const pipeline = redis.pipeline();
  for (const id of lapsing) pipeline.del(keys.lease(id)).zadd(keys.shard(keys.shardOf(id)).leaseDeadlines, Number(seconds) * 1000 - 1_000, id);
  await pipeline.exec();
  const started = performance.now();
  await allExpired;
  const reaperMs = performance.now() - started;
  const after = await commandCalls(redis);
  const delta = (name: string) => (after[name] ?? 0) - (before[name] ?? 0);
  unsubscribe();
  await stopChild(plane);
  return {
    memory,
    reaper: {
      live: n,
      lapsed: lapsing.size,
      ms: Math.round(reaperMs),
      interval_ms: 100,
      // What the reaper script ran; the live leases' keys are never read.
      redis_commands: delta('zrangebyscore') + delta('pttl') + delta('zrem'),
      pttl_calls: delta('pttl'),
    },
  };
}

/** Runs n workloads through a fresh control plane and resolves with the milliseconds they took. */
async function lifecycles(redis: Redis, redisUrl: string, nc: NatsConnection, natsUrl: string, prefix: string, n: number, extra: Record<string, unknown>) {
  const plane = await startPlane(redisUrl, natsUrl, prefix, extra);
  let ended = 0;
  let resolveDone!: () => void;
  const done = new Promise<void>((resolve) => (resolveDone = resolve));
  const unsubscribe = subscribeCounting(nc, 'workloads.*.tornDown', () => {
    if (++ended === n) resolveDone();
  });
  await nc.flush();
  const started = performance.now();
  await pushAll(redis, `${prefix}workload_queue`, Array.from({ length: n }, (_, i) => payload(`${prefix.slice(0, -1)}-${i}`)));
  await done;
  const ms = performance.now() - started;
  unsubscribe();
  await stopChild(plane);
  return ms;
}

/**
 * The Kubernetes runtime against the fake API server (in this process, with a kubelet that takes
 * 5 ms per phase), next to the instant runtime in the same run: what the runtime costs, and how many
 * API calls a workload takes. Not a measurement of a real cluster's Pod start-up.
 */
async function kubernetes(redis: Redis, redisUrl: string, nc: NatsConnection, natsUrl: string) {
  const n = SIZES.kubernetes;
  const api = new FakeKubeApiServer({ startMs: 10, runMs: 5, terminateMs: 5, bookmarkMs: 10_000 });
  await api.start();
  const kubeconfig = api.writeKubeconfig('jobs');
  try {
    const kubeMs = await lifecycles(redis, redisUrl, nc, natsUrl, 'kube:', n, {
      runtime: 'kubernetes',
      kubernetes: { kubeconfig, namespace: 'jobs', sandboxNamespace: 'sandbox', runtimeClass: 'gvisor' },
    });
    const instantMs = await lifecycles(redis, redisUrl, nc, natsUrl, 'inst:', n, {});
    const calls = Object.fromEntries(api.requests);
    return {
      workloads: n,
      kubernetes_per_s: Math.round((n / kubeMs) * 1000),
      instant_per_s: Math.round((n / instantMs) * 1000),
      kubernetes_vs_instant: +(instantMs / kubeMs).toFixed(3),
      api_calls: calls,
      api_calls_per_workload: +(Object.values(calls).reduce((a, b) => a + b, 0) / n).toFixed(3),
    };
  } finally {
    await api.stop();
  }
}

async function main(): Promise<void> {
  const servers: OwnedServer[] = [];
  const [redisServer, natsServer] = await Promise.all([startRedis(), startNats()]);
  servers.push(redisServer, natsServer);
  const redis = new Redis(redisServer.url);
  const nc = await connect({ servers: natsServer.url });
  const s: BenchServers = { redis, redisUrl: redisServer.url, nc, natsUrl: natsServer.url, redisPid: redisServer.process.pid!, natsPid: natsServer.process.pid! };
  try {
    log(`leasehold bench${quick ? ' (quick)' : ''}: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}`);
    if (only === 'kubernetes') {
      const kubernetesResult = await kubernetes(redis, redisServer.url, nc, natsServer.url);
      process.stdout.write(`${JSON.stringify({ kubernetes: kubernetesResult })}\n`);
      return;
    }
    if (only === 'start') {
      // Sessions timed cold and warm; `--workloads` sessions a half, `--pool-size` the burst's pool.
      const startResult = await startScenario(s, {
        workloads: args.workloads ?? (quick ? 20 : 100),
        poolSize: args.poolSize ?? (quick ? 5 : 10),
        execRounds: quick ? 100 : 500,
        intervalMs: 100,
        log,
      });
      printRows(startRows(startResult));
      if (asJson) process.stdout.write(`${JSON.stringify({ start: startResult })}\n`);
      return;
    }
    if (args.baseline !== undefined) {
      const compared = await compareWithBaseline(s, baselineBuild(args.baseline));
      printRows(comparisonRows(compared));
      if (asJson) process.stdout.write(`${JSON.stringify({ baseline: compared })}\n`);
      return;
    }
    if (only === 'latency') {
      const latencyResult = await logged(`latency at ${args.rate}/s…`, () => latency(s));
      printRows(latencyRows(latencyResult));
      if (asJson) process.stdout.write(`${JSON.stringify({ latency: latencyResult })}\n`);
      return;
    }
    if (only === 'takeover') {
      const takeoverResult = await runTakeover(s);
      printRows(takeoverRows(takeoverResult));
      if (asJson) process.stdout.write(`${JSON.stringify({ takeover: takeoverResult })}\n`);
      return;
    }
    log(replicaCounts ? `burst at ${replicaCounts.join(' and ')} processes…` : 'burst…');
    const burstResult = await burst(s, { workloads: SIZES.burst, replicaCounts, rounds: quick ? 1 : 2, planeExtra: realProcesses ? { realProcesses, maxConcurrent: { trusted: 64, untrusted: 16 } } : {} });
    log(JSON.stringify(burstResult));
    if (only === 'burst') {
      if ('scaling' in burstResult) printRows(burstRows(burstResult));
      if (asJson) process.stdout.write(`${JSON.stringify({ burst: burstResult })}\n`);
      return;
    }
    // --only=replicas: what --replicas adds (burst, latency, takeover), without the single-process scenarios.
    const kubernetesResult = only === 'replicas' ? undefined : await logged(`kubernetes runtime, ${SIZES.kubernetes} workloads…`, () => kubernetes(redis, redisServer.url, nc, natsServer.url));
    const latencyResult = await logged(replicaCounts ? `latency at ${replicaCounts.join(' and ')} replicas…` : 'latency…', () => latency(s));
    const takeoverResult = args.replicas !== undefined && args.replicas >= 2 ? await runTakeover(s) : undefined;
    const held = only === 'replicas' ? undefined : await logged(`holding ${SIZES.live} and reaping ${SIZES.lapse}…`, () => holdingManyAndReaper(redis, redisServer.url, nc, natsServer.url));
    const result = {
      machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
      burst: burstResult,
      ...(kubernetesResult && { kubernetes: kubernetesResult }),
      latency: latencyResult,
      ...(takeoverResult && { takeover: takeoverResult }),
      ...held,
    };
    printRows([
      ...burstRows(burstResult),
      ...(kubernetesResult ? kubernetesRows(kubernetesResult) : []),
      ...latencyRows(latencyResult),
      ...(takeoverResult ? takeoverRows(takeoverResult) : []),
      ...(held ? heldRows(held) : []),
    ]);
    if (asJson) process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    await nc.close();
    redis.disconnect();
    for (const server of servers) await server.stop();
  }
}

/**
 * This build against `--baseline` in one run: the burst (rounds alternating A B B A), latency at
 * 1,000/s and memory with many live workloads, each on both builds.
 */
async function compareWithBaseline(s: BenchServers, baseline: Baseline) {
  const current: BuildUnderTest = { plane: './plane.js', prefix: 'this:' };
  log(`comparing this build with ${baseline.label}`);
  const rounds = quick ? 2 : 4;
  // --only=burst|latency|memory: that part alone, on both builds.
  const runs = (part: string) => only === undefined || only === part;
  const burstMs = new Map<BuildUnderTest, number>([[current, 0], [baseline, 0]]);
  const burstCpu = new Map<BuildUnderTest, CpuUsed | undefined>();
  for (const build of runs('burst') ? alternating(current, baseline, rounds / 2) : []) {
    const run = await leaseholdBurst(s, SIZES.burst, undefined, {}, { plane: build.plane, prefix: `${build.prefix}burst:` });
    log(`  burst ${build === current ? 'this build' : 'baseline'}: ${Math.round((SIZES.burst / run.ms) * 1000)}/s, ${JSON.stringify(cpuReport(run.cpu, SIZES.burst))}`);
    burstMs.set(build, burstMs.get(build)! + run.ms);
    burstCpu.set(build, addCpu(burstCpu.get(build), run.cpu));
  }
  const perSecond = (build: BuildUnderTest) => Math.round(((SIZES.burst * rounds) / 2 / burstMs.get(build)!) * 1000);
  const latencies = new Map<BuildUnderTest, Awaited<ReturnType<typeof latencyAt>>>();
  for (const build of runs('latency') ? [baseline, current] : []) {
    latencies.set(build, await logged(`latency, ${build === current ? 'this build' : 'baseline'}…`, () => latencyAt(s, undefined, { plane: build.plane, prefix: `${build.prefix}latency:` })));
  }
  const memories = new Map<BuildUnderTest, Awaited<ReturnType<typeof holdingManyAndReaper>>['memory']>();
  for (const build of runs('memory') ? [baseline, current] : []) {
    const held = await logged(`holding ${SIZES.live}, ${build === current ? 'this build' : 'baseline'}…`, () =>
      holdingManyAndReaper(s.redis, s.redisUrl, s.nc, s.natsUrl, { plane: build.plane, prefix: `${build.prefix}live:` }),
    );
    memories.set(build, held.memory);
  }
  const side = (build: BuildUnderTest) => ({
    ...(runs('burst') && { burst_per_s: perSecond(build), burst_cpu: cpuReport(burstCpu.get(build)!, (SIZES.burst * rounds) / 2) }),
    latency: latencies.get(build),
    memory: memories.get(build),
  });
  return {
    baseline: baseline.label,
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
    workloads: SIZES.burst,
    burst_rounds_each: rounds / 2,
    this_build: side(current),
    baseline_build: side(baseline),
    ...(runs('burst') && { burst_speedup: +(burstMs.get(baseline)! / burstMs.get(current)!).toFixed(2) }),
  };
}

function comparisonRows(c: Awaited<ReturnType<typeof compareWithBaseline>>): Rows {
  const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
  const { this_build: now, baseline_build: base } = c;
  const rows: Rows = [['baseline', c.baseline]];
  if (now.burst_cpu && base.burst_cpu) {
    const cpu = (side: typeof now) => side.burst_cpu!.ms_per_1000.leasehold!;
    rows.push(
      [`burst: ${c.workloads} workloads × ${c.burst_rounds_each} each, alternating`, `this build ${now.burst_per_s}/s, baseline ${base.burst_per_s}/s  (${c.burst_speedup}×; target ≥ 2×)`],
      ['burst: control plane CPU per 1,000 workloads', `this build ${cpu(now)} ms, baseline ${cpu(base)} ms  (${(cpu(base) / cpu(now)).toFixed(2)}× less)`],
    );
  }
  if (now.latency && base.latency) {
    rows.push([
      `latency: LPUSH → running at ${now.latency.offered_per_s}/s`,
      `this build p50 ${now.latency.p50_ms} ms, p99 ${now.latency.p99_ms} ms; baseline p50 ${base.latency.p50_ms} ms, p99 ${base.latency.p99_ms} ms  (target p99 ≤ 10 ms)`,
    ]);
  }
  if (now.memory && base.memory) {
    rows.push([
      `memory: ${now.memory.live} live workloads, RSS`,
      `this build ${mib(now.memory.rss_bytes)} (${now.memory.heap_bytes_per_workload} B heap each), baseline ${mib(base.memory.rss_bytes)} (${base.memory.heap_bytes_per_workload} B)  (target ≤ 768 MiB at 100,000)`,
    ]);
  }
  return rows;
}

async function logged<T>(title: string, run: () => Promise<T>): Promise<T> {
  log(title);
  const result = await run();
  log(JSON.stringify(result));
  return result;
}

function runTakeover(s: BenchServers) {
  const replicas = Math.max(2, args.replicas ?? 2);
  return logged(`kill -9 takeover: ${replicas} replicas, shard TTL ${args.shardTtlMs} ms…`, () =>
    takeover(s, { replicas, shardTtlMs: args.shardTtlMs, longRunners: SIZES.takeoverLong, shortOnes: SIZES.takeoverShort }),
  );
}

type Rows = [string, string][];

function burstRows(b: Awaited<ReturnType<typeof burst>>): Rows {
  const rows: Rows = [
    [`burst: ${b.workloads} workloads, full lifecycle`, `${b.leasehold_per_s}/s`],
    ['burst: BullMQ no-op jobs, same run', `${b.bullmq_per_s}/s  (Leasehold ${b.leasehold_vs_bullmq}×)`],
    ['burst: bare-Redis ceiling, same run', `${b.ceiling_per_s}/s  (Leasehold at ${(b.leasehold_vs_ceiling * 100).toFixed(1)}%)`],
    ['burst: transitions received on NATS', `${b.events_received} of ${b.events_expected}`],
  ];
  if (!('scaling' in b)) return rows;
  for (const row of b.replicas) {
    rows.push([
      `burst: ${row.processes} replica${row.processes > 1 ? 's' : ''} vs ${row.processes} BullMQ worker${row.processes > 1 ? 's' : ''}`,
      `Leasehold ${row.leasehold_per_s}/s, BullMQ ${row.bullmq_per_s}/s  (Leasehold ${row.leasehold_vs_bullmq}×; ${row.events_received} of ${b.events_expected} transitions)`,
    ]);
  }
  const cpu = (c: CpuReport) => `${Object.entries(c.ms_per_1000).map(([role, ms]) => `${role} ${ms}`).join(', ')} ms; machine ${c.machine_busy_pct}% busy`;
  for (const row of b.replicas) {
    rows.push([`burst: CPU per 1,000 at ${row.processes}: Leasehold run`, cpu(row.leasehold_cpu)]);
    rows.push([`burst: CPU per 1,000 at ${row.processes}: BullMQ run`, cpu(row.bullmq_cpu)]);
    rows.push([
      `burst: Redis commands per workload at ${row.processes}`,
      `Leasehold ${row.leasehold_redis_calls.total} ${JSON.stringify(row.leasehold_redis_calls.top)}; BullMQ ${row.bullmq_redis_calls.total}`,
    ]);
  }
  const { processes, leasehold, bullmq } = b.scaling;
  rows.push([`burst: scaling, ${processes} processes vs 1`, `Leasehold ${leasehold}×, BullMQ ${bullmq}×  (target: Leasehold ≥ 1.6× at 2)`]);
  return rows;
}

function kubernetesRows(k: Awaited<ReturnType<typeof kubernetes>>): Rows {
  return [
    [`kubernetes: ${k.workloads} workloads as Pods (fake API server)`, `${k.kubernetes_per_s}/s  (instant runtime, same run: ${k.instant_per_s}/s)`],
    ['kubernetes: API calls', `${k.api_calls_per_workload} per workload: ${JSON.stringify(k.api_calls)}`],
  ];
}

function latencyRows(l: Awaited<ReturnType<typeof latency>>): Rows {
  const each = 'by_replicas' in l ? l.by_replicas : [l];
  return each.map((row) => [
    `latency: LPUSH → running at ${row.offered_per_s}/s${'by_replicas' in l ? `, ${row.replicas} replica${row.replicas > 1 ? 's' : ''}` : ''}`,
    `p50 ${row.p50_ms} ms, p99 ${row.p99_ms} ms, max ${row.max_ms} ms`,
  ]);
}

function takeoverRows(t: Awaited<ReturnType<typeof takeover>>): Rows {
  return [
    [
      `takeover: kill -9 of 1 of ${t.replicas} replicas (shard TTL ${t.shard_ttl_ms} ms)`,
      `its ${t.victim_shards} shards owned again after ${t.shards_owned_again_ms} ms`,
    ],
    [
      `takeover: its ${t.orphaned} unfinished workloads (${t.orphaned_running} running)`,
      `all torn down ${t.all_orphans_torn_down_ms} ms after the kill (p50 ${t.orphans_torn_down_p50_ms} ms; target ≤ TTL + 2 s = ${t.target_ms} ms: ${t.target_met ? 'met' : 'missed'})` +
        (t.orphaned_not_ended > 0 ? `; ${t.orphaned_not_ended} never ended` : ''),
    ],
    ['takeover: torn down by the killed replica, never announced', `${t.torn_down_unannounced} (saved as tornDown in Redis, no tornDown on NATS)`],
  ];
}

function heldRows(h: Awaited<ReturnType<typeof holdingManyAndReaper>>): Rows {
  const { memory: m, reaper: r } = h;
  return [
    [`memory: ${m.live} live workloads`, `${(m.rss_bytes / 2 ** 20).toFixed(0)} MiB RSS; ${m.rss_bytes_per_workload} B RSS, ${m.heap_bytes_per_workload} B heap each`],
    [`reaper: ${r.lapsed} of ${r.live} leases lapse`, `${r.ms} ms to expiring, ${r.redis_commands} Redis commands`],
  ];
}

function printRows(rows: Rows): void {
  const width = Math.max(...rows.map(([k]) => k.length));
  process.stdout.write(`\n${rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n')}\n`);
}

await main();
