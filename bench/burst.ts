/**
 * The burst: n workloads pushed at once, timed until the last is torn down, next to BullMQ's
 * no-op jobs and the bare-Redis ceiling in the same run. With `--replicas N` it runs at 1 and at
 * N processes on both sides: N Leasehold replicas sharing the queue, and N BullMQ workers.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { spawnChild, startPlane, stopChild, type Child } from './children.js';
import { addCpu, cpuReport, meterCpu, type CpuUsed } from './cpu.js';
import { addCalls, callsPerWorkload, commandCalls } from './redis-calls.js';
import { payload, pushAll, signal, sleep, subscribeCounting, within } from './load.js';
import { ReplicaGroup } from './replica-group.js';

export interface BenchServers {
  readonly redis: Redis;
  readonly redisUrl: string;
  readonly nc: NatsConnection;
  readonly natsUrl: string;
  readonly redisPid: number;
  readonly natsPid: number;
}

export interface BurstOptions {
  readonly workloads: number;
  /** Process counts to run at; undefined: one control plane as before `--replicas` existed. */
  readonly replicaCounts: readonly number[] | undefined;
  readonly planeExtra: Record<string, unknown>;
  /** With replica counts: how many times each is measured, in the order 1, N, N, 1, … */
  readonly rounds: number;
}

const perSecond = (n: number, ms: number) => Math.round((n / ms) * 1000);
let runs = 0;

/**
 * Every workload through all five states, every transition on NATS; resolves with ms and events
 * seen. `build`: another build's plane (`--baseline`), single process only.
 */
export async function leaseholdBurst(s: BenchServers, n: number, replicas: number | undefined, planeExtra: Record<string, unknown>, build?: { plane: string; prefix: string }) {
  const prefix = build?.prefix ?? (replicas === undefined || replicas === 1 ? 'burst:' : `burst${replicas}:`);
  const tag = replicas ?? 1;
  let single: Child | undefined;
  let group: ReplicaGroup | undefined;
  if (replicas === undefined) single = await startPlane(s.redisUrl, s.natsUrl, prefix, planeExtra, build?.plane);
  else group = await ReplicaGroup.start(s.redis, { redis: s.redisUrl, nats: s.natsUrl }, prefix, replicas, planeExtra);
  let events = 0;
  const ended = new Set<string>();
  const done = signal();
  const unsubscribe = subscribeCounting(s.nc, 'workloads.>', (m) => {
    events++;
    // A set, not a counter: a transition repeated by two replicas must not finish the burst early.
    if (m.to === 'tornDown' && ended.add(m.id).size === n) done.resolve();
  });
  await s.nc.flush();
  // Ids new to every run: a second round on the same prefix must not be refused as duplicates.
  const run = ++runs;
  const payloads = Array.from({ length: n }, (_, i) => payload(`b${tag}-${run}-${i}`));
  const planePids = single ? [single.process.pid!] : [...group!.planes.values()].map((plane) => plane.process.pid!);
  const callsBefore = await commandCalls(s.redis);
  const cpu = meterCpu({ leasehold: planePids, redis: [s.redisPid], nats: [s.natsPid], driver: [process.pid] });
  const started = performance.now();
  await pushAll(s.redis, `${prefix}workload_queue`, payloads);
  await within(done.promise, 60_000 + n * 20, () => `burst at ${tag} replica(s): ${ended.size} of ${n} workloads torn down (see {${prefix}workload_queue}:dead)`);
  const ms = performance.now() - started;
  const used = cpu.stop();
  const calls = addCalls({}, callsBefore, await commandCalls(s.redis));
  await sleep(200); // any stragglers would show as extra events
  unsubscribe();
  if (single) await stopChild(single);
  await group?.stop();
  return { ms, events, cpu: used, calls };
}

