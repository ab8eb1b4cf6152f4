import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { startControlPlane, type ControlPlane } from '../../app.js';
import { DEFAULT_CONFIG, RUNTIMES, SANDBOXES, parseConcurrency, parseRuntime, parseSandbox, type ControlPlaneConfig } from '../../config.js';
import { METRICS_AUTH, parseHostList, parseMetricsAuth } from '../../config.js';
import { startNats, startRedis, type OwnedServer } from '../../dev/servers.js';
import { holdStateDir } from '../../dev/state-lock.js';
import { installationStateDir } from '../../installation.js';
import { createLogger, type Logger } from '../../log.js';
import { redactUrl } from '../../redact.js';
import { checkPools, parsePoolOption, readPoolFile } from '../../pool/pool-template.js';
import { quantityToNumber } from '../../runtime/process/sandbox-limits.js';
import { natsTargetOf, positiveInt, withConnection, type ConnectionOptions } from '../options.js';
import { LOG_FORMATS, logDestination, type LogFormat } from '../log-format.js';

interface StartOptions extends ConnectionOptions {
  pool: string[];
  poolFile?: string;
  runtime: string;
  sandbox?: string;
  kubeconfig?: string;
  namespace?: string;
  sandboxNamespace: string;
  runtimeClass: string;
  firecrackerBinary: string;
  firecrackerKernel: string;
  firecrackerRootfsDir: string;
  firecrackerTap?: string;
  jailer?: string;
  jailerChrootBase: string;
  jailerUid: number;
  jailerGid: number;
  httpHost: string;
  httpPort: number;
  publicUrl?: string;
  httpTokens?: string;
  httpAllowedHosts?: string;
  metricsAuth: string;
  httpMaxConnections: number;
  httpMaxStreams: number;
  stateDir: string;
  consumer: string;
  replicaId?: string;
  shards: number;
  shardTtl: number;
  maxConcurrent: string;
  maxPending: number;
  retention: number;
  grace: number;
  history: number;
  sandboxMemory: number;
  sandboxMaxMemory: number;
  sandboxCpu: number;
  sandboxMaxCpu: number;
  sandboxPids: number;
  sandboxMaxTmp: number;
  /** `dev` only: the embedded Redis without persistence, in a temporary directory. */
  ephemeral?: boolean;
  historyMaxBytes: number;
}

/** A Kubernetes quantity (`512Mi`, `1`, `500m`) for the sandbox limits; `scale` 1000 turns cores into millicores. */
function quantity(scale: number) {
  return (value: string): number => {
    const n = quantityToNumber(value) * scale;
    if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`expected a quantity such as 512Mi, 2Gi, 1 or 500m, got "${value}"`);
    return Math.floor(n);
  };
}

