/**
 * The burst: n workloads pushed at once, timed until the last is torn down, next to BullMQ's
 * no-op jobs and the bare-Redis ceiling in the same run. With `--replicas N` it runs at 1 and at
 * N processes on both sides: N Leasehold replicas sharing the queue, and N BullMQ workers.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { spawnChild, startPlane, stopChild, type Child } from './children.js';
import { payload, pushAll, signal, sleep, subscribeCounting } from './load.js';
import { ReplicaGroup } from './replica-group.js';

export interface BenchServers {
  readonly redis: Redis;
  readonly redisUrl: string;
  readonly nc: NatsConnection;
  readonly natsUrl: string;
}

export interface BurstOptions {
  readonly workloads: number;
  /** Process counts to run at; undefined: one control plane as before `--replicas` existed. */
  readonly replicaCounts: readonly number[] | undefined;
  readonly planeExtra: Record<string, unknown>;
}

export interface ScalingRow {
  readonly processes: number;
  readonly leasehold_per_s: number;
  readonly bullmq_per_s: number;
  readonly leasehold_vs_bullmq: number;
  readonly events_received: number;
}

const perSecond = (n: number, ms: number) => Math.round((n / ms) * 1000);

/** Every workload through all five states, every transition on NATS; resolves with ms and events seen. */
async function leaseholdBurst(s: BenchServers, n: number, replicas: number | undefined, planeExtra: Record<string, unknown>) {
  const prefix = replicas === undefined || replicas === 1 ? 'burst:' : `burst${replicas}:`;
  const tag = replicas ?? 1;
  let single: Child | undefined;
  let group: ReplicaGroup | undefined;
  if (replicas === undefined) single = await startPlane(s.redisUrl, s.natsUrl, prefix, planeExtra);
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
  const payloads = Array.from({ length: n }, (_, i) => payload(`b${tag}-${i}`));
  const started = performance.now();
  await pushAll(s.redis, `${prefix}workload_queue`, payloads);
  await done.promise;
  const ms = performance.now() - started;
  await sleep(200); // any stragglers would show as extra events
  unsubscribe();
  if (single) await stopChild(single);
  await group?.stop();
  return { ms, events };
}

/** The same number of jobs, a no-op processor, `workers` worker processes on one queue. */
async function bullmqBurst(s: BenchServers, n: number, workers: number): Promise<number> {
  const name = workers === 1 ? 'bench' : `bench${workers}`;
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
  const started = performance.now();
  for (let i = 0; i < n; i += 1000) {
    const slice = Array.from({ length: Math.min(1000, n - i) }, (_, j) => `j-${i + j}`);
    await queue.addBulk(slice.map((jobId) => ({ name: 'job', data: payload(jobId), opts: { jobId, removeOnComplete: true } })));
  }
  await done.promise;
  const ms = performance.now() - started;
  await Promise.all(children.map((child) => stopChild(child)));
  await queue.close();
  await connection.quit();
  return ms;
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
  const rows: (ScalingRow & { leaseholdMs: number; bullmqMs: number })[] = [];
  for (const count of counts) {
    const leasehold = await leaseholdBurst(s, n, count, options.planeExtra);
    const bullmqMs = await bullmqBurst(s, n, count ?? 1);
    rows.push({
      processes: count ?? 1,
      leasehold_per_s: perSecond(n, leasehold.ms),
      bullmq_per_s: perSecond(n, bullmqMs),
      leasehold_vs_bullmq: +(bullmqMs / leasehold.ms).toFixed(2),
      events_received: leasehold.events,
      leaseholdMs: leasehold.ms,
      bullmqMs,
    });
  }
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
    events_expected: 5 * n,
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
