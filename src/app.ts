import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { systemClock, type Clock } from './clock.js';
import type { ControlPlaneConfig } from './config.js';
import { NatsControlServer, NatsTransitionPublisher } from './events/nats-bus.js';
import { NatsLink } from './events/nats-link.js';
import { keepTransitionHistory } from './events/transition-history.js';
import { subjectsFor } from './events/transition.js';
import { installationStateDir } from './installation.js';
import { createWorkloadMachine, describeError } from '../machines/index.js';
import { LeaseholdError } from './errors.js';
import { chartOf } from './inspector/chart.js';
import { controlRoutes, heartbeatRoute } from './inspector/control-routes.js';
import { makeHeartbeatSocketDir } from './heartbeat-socket-dir.js';
import { HttpServer } from './inspector/http-server.js';
import { inspectorRoutes } from './inspector/inspector-routes.js';
import { HttpTokens } from './inspector/http-auth.js';
import { generateTokenFile } from './inspector/generated-token.js';
import { HostAllowList } from './inspector/host-allow-list.js';
import { PROBE_PATHS } from './inspector/control-routes.js';
import { InspectorModel } from './inspector/model.js';
import { Metrics } from './inspector/metrics.js';
import { createKeys, type Keys } from './keys.js';
import { HeartbeatTokens } from './lease/heartbeat-tokens.js';
import { Reaper } from './lease/reaper.js';
import { RedisLeases } from './lease/redis-leases.js';
import type { Logger } from './log.js';
import { Intake } from './queue/intake.js';
import { RefusalLog } from './queue/refusal-log.js';
import { createRuntimes } from './runtime/factory.js';
import { TypeRouter } from './runtime/router.js';
import { RedisPoolClaims } from './pool/pool-claims.js';
import { poolStatsOf, withWarmPools } from './pool/with-warm-pools.js';
import type { PoolStats } from './pool/warm-pool.js';
import type { WorkloadRuntime } from './runtime/runtime.js';
import { RedisWorkloadStore } from './store/redis-store.js';
import { connectRedis } from './store/redis-connection.js';
import { warnIfRedisCanLose } from './store/durability-check.js';
import { warnIfLegacyLayout } from './store/legacy-layout.js';
import { InboxDrainer } from './queue/inbox-drainer.js';
import { redactUrl } from './redact.js';
import { HEARTBEAT_ENV } from './runtime/runtime.js';
import { Supervisor } from './supervisor/supervisor.js';
import { LogWindows } from './events/log-windows.js';
import { NatsPeers } from './events/nats-peers.js';
import { NatsExecServer } from './events/exec-server.js';
import { FencedError } from './ownership/fencing.js';
import type { ShardOwnership } from './ownership/ownership.js';
import { RedisOwnership } from './ownership/redis-ownership.js';
import { replicaIdentity } from './replica.js';

export interface ControlPlane {
  readonly supervisor: Supervisor;
  readonly ownership: ShardOwnership;
  readonly keys: Keys;
  readonly httpPort: number;
  /** Where the generated operator token of the HTTP API is; null when tokens come from a file. */
  readonly httpTokenFile: string | null;
  readonly metrics: Metrics;
  readonly reaper: Reaper;
  /** The warm pools (none unless declared): size, ready, in use, hits and misses. */
  pools(): PoolStats[];
  /** Stops intake, then the actors (after persisting them), then the connections. Workloads keep running. */
  stop(): Promise<void>;
}

export interface ControlPlaneDeps {
  readonly log: Logger;
  readonly clock?: Clock;
  /** Replaces the configured runtimes (the benchmark's instant runtime, test doubles). */
  readonly runtimes?: { trusted: WorkloadRuntime | null; untrusted: WorkloadRuntime | null };
}

/** How often restoring an acquired shard is tried before the shard is given up. */
const RESTORE_ATTEMPTS = 5;