function withControlPlaneOptions(command: Command): Command {
  return withConnection(command)
    .addOption(
      new Option('--runtime <name>', `where trusted workloads run: ${RUNTIMES.join(', ')}`).env('LEASEHOLD_RUNTIME').default(DEFAULT_CONFIG.runtime),
    )
    .addOption(
      new Option('--sandbox <name>', `where untrusted workloads run: ${SANDBOXES.join(', ')} (default: bubblewrap, or kubernetes with --runtime kubernetes)`).env(
        'LEASEHOLD_SANDBOX',
      ),
    )
    // Not bound to KUBECONFIG: that may list several files, which client-node's default loading merges.
    .addOption(new Option('--kubeconfig <path>', 'kubeconfig file (default: KUBECONFIG, ~/.kube/config, or in-cluster)'))
    .addOption(new Option('--namespace <ns>', "namespace of trusted Pods (default: the context's)").env('LEASEHOLD_NAMESPACE'))
    .addOption(
      new Option('--sandbox-namespace <ns>', 'namespace of sandbox Pods')
        .env('LEASEHOLD_SANDBOX_NAMESPACE')
        .default(DEFAULT_CONFIG.kubernetes.sandboxNamespace),
    )
    .addOption(
      new Option('--runtime-class <name>', 'RuntimeClass of sandbox Pods: gvisor or kata-fc')
        .env('LEASEHOLD_RUNTIME_CLASS')
        .default(DEFAULT_CONFIG.kubernetes.runtimeClass),
    )
    .addOption(new Option('--firecracker-binary <path>', 'the firecracker VMM').env('LEASEHOLD_FIRECRACKER_BINARY').default(DEFAULT_CONFIG.firecracker.binary))
    .addOption(new Option('--firecracker-kernel <path>', 'guest kernel (vmlinux)').env('LEASEHOLD_FIRECRACKER_KERNEL').default(DEFAULT_CONFIG.firecracker.kernel))
    .addOption(
      new Option('--firecracker-rootfs-dir <dir>', 'root filesystems, one <image>.ext4 per image')
        .env('LEASEHOLD_FIRECRACKER_ROOTFS_DIR')
        .default(DEFAULT_CONFIG.firecracker.rootfsDir),
    )
    .addOption(new Option('--firecracker-tap <device>', 'give each VM a network interface on this tap device (default: none)').env('LEASEHOLD_FIRECRACKER_TAP'))
    .addOption(new Option('--jailer <path>', 'start firecracker through this jailer').env('LEASEHOLD_JAILER'))
    .addOption(new Option('--jailer-chroot-base <dir>', "the jailer's --chroot-base-dir").env('LEASEHOLD_JAILER_CHROOT_BASE').default('/srv/jailer'))
    .addOption(new Option('--jailer-uid <uid>', 'user the jailed VMM runs as').env('LEASEHOLD_JAILER_UID').argParser(positiveInt).default(65534))
    .addOption(new Option('--jailer-gid <gid>', 'group the jailed VMM runs as').env('LEASEHOLD_JAILER_GID').argParser(positiveInt).default(65534))
    .addOption(new Option('--http-host <host>', 'address of the HTTP endpoint').env('LEASEHOLD_HTTP_HOST').default(DEFAULT_CONFIG.httpHost))
    .addOption(
      new Option('--http-port <port>', 'port of the HTTP endpoint (probes, metrics, heartbeats); 0 picks one')
        .env('LEASEHOLD_HTTP_PORT')
        .argParser(positiveInt)
        .default(DEFAULT_CONFIG.httpPort),
    )
    .addOption(new Option('--public-url <url>', 'the URL workloads use to reach the heartbeat endpoint').env('LEASEHOLD_PUBLIC_URL'))
    .addOption(
      new Option('--http-tokens <file>', 'bearer tokens of the HTTP API, one "token scope [name]" a line (scope: read or operator); default: one operator token written to <state-dir>/http-token')
        .env('LEASEHOLD_HTTP_TOKENS_FILE'),
    )
    .addOption(
      new Option('--http-allowed-hosts <hosts>', 'Host headers to answer, e.g. leasehold.example.com,localhost:8080 (* for any); default: loopback names for a loopback bind, any otherwise')
        .env('LEASEHOLD_HTTP_ALLOWED_HOSTS'),
    )
    .addOption(
      new Option('--metrics-auth <mode>', `whether /metrics needs a read token: ${METRICS_AUTH.join(' or ')}`).env('LEASEHOLD_METRICS_AUTH').default(DEFAULT_CONFIG.metricsAuth),
    )
    .addOption(
      new Option('--http-max-connections <n>', 'HTTP connections held at once; more are closed as they arrive')
        .env('LEASEHOLD_HTTP_MAX_CONNECTIONS')
        .argParser(positiveInt)
        .default(DEFAULT_CONFIG.httpMaxConnections),
    )
    .addOption(
      new Option('--http-max-streams <n>', 'inspector event streams open at once')
        .env('LEASEHOLD_HTTP_MAX_STREAMS')
        .argParser(positiveInt)
        .default(DEFAULT_CONFIG.httpMaxStreams),
    )
    .addOption(new Option('--state-dir <dir>', 'pid files and work dirs of local workloads').env('LEASEHOLD_STATE_DIR').default(DEFAULT_CONFIG.stateDir))
    .addOption(new Option('--consumer <name>', 'names this instance\'s processing list; keep it stable').env('LEASEHOLD_CONSUMER').default(DEFAULT_CONFIG.consumer))
    .addOption(
      new Option('--replica-id <id>', "this replica's id, unique among live replicas and stable across its restarts (default: POD_NAME, else <hostname>-<pid>)").env(
        'LEASEHOLD_REPLICA_ID',
      ),
    )
    .addOption(
      new Option('--shards <n>', 'shards of workloads; the same for every replica of an installation')
        .env('LEASEHOLD_SHARDS')
        .argParser(positiveInt)
        .default(DEFAULT_CONFIG.shardCount),
    )
    .addOption(
      new Option('--shard-ttl <ms>', "how long a replica's shard leases last unrenewed: peers take a dead replica's shards after this")
        .env('LEASEHOLD_SHARD_TTL_MS')
        .argParser(positiveInt)
        .default(DEFAULT_CONFIG.shardTtlMs),
    )
    .addOption(
      new Option('--max-concurrent <limits>', 'admitted workloads per type, e.g. trusted=64,untrusted=16')
        .env('LEASEHOLD_MAX_CONCURRENT')
        .default('trusted=64,untrusted=16'),
    )
    .addOption(
      new Option('--max-pending <n>', 'workloads held waiting for admission before intake pauses')
        .env('LEASEHOLD_MAX_PENDING')
        .argParser(positiveInt)
        .default(DEFAULT_CONFIG.maxPending),
    )
    .addOption(
      new Option('--retention <seconds>', 'how long a finished workload stays queryable (and its id taken)')
        .env('LEASEHOLD_RETENTION_SECONDS')
        .argParser(positiveInt)
        .default(DEFAULT_CONFIG.retentionSeconds),
    )
    .addOption(
      new Option('--history <seconds>', 'keep transitions this long in JetStream, for `watch --replay` and `inspect --replay`; 0 keeps none')
        .env('LEASEHOLD_HISTORY_SECONDS')
        .argParser(positiveInt)
        .default(DEFAULT_CONFIG.historySeconds),
    )
    .addOption(
      new Option('--history-max-bytes <n>', 'and at most this many bytes of it (the oldest go first; 0: no byte bound)')
        .env('LEASEHOLD_HISTORY_MAX_BYTES')
        .argParser(positiveInt)
        .default(DEFAULT_CONFIG.historyMaxBytes),
    )
    .addOption(
      new Option('--sandbox-memory <quantity>', 'memory of all processes of a bubblewrap sandbox together, when its spec asks for none')
        .env('LEASEHOLD_SANDBOX_MEMORY')
        .argParser(quantity(1))
        .default(DEFAULT_CONFIG.sandboxLimits.defaultMemoryBytes, '512Mi'),
    )
    .addOption(
      new Option('--sandbox-max-memory <quantity>', "the most memory a spec's resources.memory gets in a bubblewrap sandbox")
        .env('LEASEHOLD_SANDBOX_MAX_MEMORY')
        .argParser(quantity(1))
        .default(DEFAULT_CONFIG.sandboxLimits.maxMemoryBytes, '4Gi'),
    )
    .addOption(
      new Option('--sandbox-cpu <quantity>', 'CPU of a bubblewrap sandbox (cores, or 500m), when its spec asks for none')
        .env('LEASEHOLD_SANDBOX_CPU')
        .argParser(quantity(1000))
        .default(DEFAULT_CONFIG.sandboxLimits.defaultCpuMillis, '1'),
    )
    .addOption(
      new Option('--sandbox-max-cpu <quantity>', "the most CPU a spec's resources.cpu gets in a bubblewrap sandbox")
        .env('LEASEHOLD_SANDBOX_MAX_CPU')
        .argParser(quantity(1000))
        .default(DEFAULT_CONFIG.sandboxLimits.maxCpuMillis, '2'),
    )
    .addOption(
      new Option('--sandbox-pids <n>', 'processes and threads of one bubblewrap sandbox at once')
        .env('LEASEHOLD_SANDBOX_PIDS')
        .argParser(positiveInt)
        .default(DEFAULT_CONFIG.sandboxLimits.pids),
    )
    .addOption(
      new Option('--sandbox-max-tmp <quantity>', "size of a bubblewrap sandbox's /tmp (never more than its memory)")
        .env('LEASEHOLD_SANDBOX_MAX_TMP')
        .argParser(quantity(1))
        .default(DEFAULT_CONFIG.sandboxLimits.maxTmpBytes, '256Mi'),
    )
    .addOption(
      new Option('--pool <template>', "a warm pool, e.g. untrusted:python:3.12:size=20 (options size, min, max, idle seconds, cpu, memory); repeat for more; the variable takes several, space-separated")
        .env('LEASEHOLD_POOLS')
        .argParser((value: string, previous: string[] = []) => [...previous, ...value.split(/\s+/).filter(Boolean)])
        .default([]),
    )
    .addOption(new Option('--pool-file <file>', 'warm pools from a YAML or JSON file (README, "Warm pools")').env('LEASEHOLD_POOL_FILE'))
    .addOption(
      new Option('--grace <ms>', 'SIGTERM to SIGKILL on teardown').env('LEASEHOLD_GRACE_MS').argParser(positiveInt).default(DEFAULT_CONFIG.teardownGraceMs),
    );
}

