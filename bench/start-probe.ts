/**
 * One session timed from the outside, as an agent would feel it: LPUSH, `running` heard on NATS,
 * then an exec of `echo hi` through the project's client until its first stdout byte.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import type { Redis } from 'ioredis';
import type { Leasehold } from '../src/client/index.js';
import type { TransitionMessage } from '../src/events/transition.js';

/** When each workload was heard `running` and `tornDown` (performance.now()), and promises for both. */
export class TransitionClock {
  private readonly runningAt = new Map<string, number>();
  private readonly ended = new Map<string, string>();
  private readonly waiters = new Set<() => void>();

  private constructor(private readonly unsubscribe: () => void) {}

  static async start(nc: NatsConnection): Promise<TransitionClock> {
    let clock!: TransitionClock;
    const subscription = nc.subscribe('workloads.>', {
      callback: (error, msg) => {
        if (error) return;
        const m = msg.json<TransitionMessage>();
        if (m.to === 'running') clock.runningAt.set(m.id, performance.now());
        else if (m.to === 'tornDown') clock.ended.set(m.id, m.reason ?? 'tornDown');
        else return;
        for (const wake of clock.waiters) wake();
      },
    });
    clock = new TransitionClock(() => subscription.unsubscribe());
    await nc.flush();
    return clock;
  }

  /** When `id` was heard running; rejects when it ended first or `timeoutMs` passed. */
  running(id: string, timeoutMs: number): Promise<number> {
    return this.until(
      () => this.runningAt.get(id) ?? (this.ended.has(id) ? new Error(`${id} ended (${this.ended.get(id)}) before running`) : undefined),
      timeoutMs,
      () => `${id} not running within ${Math.round(timeoutMs / 1000)} s`,
    );
  }

  /** Resolves when every one of `ids` is torn down (cleaning up before the control plane stops). */
  async tornDown(ids: readonly string[], timeoutMs: number): Promise<void> {
    await this.until(
      () => (ids.every((id) => this.ended.has(id)) ? true : undefined),
      timeoutMs,
      () => `${ids.filter((id) => !this.ended.has(id)).length} of ${ids.length} workloads not torn down within ${Math.round(timeoutMs / 1000)} s`,
    );
  }

  close(): void {
    this.unsubscribe();
    for (const wake of this.waiters) wake();
  }

  private until<T>(check: () => T | Error | undefined, timeoutMs: number, why: () => string): Promise<T> {
    return new Promise((resolve, reject) => {
      const settle = () => {
        const outcome = check();
        if (outcome === undefined) return;
        done();
        if (outcome instanceof Error) reject(outcome);
        else resolve(outcome);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(why()));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(settle);
      };
      this.waiters.add(settle);
      settle();
    });
  }
}

export interface SessionTimes {
  /** LPUSH → `running` on NATS. */
  readonly running: number;
  /** LPUSH → the first stdout byte of `echo hi`. */
  readonly firstByte: number;
  /** Exec asked → its first stdout byte. */
  readonly execFirstByte: number;
}

export interface ProbeTarget {
  readonly redis: Redis;
  readonly queue: string;
  readonly lh: Leasehold;
  readonly clock: TransitionClock;
}

/** The payload of a bench session: a match for the bench's pool template (untrusted, alpine, no resources). */
export const sessionPayload = (id: string) => JSON.stringify({ id, type: 'untrusted', image: 'alpine', leaseSeconds: 60 });

/** Submits session `id`, times it to running and to the first byte of an exec; the caller cancels it. */
export async function probeSession(target: ProbeTarget, id: string, timeoutMs: number): Promise<SessionTimes> {
  const running = target.clock.running(id, timeoutMs);
  const submitted = performance.now();
  await target.redis.lpush(target.queue, sessionPayload(id));
  const runningAt = await running;
  const execAsked = performance.now();
  let firstByteAt: number | undefined;
  let output = '';
  const run = target.lh.exec(id, ['echo', 'hi'], {
    timeoutMs,
    onStdout: (chunk) => {
      firstByteAt ??= performance.now();
      output += Buffer.from(chunk).toString();
    },
  });
  const result = await run.result;
  // A figure from an exec that did not do its job would flatter the runtime.
  if (result.exitCode !== 0 || output !== 'hi\n' || firstByteAt === undefined) {
    throw new Error(`${id}: echo hi gave ${JSON.stringify(output)} and ${JSON.stringify(result)}`);
  }
  return { running: runningAt - submitted, firstByte: firstByteAt - submitted, execFirstByte: firstByteAt - execAsked };
}

/** Exec asked → exit result, `rounds` times in a row on running session `id`, after a few unmeasured ones. */
export async function execRoundTrips(lh: Leasehold, id: string, rounds: number): Promise<number[]> {
  const once = async () => {
    const started = performance.now();
    const result = await lh.exec(id, ['true']).result;
    if (result.exitCode !== 0) throw new Error(`${id}: true exited with ${JSON.stringify(result)}`);
    return performance.now() - started;
  };
  for (let i = 0; i < 10; i++) await once(); // connections and code paths warmed, as in an agent's tenth command
  const samples: number[] = [];
  for (let i = 0; i < rounds; i++) samples.push(await once());
  return samples;
}
