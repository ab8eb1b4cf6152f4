import { Option, type Command } from 'commander';
import { startControlPlane, type ControlPlane } from '../../app.js';
import { DEFAULT_CONFIG, RUNTIMES, SANDBOXES, parseConcurrency, parseRuntime, parseSandbox, type ControlPlaneConfig } from '../../config.js';
import { startNats, startRedis, type OwnedServer } from '../../dev/servers.js';
import { redactNatsUrl } from '../../events/nats-auth.js';
import { createLogger } from '../../log.js';
import { natsTargetOf, positiveInt, withConnection, type ConnectionOptions } from '../options.js';

interface StartOptions extends ConnectionOptions {
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
  stateDir: string;
  consumer: string;
  maxConcurrent: string;
  maxPending: number;
  retention: number;
  grace: number;
  history: number;
  historyMaxBytes: number;
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
    .addOption(new Option('--state-dir <dir>', 'pid files and work dirs of local workloads').env('LEASEHOLD_STATE_DIR').default(DEFAULT_CONFIG.stateDir))
    .addOption(new Option('--consumer <name>', 'names this instance\'s processing list; keep it stable').env('LEASEHOLD_CONSUMER').default(DEFAULT_CONFIG.consumer))
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
    httpHost: options.httpHost,
    httpPort: options.httpPort,
    publicUrl: options.publicUrl ?? null,
    stateDir: options.stateDir,
    consumer: options.consumer,
    maxConcurrent: parseConcurrency(options.maxConcurrent),
    maxPending: options.maxPending,
    retentionSeconds: options.retention,
    teardownGraceMs: options.grace,
    historySeconds: options.history,
    historyMaxBytes: options.historyMaxBytes,
  };
}

/** Runs until SIGTERM or SIGINT, then stops intake and exits with every workload's state persisted. */
async function runUntilSignalled(plane: ControlPlane, cleanup: () => Promise<void> = async () => undefined): Promise<void> {
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  await plane.stop();
  await cleanup();
}

export function registerStart(program: Command): void {
  withControlPlaneOptions(program.command('start').description('run the control plane against existing Redis and NATS')).action(
    async (options: StartOptions) => {
      const log = createLogger();
      const plane = await startControlPlane(toConfig(options), { log });
      await runUntilSignalled(plane);
      log.info('control plane stopped');
      log.flush();
    },
  );

  withControlPlaneOptions(
    program
      .command('dev')
      .description('the embedded default: start redis-server and nats-server on free ports unless URLs are given, then the control plane'),
  ).action(async (options: StartOptions, command: Command) => {
    const log = createLogger();
    const owned: OwnedServer[] = [];
    const given = (name: string) => command.getOptionValueSource(name) !== 'default';
    if (!given('redis')) {
      const redis = await startRedis();
      owned.push(redis);
      options.redis = redis.url;
    }
    if (!given('nats')) {
      const nats = await startNats();
      owned.push(nats);
      options.nats = nats.url;
    }
    const plane = await startControlPlane(toConfig(options), { log });
    const redisPort = new URL(options.redis).port || '6379';
    process.stdout.write(
      [
        '',
        'Leasehold is running.',
        `  Redis  ${options.redis}`,
        `  NATS   ${redactNatsUrl(options.nats)}`,
        `  HTTP   http://${options.httpHost}:${plane.httpPort}  (/readyz, /metrics)`,
        `  Inspector  http://${options.httpHost}:${plane.httpPort}/  (the live state chart)`,
        '',
        'Submit the sample workload:',
        `  redis-cli -p ${redisPort} LPUSH ${plane.keys.queue} '{"id":"test-1","type":"trusted","image":"alpine","cmd":["echo","hello"]}'`,
        'Watch it (in another terminal):',
        `  npx leasehold watch --nats ${redactNatsUrl(options.nats)}`,
        '',
        'Ctrl-C stops the control plane and the servers it started.',
        '',
      ].join('\n'),
    );
    await runUntilSignalled(plane, async () => {
      for (const server of owned) await server.stop();
    });
    log.flush();
  });
}