function toConfig(options: StartOptions): ControlPlaneConfig {
  return {
    ...DEFAULT_CONFIG,
    redisUrl: options.redis,
    natsUrl: options.nats,
    natsAuth: natsTargetOf(options).auth,
    keyPrefix: options.keyPrefix,
    installation: options.installation ?? '',
    runtime: parseRuntime(options.runtime),
    sandbox: options.sandbox ? parseSandbox(options.sandbox) : null,
    kubernetes: {
      kubeconfig: options.kubeconfig ?? null,
      namespace: options.namespace ?? null,
      sandboxNamespace: options.sandboxNamespace,
      runtimeClass: options.runtimeClass,
    },
    firecracker: {
      binary: options.firecrackerBinary,
      kernel: options.firecrackerKernel,
      rootfsDir: options.firecrackerRootfsDir,
      tap: options.firecrackerTap ?? null,
      jailer: options.jailer
        ? { binary: options.jailer, chrootBase: options.jailerChrootBase, uid: options.jailerUid, gid: options.jailerGid }
        : null,
      kvmDevice: DEFAULT_CONFIG.firecracker.kvmDevice,
    },
    sandboxLimits: {
      ...DEFAULT_CONFIG.sandboxLimits,
      defaultMemoryBytes: Math.min(options.sandboxMemory, options.sandboxMaxMemory),
      maxMemoryBytes: options.sandboxMaxMemory,
      defaultCpuMillis: Math.min(options.sandboxCpu, options.sandboxMaxCpu),
      maxCpuMillis: options.sandboxMaxCpu,
      pids: Math.max(1, options.sandboxPids),
      maxTmpBytes: options.sandboxMaxTmp,
    },
    httpHost: options.httpHost,
    httpPort: options.httpPort,
    publicUrl: options.publicUrl ?? null,
    httpTokensFile: options.httpTokens ?? null,
    httpAllowedHosts: options.httpAllowedHosts ? parseHostList(options.httpAllowedHosts) : null,
    metricsAuth: parseMetricsAuth(options.metricsAuth),
    httpMaxConnections: options.httpMaxConnections,
    httpMaxStreams: options.httpMaxStreams,
    stateDir: options.stateDir,
    consumer: options.consumer,
    replicaId: options.replicaId ?? null,
    shardCount: options.shards,
    shardTtlMs: options.shardTtl,
    maxConcurrent: parseConcurrency(options.maxConcurrent),
    maxPending: options.maxPending,
    retentionSeconds: options.retention,
    teardownGraceMs: options.grace,
    historySeconds: options.history,
    historyMaxBytes: options.historyMaxBytes,
    pools: checkPools([...options.pool.map(parsePoolOption), ...(options.poolFile ? readPoolFile(options.poolFile) : [])]),
  };
}