/** Wires the parts together; every adapter is created here and nowhere else. */
export async function startControlPlane(config: ControlPlaneConfig, deps: ControlPlaneDeps): Promise<ControlPlane> {
  const clock = deps.clock ?? systemClock;
  // Each replica its own id, processing list, and local state (pid files, work dirs): two
  // replicas on one machine, or two `leasehold dev`, never touch each other's workloads.
  // An installation's subjects and local state are its own (installation.ts): two installations
  // on one NATS and one machine neither hear nor touch each other's workloads.
  const stateDir = installationStateDir(config.stateDir, config.installation);
  const subjects = subjectsFor(config.installation);
  const replica = replicaIdentity({ ...config, stateDir });
  const log = deps.log.child({ replica: replica.id });
  if (config.keyPrefix !== '' && config.installation === '') {
    log.warn('a key prefix without --installation: transitions and control requests use the default subjects, shared with every other installation on this NATS');
  }
  const keys = createKeys(config.keyPrefix, config.shardCount);
  // Read before anything connects, so a bad tokens file is a one-line error, not a half-started plane.
  // A replica named with --replica-id keeps it in its own directory: replicas sharing a state
  // directory would otherwise replace each other's token (or race to create it).
  const generated = config.httpTokensFile ? null : generateTokenFile(config.replicaId ? replica.stateDir : stateDir);
  const httpTokens = generated?.tokens ?? HttpTokens.fromFile(config.httpTokensFile!);
  HostAllowList.forBind(config.httpHost, config.httpPort, { configured: config.httpAllowedHosts, publicUrl: config.publicUrl }); // checked now, built once bound
  const { redis, blocking } = await connectRedis(config.redisUrl, `leasehold:${replica.id}`, log);
  await warnIfRedisCanLose(redis, log, redactUrl(config.redisUrl));
  await warnIfLegacyLayout(redis, config.keyPrefix, log);
  // Ownership's own connection, not auto-pipelined: a renewal must never wait behind a large
  // snapshot pipeline, or a busy replica would fence itself.
  const ownershipRedis = redis.duplicate({ enableAutoPipelining: false, connectionName: `leasehold:${replica.id}:ownership` });
  ownershipRedis.on('error', () => undefined); // the ownership logs Redis being unreachable itself
  await ownershipRedis.connect();

  const publisher = new NatsTransitionPublisher(log, subjects);
  const peers = new NatsPeers(log, subjects);
  const nats = new NatsLink({ url: config.natsUrl, auth: config.natsAuth }, `leasehold:${replica.id}`, log, (up) => publisher.setConnected(up));
  if (config.historySeconds > 0) {
    await nats.onConnect((nc) => keepTransitionHistory(nc, { maxAgeSeconds: config.historySeconds, maxBytes: config.historyMaxBytes }, log, subjects));
  }
  await nats.onConnect((nc) => {
    publisher.attach(nc);
    peers.attach(nc);
    if (nc.info?.auth_required !== true) {
      log.warn('NATS does not require authentication: anyone who reaches it can cancel workloads, read their logs and answer status requests; see the README, Security');
    }
  });
  try {
    await nats.start();
  } catch (error) {
    redis.disconnect();
    blocking.disconnect();
    ownershipRedis.disconnect();
    throw error;
  }

  const secret = await heartbeatSecret(redis, keys);
  // Verified against the run the supervisor holds now: a past run's token is refused.
  const tokens = new HeartbeatTokens(secret, (id) => sup.runOf(id));
  const ownership: ShardOwnership = new RedisOwnership(
    ownershipRedis,
    {
      // A shard held with nothing restored would strand its workloads until it moves: a failed
      // restore is tried again while the shard is ours, and then given up so that it moves.
      onAcquired: async (grant) => {
        for (let attempt = 1; ; attempt++) {
          try {
            const restored = await sup.acquireShard(grant);
            if (restored > 0) log.info({ ...grant, restored }, 'restored the workloads of an acquired shard');
            return;
          } catch (error) {
            if (ownership.epochOf(grant.shard) !== grant.epoch) return;
            if (attempt >= RESTORE_ATTEMPTS) {
              log.error({ err: error, ...grant }, 'could not restore an acquired shard; giving it up');
              ownership.reportFenced(grant);
              return;
            }
            log.warn({ err: error, ...grant, attempt }, 'restoring an acquired shard failed; trying again');
            await new Promise((resolve) => setTimeout(resolve, 250 * attempt));
          }
        }
      },
      onReleasing: (grant): Promise<void> => sup.releaseShard(grant),
      onLost: (grant, reason): void => sup.loseShard(grant, reason),
    },
    { replicaId: replica.id, prefix: config.keyPrefix, shardCount: config.shardCount, ttlMs: config.shardTtlMs, logger: log },
  );
  const reportFenced = (grant: { shard: number; epoch: number }) => ownership.reportFenced(grant);
  const store = new RedisWorkloadStore(redis, keys, log, replica.id, reportFenced);
  const leases = new RedisLeases(redis, keys, replica.id, reportFenced);
  let router: TypeRouter;
  try {
    const runtimes = deps.runtimes ?? (await createRuntimes({ ...config, stateDir: replica.stateDir }, log));
    const pooled = { claims: new RedisPoolClaims(redis, keys.poolClaims), replicaId: replica.id, liveReplicas: () => ownership.members(), log, sweepMs: config.poolSweepMs, graceMs: config.teardownGraceMs };
    router = new TypeRouter(withWarmPools(runtimes, pooled, config.pools));
    for (const runtime of router.all()) await runtime.start();
  } catch (error) {
    // A runtime that cannot start (a kubeconfig it cannot read): close what is open, or the
    // process prints the error and then never exits.
    await nats.stop();
    redis.disconnect();
    blocking.disconnect();
    ownershipRedis.disconnect();
    throw error;
  }

  // Known once the HTTP server is bound; workloads are only provisioned after that.
  let publicUrl = config.publicUrl ?? '';
  const sup: Supervisor = new Supervisor(
    {
      maxConcurrent: config.maxConcurrent,
      maxPending: config.maxPending,
      retentionSeconds: config.retentionSeconds,
      policy: config.policy,
      renewTickMs: config.renewTickMs,
    },
    {
      ownership,
      peers,
      store,
      leases,
      publisher,
      router,
      clock,
      log,
      heartbeat: {
        envFor: (id, run) => ({
          [HEARTBEAT_ENV.url]: `${publicUrl}/v1/workloads/${id}/heartbeat`,
          [HEARTBEAT_ENV.token]: tokens.tokenFor(id, run),
          [HEARTBEAT_ENV.socket]: heartbeatSocket,
        }),
      },
      observers: [],
    },
  );
  const metrics = new Metrics({
    counts: () => sup.counts(),
    queueDepth: () => redis.llen(keys.queue),
    runtimeStats: () => router.all().flatMap((runtime) => (runtime.stats ? [{ runtime: runtime.name, stats: runtime.stats() }] : [])),
    natsConnected: () => nats.isUp(),
    pools: () => poolStatsOf(router.all()),
  });
  sup.observe(metrics);
  const reaper = new Reaper(
    leases,
    ownership,
    clock,
    { intervalMs: config.reaperIntervalMs, batch: 1_000, defaultTtlMs: 30_000 },
    (ids) => sup.onLeasesLapsed(ids),
    log,
  );
  const refusalLog = new RefusalLog(log, clock);
  const intake = new Intake(
    blocking,
    redis,
    keys,
    {
      consumer: replica.id,
      batch: config.intakeBatch,
      blockTimeoutSeconds: config.blockTimeoutSeconds,
      maxPayloadBytes: config.maxPayloadBytes,
      maxDeadLetters: config.maxDeadLetters,
    },
    {
      accepted: (specs, grant) => sup.accept(specs, grant),
      recordedElsewhere: (shards) => peers.nudgeInbox(shards),
      rejected: (refusals) => {
        for (const refusal of refusals) {
          metrics.deadLetter(refusal.kind);
          refusalLog.note(refusal);
        }
      },
      capacity: () => sup.capacity(),
    },
    clock,
    log,
    ownership,
  );
  const model = new InspectorModel();
  sup.observe({ transition: (message) => model.apply(message) });
  const http = new HttpServer(
    [
      controlRoutes({
        metrics,
        tokens,
        ready: () => {
          // Ready means "can take new work": the lifecycle goes on without NATS (transitions wait in
          // the outbox), and a Service that dropped us would cost self-heartbeating workloads their
          // leases. A NATS outage shows in `checks` and on /metrics instead.
          const checks = { redis: redis.status === 'ready', nats: nats.isUp(), intake: intake.isRunning };
          return { ready: checks.redis && checks.intake, checks };
        },
        heartbeat: (id) => sup.heartbeat(id),
        metricsTokens: config.metricsAuth === 'token' ? httpTokens : null,
      }),
      inspectorRoutes(
        {
          model,
          chart: chartOf(createWorkloadMachine()),
          connected: () => nats.isUp(),
          status: (id) => sup.status(id),
          logs: (id) => sup.logs(id),
          pools: () => poolStatsOf(router.all()),
        },
        { tokens: httpTokens, maxStreams: config.httpMaxStreams },
      ),
    ],
    log,
    {
      limits: { maxConnections: config.httpMaxConnections },
      // The URL workloads are given must stay answerable, the default one included (set below).
      allowedHosts: (port) =>
        HostAllowList.forBind(config.httpHost, port, {
          configured: config.httpAllowedHosts,
          publicUrl: config.publicUrl ?? `http://${config.httpHost === '0.0.0.0' ? '127.0.0.1' : config.httpHost.includes(':') ? `[${config.httpHost}]` : config.httpHost}:${port}`,
        }),
      anyHostPaths: PROBE_PATHS,
    },
  );
  let httpPort: number;
  try {
    httpPort = await http.listen(config.httpPort, config.httpHost);
  } catch (error) {
    // Nothing has started yet that outlives this: close what is open and say it in one line.
    for (const runtime of router.all()) await runtime.close();
    await nats.stop();
    redis.disconnect();
    blocking.disconnect();
    ownershipRedis.disconnect();
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'EADDRINUSE' ? 'the address is in use' : code === 'EACCES' ? 'permission denied' : describeError(error);
    throw new LeaseholdError('HTTP_LISTEN', `cannot listen on ${config.httpHost}:${config.httpPort} (${why}); pick another with --http-port (0 picks a free one)`);
  }
  // The same heartbeat endpoint, alone, on a Unix socket: a sandbox with no network gets the
  // socket bound in. Its own directory in /tmp, reachable by the sandbox user, short enough for
  // a socket path.
  const socketDir = makeHeartbeatSocketDir();
  const heartbeatSocket = join(socketDir, 'heartbeat.sock');
  const heartbeatServer = new HttpServer([heartbeatRoute({ tokens, heartbeat: (id) => sup.heartbeat(id) })], log, {
    limits: { maxConnections: config.httpMaxConnections },
  });
  await heartbeatServer.listenOnSocket(heartbeatSocket);
  publicUrl ||= `http://${config.httpHost === '0.0.0.0' ? '127.0.0.1' : config.httpHost}:${httpPort}`;
  // Entries other replicas recorded into our shards: taken at once when a peer says so, and
  // polled in case that word was lost.
  const inboxes = new InboxDrainer({
    owned: () => ownership.owned(),
    take: (grant) => sup.takeInbox(grant),
    fenced: (error, grant) => {
      if (!(error instanceof FencedError)) return false;
      ownership.reportFenced(grant);
      return true;
    },
    log,
  });
  sup.onCapacity(() => {
    intake.resume();
    // Only the inboxes a full replica left work in: this fires at every workload's end.
    const backlogged = sup.backloggedInboxes();
    if (backlogged.size > 0) inboxes.nudge(backlogged);
  });
  // `logs -f`: the output from a byte offset on, from the runtime that holds it (here or at the owner).
  const logWindows = new LogWindows(() => router.all(), {
    peerOwning: async (id) => {
      const owner = await ownership.ownerOf(keys.shardOf(id));
      return owner && owner.replicaId !== replica.id ? owner.replicaId : null;
    },
    askPeer: (replicaId, id, from) => peers.logsFrom(replicaId, id, from),
  });
  const control = new NatsControlServer(sup, log, replica.id, (data) => inboxes.fromPeer(data, config.shardCount), subjects, logWindows);

  sup.start();
  await ownership.start();
  const orphans = await sup.collectOrphans();
  if (orphans > 0) log.info({ orphans }, 'tore down orphans');
  const inboxTimer = setInterval(() => inboxes.nudge(), INBOX_POLL_MS);
  // Orphans appear later too: a workload of ours that a peer ended while we were away.
  const orphanTimer = setInterval(() => void sup.collectOrphans(ORPHAN_GRACE_MS).catch(() => undefined), ORPHAN_SWEEP_MS);
  await nats.onConnect((nc) => control.start(nc));
  const execs = new NatsExecServer(sup, log, replica.id, subjects);
  await nats.onConnect((nc) => execs.start(nc));
  reaper.start();
  await intake.start();
  if (generated) log.info({ tokenFile: generated.path }, 'HTTP API: no --http-tokens given; wrote an operator token to this file (0600)');
  log.info(
    { installation: config.installation || undefined, redis: redactUrl(config.redisUrl), nats: redactUrl(config.natsUrl), http: httpPort, queue: keys.queue, runtimes: router.all().map((r) => r.name), shards: ownership.owned().size },
    'control plane started',
  );

  return {
    supervisor: sup,
    ownership,
    keys,
    httpPort,
    httpTokenFile: generated?.path ?? null,
    metrics,
    reaper,
    pools: () => poolStatsOf(router.all()),
    async stop() {
      await intake.stop();
      reaper.stop();
      control.stop();
      await execs.stop();
      clearInterval(inboxTimer);
      clearInterval(orphanTimer);
      // Hands every shard over (persisted, then released): peers take over at once.
      await ownership.stop({ release: true });
      await sup.stop();
      for (const runtime of router.all()) await runtime.close();
      await http.close();
      await heartbeatServer.close();
      rmSync(socketDir, { recursive: true, force: true });
      await nats.stop();
      await redis.quit().catch(() => redis.disconnect());
      await ownershipRedis.quit().catch(() => ownershipRedis.disconnect());
      blocking.disconnect();
    },
  };
}

const INBOX_POLL_MS = 1_000;
const ORPHAN_SWEEP_MS = 15_000;
const ORPHAN_GRACE_MS = 10_000;

async function heartbeatSecret(redis: Redis, keys: Keys): Promise<string> {
  await redis.set(keys.secret, randomBytes(32).toString('base64url'), 'NX');
  return (await redis.get(keys.secret))!;
}
