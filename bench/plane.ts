/**
 * The control plane under benchmark, in a process of its own (as BullMQ's worker and the ceiling
 * loop are), on the instant runtime. Driven over IPC by bench/main.ts.
 */
import { getHeapSpaceStatistics, writeHeapSnapshot } from 'node:v8';
import { startControlPlane } from '../src/app.js';
import { DEFAULT_CONFIG, type ControlPlaneConfig } from '../src/config.js';
import { createLogger } from '../src/log.js';
import { InstantRuntime } from '../src/runtime/instant/instant-runtime.js';

const { realProcesses, ...overrides } = JSON.parse(process.argv[2] ?? '{}') as Partial<ControlPlaneConfig> & { realProcesses?: boolean };
const runtime = new InstantRuntime();
const config = { ...DEFAULT_CONFIG, httpPort: 0, ...overrides };
const log = createLogger({ level: 'error' });
// --real-processes: the product's process runtime, each workload a real child process; the
// kubernetes scenario: the product's Kubernetes runtime (against the fake API server).
const ownRuntimes = realProcesses || config.runtime === 'kubernetes';
const plane = await startControlPlane(config, ownRuntimes ? { log } : { log, runtimes: { trusted: runtime, untrusted: runtime } });

process.on('message', (message: { type: string }) => {
  if (message.type === 'memory') {
    globalThis.gc?.();
    globalThis.gc?.();
    const usage = process.memoryUsage();
    // LEASEHOLD_BENCH_HEAP=dir: a heap snapshot at each measurement, for scripts/heap-summary.mjs.
    const heapDir = process.env.LEASEHOLD_BENCH_HEAP;
    if (heapDir && plane.supervisor.size > 0) writeHeapSnapshot(`${heapDir}/plane-${process.pid}-${plane.supervisor.size}.heapsnapshot`);
    process.send!({ type: 'memory', rss: usage.rss, heapUsed: usage.heapUsed, heapTotal: usage.heapTotal, external: usage.external, live: plane.supervisor.size, spaces: heapSpaces() });
  } else if (message.type === 'stop') {
    void plane.stop().then(() => process.exit(0));
  }
});
// A driver that died (Ctrl-C, a failed scenario) takes its control planes with it.
process.on('disconnect', () => process.exit(1));
process.send!({ type: 'ready' });

/** Per V8 heap space, MiB held and MiB used: where a gap between RSS and live heap sits. */
function heapSpaces(): Record<string, [number, number]> {
  const mib = (bytes: number) => Math.round(bytes / 2 ** 20);
  return Object.fromEntries(getHeapSpaceStatistics().filter((s) => s.space_size > 2 ** 20).map((s) => [s.space_name, [mib(s.space_size), mib(s.space_used_size)]]));
}
