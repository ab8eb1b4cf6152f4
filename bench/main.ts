/**
 * `npm run bench [-- --quick] [-- --json]`: Leasehold measured side by side with BullMQ and the
 * bare-Redis ceiling, in one run, on servers this script starts. See README, "Performance".
 */
import { fork, type ChildProcess } from 'node:child_process';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { startNats, startRedis, type OwnedServer } from '../src/dev/servers.js';
import type { TransitionMessage } from '../src/events/transition.js';
import { FakeKubeApiServer } from '../test/kubernetes/fake-api-server.js';

const args = new Set(process.argv.slice(2));
const quick = args.has('--quick');
const asJson = args.has('--json');
const flag = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const only = flag('only');
const realProcesses = args.has('--real-processes');
const SIZES = quick
  ? { burst: 5_000, latencySeconds: 3, live: 20_000, lapse: 1_000, kubernetes: 500 }
  : { burst: 20_000, latencySeconds: 10, live: 100_000, lapse: 1_000, kubernetes: 2_000 };
if (flag('workloads')) SIZES.burst = Number(flag('workloads'));

const log = (line: string) => process.stderr.write(`${line}\n`);
const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));
const payload = (id: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ id, type: 'trusted', image: 'alpine', cmd: ['true'], ...extra });

interface Child {
  process: ChildProcess;
  next(type: string): Promise<Record<string, unknown>>;
  send(message: object): void;
}