/** Runs until SIGTERM or SIGINT, then stops intake and exits with every workload's state persisted. */
async function runUntilSignalled(plane: ControlPlane, log: Logger, cleanup: () => Promise<void> = async () => undefined): Promise<void> {
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  // Persisting can wait on a Redis that is gone; a Kubernetes rollout would SIGKILL us after its
  // grace period, so we end first, and the next start reconciles from what Redis has.
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), STOP_DEADLINE_MS)));
  const stopped = await Promise.race([plane.stop().then(() => 'stopped' as const), deadline]);
  clearTimeout(timer);
  if (stopped === 'late') log.warn({ deadlineMs: STOP_DEADLINE_MS }, 'could not persist everything before the stop deadline; the next start reconciles');
  await cleanup();
  log.info('control plane stopped');
  log.flush();
  // Local workloads' output pipes (and anything a library left open) must not keep us alive: the
  // workloads themselves go on, and the next start reconciles them.
  setTimeout(() => process.exit(process.exitCode ?? 0), 200).unref();
}

/** SIGTERM to exit: well inside Kubernetes' default grace period of 30 s. */
const STOP_DEADLINE_MS = 10_000;

/** Stops what `dev` started when the control plane could not start, so nothing is left running. */
async function stopOwned(owned: readonly OwnedServer[]): Promise<void> {
  for (const server of owned) await server.stop().catch(() => undefined);
}