/** The same number of jobs, a no-op processor, `workers` worker processes on one queue. */
async function bullmqBurst(s: BenchServers, n: number, workers: number): Promise<{ ms: number; cpu: CpuUsed; calls: Record<string, number> }> {
  const name = workers === 1 ? 'bench' : `bench${workers}`;
  const run = ++runs;
  const connection = new Redis(s.redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue(name, { connection });
  const children = await Promise.all(Array.from({ length: workers }, () => spawnChild('./peers.js', ['bullmq', s.redisUrl, name, String(n)])));
  const done = signal();
  const counts = children.map(() => 0);
  children.forEach((child, i) =>
    child.on('progress', (m) => {
      counts[i] = m.done as number;
      if (counts.reduce((a, b) => a + b, 0) >= n) done.resolve();
    }),
  );
  const callsBefore = await commandCalls(s.redis);
  const cpu = meterCpu({ bullmq: children.map((child) => child.process.pid!), redis: [s.redisPid], driver: [process.pid] });
  const started = performance.now();
  for (let i = 0; i < n; i += 1000) {
    const slice = Array.from({ length: Math.min(1000, n - i) }, (_, j) => `j-${run}-${i + j}`);
    await queue.addBulk(slice.map((jobId) => ({ name: 'job', data: payload(jobId), opts: { jobId, removeOnComplete: true } })));
  }
  await within(done.promise, 60_000 + n * 20, () => `BullMQ at ${workers} worker(s): ${counts.reduce((a, b) => a + b, 0)} of ${n} jobs done`);
  const ms = performance.now() - started;
  const used = cpu.stop();
  const calls = addCalls({}, callsBefore, await commandCalls(s.redis));
  await Promise.all(children.map((child) => stopChild(child)));
  await queue.close();
  await connection.quit();
  return { ms, cpu: used, calls };
}

/** Reliable batched pop and acknowledge with bare ioredis: the least any reliable consumer does. */
async function ceilingBurst(s: BenchServers, n: number): Promise<number> {
  const ceiling = await spawnChild('./peers.js', ['ceiling', s.redisUrl, 'ceiling:queue', String(n)]);
  const started = performance.now();
  await pushAll(
    s.redis,
    'ceiling:queue',
    Array.from({ length: n }, (_, i) => payload(`c-${i}`)),
  );
  await ceiling.next('done');
  return performance.now() - started;
}

export async function burst(s: BenchServers, options: BurstOptions) {
  const n = options.workloads;
  const counts = options.replicaCounts ?? [undefined];
  // On a shared machine the load drifts during a run; measuring in the order 1, N, N, 1 (rounds
  // of 2) puts the same drift on both sides of each ratio instead of all on one.
  const rounds = options.replicaCounts ? options.rounds : 1;
  const order = Array.from({ length: rounds }, (_, round) => (round % 2 === 0 ? counts : [...counts].reverse())).flat();
  const totals = new Map(
    counts.map((count) => [count, { leaseholdMs: 0, bullmqMs: 0, events: 0, workloads: 0, leaseholdCpu: undefined as CpuUsed | undefined, bullmqCpu: undefined as CpuUsed | undefined, leaseholdCalls: {} as Record<string, number>, bullmqCalls: {} as Record<string, number> }]),
  );
  for (const count of order) {
    const total = totals.get(count)!;
    const leasehold = await leaseholdBurst(s, n, count, options.planeExtra);
    total.leaseholdMs += leasehold.ms;
    total.leaseholdCpu = addCpu(total.leaseholdCpu, leasehold.cpu);
    addCalls(total.leaseholdCalls, {}, leasehold.calls);
    total.events += leasehold.events;
    total.workloads += n;
    const bullmq = await bullmqBurst(s, n, count ?? 1);
    total.bullmqMs += bullmq.ms;
    total.bullmqCpu = addCpu(total.bullmqCpu, bullmq.cpu);
    addCalls(total.bullmqCalls, {}, bullmq.calls);
  }
  const rows = counts.map((count) => {
    const total = totals.get(count)!;
    return {
      processes: count ?? 1,
      leasehold_per_s: perSecond(total.workloads, total.leaseholdMs),
      bullmq_per_s: perSecond(total.workloads, total.bullmqMs),
      leasehold_vs_bullmq: +(total.bullmqMs / total.leaseholdMs).toFixed(2),
      events_received: total.events,
      leasehold_cpu: cpuReport(total.leaseholdCpu!, total.workloads),
      bullmq_cpu: cpuReport(total.bullmqCpu!, total.workloads),
      leasehold_redis_calls: callsPerWorkload(total.leaseholdCalls, total.workloads),
      bullmq_redis_calls: callsPerWorkload(total.bullmqCalls, total.workloads),
      // Per run of n, so the single-process fields keep their meaning.
      leaseholdMs: total.leaseholdMs / (total.workloads / n),
      bullmqMs: total.bullmqMs / (total.workloads / n),
    };
  });
  const ceilingMs = await ceilingBurst(s, n);
  const one = rows[0]!;
  const result = {
    workloads: n,
    leasehold_per_s: one.leasehold_per_s,
    bullmq_per_s: one.bullmq_per_s,
    ceiling_per_s: perSecond(n, ceilingMs),
    leasehold_vs_bullmq: one.leasehold_vs_bullmq,
    leasehold_vs_ceiling: +(ceilingMs / one.leaseholdMs).toFixed(3),
    events_received: one.events_received,
    events_expected: 5 * n * rounds,
    leasehold_cpu: one.leasehold_cpu,
    bullmq_cpu: one.bullmq_cpu,
    leasehold_redis_calls: one.leasehold_redis_calls,
    bullmq_redis_calls: one.bullmq_redis_calls,
  };
  if (rows.length < 2) return result;
  const most = rows.at(-1)!;
  return {
    ...result,
    replicas: rows.map(({ leaseholdMs: _l, bullmqMs: _b, ...row }) => row),
    // Throughput at N processes over throughput at 1, each side measured in this run.
    scaling: {
      processes: most.processes,
      leasehold: +(one.leaseholdMs / most.leaseholdMs).toFixed(2),
      bullmq: +(one.bullmqMs / most.bullmqMs).toFixed(2),
    },
  };
}