function spawnChild(file: string, argv: string[], execArgv: string[] = []): Promise<Child> {
  const child = fork(here(file), argv, { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const queue: Record<string, unknown>[] = [];
  const waiters: { type: string; resolve: (m: Record<string, unknown>) => void }[] = [];
  child.on('message', (message: Record<string, unknown>) => {
    const waiter = waiters.findIndex((w) => w.type === message.type);
    if (waiter >= 0) waiters.splice(waiter, 1)[0]!.resolve(message);
    else queue.push(message);
  });
  const handle: Child = {
    process: child,
    send: (message) => child.send(message),
    next: (type) =>
      new Promise((resolve, reject) => {
        const queued = queue.findIndex((m) => m.type === type);
        if (queued >= 0) return resolve(queue.splice(queued, 1)[0]!);
        waiters.push({ type, resolve });
        child.once('exit', (code) => reject(new Error(`${file} exited with ${code} while waiting for ${type}`)));
      }),
  };
  return handle.next('ready').then(() => handle);
}

async function stopChild(child: Child): Promise<void> {
  const exited = new Promise((resolve) => child.process.once('exit', resolve));
  child.send({ type: 'stop' });
  await exited;
}

async function pushAll(redis: Redis, queue: string, payloads: string[]): Promise<void> {
  const pipeline = redis.pipeline();
  for (let i = 0; i < payloads.length; i += 1000) pipeline.lpush(queue, ...payloads.slice(i, i + 1000));
  await pipeline.exec();
}

async function startPlane(redisUrl: string, natsUrl: string, prefix: string, extra: Record<string, unknown> = {}): Promise<Child> {
  const config = {
    redisUrl,
    natsUrl,
    keyPrefix: prefix,
    maxConcurrent: { trusted: 1_000_000, untrusted: 1_000_000 },
    maxPending: 1_000_000,
    intakeBatch: 1000,
    ...extra,
  };
  // LEASEHOLD_BENCH_PROFILE=dir writes a CPU profile of the control plane there (see README).
  const profile = process.env.LEASEHOLD_BENCH_PROFILE;
  return spawnChild('./plane.js', [JSON.stringify(config)], ['--expose-gc', ...(profile ? ['--cpu-prof', `--cpu-prof-dir=${profile}`] : [])]);
}

function subscribeCounting(nc: NatsConnection, subject: string, onMessage: (m: TransitionMessage) => void): () => void {
  const sub = nc.subscribe(subject, {
    callback: (error, msg) => {
      if (!error) onMessage(msg.json<TransitionMessage>());
    },
  });
  return () => sub.unsubscribe();
}

async function burst(redis: Redis, redisUrl: string, nc: NatsConnection, natsUrl: string) {
  const n = SIZES.burst;
  // Leasehold: every workload through all five states, every transition on NATS.
  const plane = await startPlane(redisUrl, natsUrl, 'burst:', realProcesses ? { realProcesses, maxConcurrent: { trusted: 64, untrusted: 16 } } : {});
  let events = 0;
  let ended = 0;
  let resolveDone!: () => void;
  const done = new Promise<void>((resolve) => (resolveDone = resolve));
  const unsubscribe = subscribeCounting(nc, 'workloads.>', (m) => {
    events++;
    if (m.to === 'tornDown' && ++ended === n) resolveDone();
  });
  await nc.flush();
  const payloads = Array.from({ length: n }, (_, i) => payload(`b-${i}`));
  let started = performance.now();
  await pushAll(redis, 'burst:workload_queue', payloads);
  await done;
  const leaseholdMs = performance.now() - started;
  await new Promise((resolve) => setTimeout(resolve, 200)); // any stragglers would show as extra events
  unsubscribe();
  await stopChild(plane);

  // BullMQ: the same number of jobs, a no-op processor, one worker process.
  const bullConnection = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const bullQueue = new Queue('bench', { connection: bullConnection });
  const worker = await spawnChild('./peers.js', ['bullmq', redisUrl, 'bench', String(n)]);
  started = performance.now();
  for (let i = 0; i < n; i += 1000) {
    await bullQueue.addBulk(payloads.slice(i, i + 1000).map((data, j) => ({ name: 'job', data, opts: { jobId: `j-${i + j}`, removeOnComplete: true } })));
  }
  await worker.next('done');
  const bullmqMs = performance.now() - started;
  await stopChild(worker);
  await bullQueue.close();
  await bullConnection.quit();

  // The ceiling: reliable batched pop and acknowledge with bare ioredis.
  const ceiling = await spawnChild('./peers.js', ['ceiling', redisUrl, 'ceiling:queue', String(n)]);
  started = performance.now();
  await pushAll(redis, 'ceiling:queue', payloads);
  await ceiling.next('done');
  const ceilingMs = performance.now() - started;

  const perSecond = (ms: number) => Math.round((n / ms) * 1000);
  return {
    workloads: n,
    leasehold_per_s: perSecond(leaseholdMs),
    bullmq_per_s: perSecond(bullmqMs),
    ceiling_per_s: perSecond(ceilingMs),
    leasehold_vs_bullmq: +(bullmqMs / leaseholdMs).toFixed(2),
    leasehold_vs_ceiling: +(ceilingMs / leaseholdMs).toFixed(3),
    events_received: events,
    events_expected: 5 * n,
  };
}

async function latency(redis: Redis, redisUrl: string, nc: NatsConnection, natsUrl: string) {
  const plane = await startPlane(redisUrl, natsUrl, 'latency:');
  const pushedAt = new Map<string, number>();
  const samples: number[] = [];
  const unsubscribe = subscribeCounting(nc, 'workloads.*.running', (m) => {
    const at = pushedAt.get(m.id);
    if (at !== undefined) samples.push(performance.now() - at);
  });
  await nc.flush();
  const rate = 1000;
  const total = rate * SIZES.latencySeconds;
  const started = performance.now();
  let sent = 0;
  // Offered load on a schedule, not in bursts: every millisecond, whatever is due.
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * rate));
    for (; sent < due; sent++) {
      const id = `l-${sent}`;
      pushedAt.set(id, performance.now());
      void redis.lpush('latency:workload_queue', payload(id));
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  const deadline = performance.now() + 10_000;
  while (samples.length < total && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  unsubscribe();
  await stopChild(plane);
  samples.sort((a, b) => a - b);
  const pct = (p: number) => +(samples[Math.min(samples.length - 1, Math.floor((p / 100) * samples.length))] ?? NaN).toFixed(2);
  return { offered_per_s: rate, seconds: SIZES.latencySeconds, samples: samples.length, p50_ms: pct(50), p99_ms: pct(99), max_ms: +(samples.at(-1) ?? NaN).toFixed(2) };
}

async function commandCalls(redis: Redis): Promise<Record<string, number>> {
  const info = await redis.info('commandstats');
  const calls: Record<string, number> = {};
  for (const [, name, n] of info.matchAll(/cmdstat_(\w+):calls=(\d+)/g)) calls[name!] = Number(n);
  return calls;
}

async function holdingManyAndReaper(redis: Redis, redisUrl: string, nc: NatsConnection, natsUrl: string) {
  const n = SIZES.live;
  // Leases long enough that no renewal falls inside the reaper measurement.
  const plane = await startPlane(redisUrl, natsUrl, 'live:', { reaperIntervalMs: 100 });
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
  await pushAll(redis, 'live:workload_queue', payloads);
  await allRunning;
  await new Promise((resolve) => setTimeout(resolve, 500)); // let the last snapshot and lease writes land
  plane.send({ type: 'memory' });
  const loaded = (await plane.next('memory')) as { rss: number; heapUsed: number; live: number };
  const memory = {
    live: loaded.live,
    rss_bytes: loaded.rss,
    rss_bytes_per_workload: Math.round((loaded.rss - baseline.rss) / n),
    heap_bytes_per_workload: Math.round((loaded.heapUsed - baseline.heapUsed) / n),
  };

  // 1,000 leases lapse at once: their keys vanish and their deadlines pass, as on a real expiry.
  const before = await commandCalls(redis);
  const pipeline = redis.pipeline();
  for (const id of lapsing) pipeline.del(`live:session:${id}:heartbeat`).zadd('live:leasehold:lease-deadlines', Date.now() - 1, id);
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
  try {
    log(`leasehold bench${quick ? ' (quick)' : ''}: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}`);
    if (only === 'kubernetes') {
      const kubernetesResult = await kubernetes(redis, redisServer.url, nc, natsServer.url);
      process.stdout.write(`${JSON.stringify({ kubernetes: kubernetesResult })}\n`);
      return;
    }
    log('burst…');
    const burstResult = await burst(redis, redisServer.url, nc, natsServer.url);
    log(JSON.stringify(burstResult));
    if (only === 'burst') {
      if (asJson) process.stdout.write(`${JSON.stringify({ burst: burstResult })}\n`);
      return;
    }
    log(`kubernetes runtime, ${SIZES.kubernetes} workloads…`);
    const kubernetesResult = await kubernetes(redis, redisServer.url, nc, natsServer.url);
    log(JSON.stringify(kubernetesResult));
    log('latency…');
    const latencyResult = await latency(redis, redisServer.url, nc, natsServer.url);
    log(JSON.stringify(latencyResult));
    log(`holding ${SIZES.live} and reaping ${SIZES.lapse}…`);
    const { memory, reaper } = await holdingManyAndReaper(redis, redisServer.url, nc, natsServer.url);
    const result = {
      machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
      burst: burstResult,
      kubernetes: kubernetesResult,
      latency: latencyResult,
      memory,
      reaper,
    };
    printTable(result);
    if (asJson) process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    await nc.close();
    redis.disconnect();
    for (const server of servers) await server.stop();
  }
}

function printTable(r: {
  burst: Awaited<ReturnType<typeof burst>>;
  kubernetes: Awaited<ReturnType<typeof kubernetes>>;
  latency: Awaited<ReturnType<typeof latency>>;
  memory: { live: number; rss_bytes: number; rss_bytes_per_workload: number; heap_bytes_per_workload: number };
  reaper: { live: number; lapsed: number; ms: number; redis_commands: number };
}): void {
  const rows: [string, string][] = [
    [`burst: ${r.burst.workloads} workloads, full lifecycle`, `${r.burst.leasehold_per_s}/s`],
    ['burst: BullMQ no-op jobs, same run', `${r.burst.bullmq_per_s}/s  (Leasehold ${r.burst.leasehold_vs_bullmq}×)`],
    ['burst: bare-Redis ceiling, same run', `${r.burst.ceiling_per_s}/s  (Leasehold at ${(r.burst.leasehold_vs_ceiling * 100).toFixed(1)}%)`],
    ['burst: transitions received on NATS', `${r.burst.events_received} of ${r.burst.events_expected}`],
    [
      `kubernetes: ${r.kubernetes.workloads} workloads as Pods (fake API server)`,
      `${r.kubernetes.kubernetes_per_s}/s  (instant runtime, same run: ${r.kubernetes.instant_per_s}/s)`,
    ],
    ['kubernetes: API calls', `${r.kubernetes.api_calls_per_workload} per workload: ${JSON.stringify(r.kubernetes.api_calls)}`],
    [`latency: LPUSH → running at ${r.latency.offered_per_s}/s`, `p50 ${r.latency.p50_ms} ms, p99 ${r.latency.p99_ms} ms, max ${r.latency.max_ms} ms`],
    [`memory: ${r.memory.live} live workloads`, `${(r.memory.rss_bytes / 2 ** 20).toFixed(0)} MiB RSS; ${r.memory.rss_bytes_per_workload} B RSS, ${r.memory.heap_bytes_per_workload} B heap each`],
    [`reaper: ${r.reaper.lapsed} of ${r.reaper.live} leases lapse`, `${r.reaper.ms} ms to expiring, ${r.reaper.redis_commands} Redis commands`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  process.stdout.write(`\n${rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n')}\n`);
}

await main();