export function registerStart(program: Command): void {
  withControlPlaneOptions(program.command('start').description('run the control plane against existing Redis and NATS')).action(
    async (options: StartOptions) => {
      const log = createLogger();
      const plane = await startControlPlane(toConfig(options), { log });
      await runUntilSignalled(plane, log);
    },
  );

  withControlPlaneOptions(
    program
      .command('dev')
      .description('the embedded default: start redis-server and nats-server on free ports unless URLs are given, then the control plane')
      .option('--ephemeral', 'run the embedded Redis without persistence, in a temporary directory removed at exit (default: an append-only file in <state-dir>/redis)')
      .addOption(new Option('--log-format <format>', 'auto: readable lines on a terminal, JSON lines otherwise').choices(LOG_FORMATS).env('LEASEHOLD_LOG_FORMAT').default('auto')),
  ).action(async (options: StartOptions & { logFormat: LogFormat }, command: Command) => {
    const log = createLogger({ destination: logDestination(options.logFormat) });
    const owned: OwnedServer[] = [];
    const given = (name: string) => command.getOptionValueSource(name) !== 'default';
    let plane: ControlPlane;
    // One dev per installation's state directory: its Redis files and workloads are its own.
    const stateDir = installationStateDir(options.stateDir, options.installation ?? '');
    const lock = holdStateDir(stateDir);
    // The lock goes last: until the servers have stopped, their files are still being written.
    const stopAll = () => stopOwned(owned).finally(() => lock.release());
    try {
      if (!given('redis')) {
        // Persistent by default, in the state directory, so a dev restart keeps what was submitted.
        const redisDir = join(stateDir, 'redis');
        if (!options.ephemeral) mkdirSync(redisDir, { recursive: true, mode: 0o700 });
        const redis = await startRedis(options.ephemeral ? {} : { dir: redisDir, persistence: 'aof' });
        owned.push(redis);
        options.redis = redis.url;
      }
      if (!given('nats')) {
        // In the state directory too, so that everything this dev started is found under one path.
        const nats = await startNats({ dir: mkdtempSync(join(stateDir, 'nats-')) });
        owned.push(nats);
        options.nats = nats.url;
      }
      plane = await startControlPlane(toConfig(options), { log });
    } catch (error) {
      await stopAll();
      throw error;
    }
    const redisPort = new URL(options.redis).port || '6379';
    process.stdout.write(
      [
        '',
        'Leasehold is running.',
        `  Redis  ${redactUrl(options.redis)}`,
        `  NATS   ${redactUrl(options.nats)}`,
        `  HTTP   http://${options.httpHost}:${plane.httpPort}  (/readyz, /metrics)`,
        // The link carries the token in its fragment, which the browser never sends anywhere.
        `  Inspector  http://${options.httpHost}:${plane.httpPort}/${plane.httpTokenFile ? `#token=${readFileSync(plane.httpTokenFile, 'utf8').trim()}` : ''}  (the live state chart)`,
        plane.httpTokenFile ? `  HTTP token  ${plane.httpTokenFile}  (operator scope; new at each start)` : '  HTTP tokens  from --http-tokens',
        '',
        'Submit the sample workload:',
        `  redis-cli -p ${redisPort} LPUSH ${plane.keys.queue} '{"id":"test-1","type":"trusted","image":"alpine","cmd":["echo","hello"]}'`,
        'Watch it (in another terminal):',
        `  npx leasehold watch --nats ${redactUrl(options.nats)}${options.installation ? ` --installation ${options.installation}` : ''}`,
        '',
        'Ctrl-C stops the control plane and the servers it started.',
        '',
      ].join('\n'),
    );
    await runUntilSignalled(plane, log, stopAll);
  });
}
