/** What the driver sends and hears: payloads onto the queue, transitions off NATS. */
import type { NatsConnection } from '@nats-io/transport-node';
import type { Redis } from 'ioredis';
import type { TransitionMessage } from '../src/events/transition.js';

export const payload = (id: string, extra: Record<string, unknown> = {}) => JSON.stringify({ id, type: 'trusted', image: 'alpine', cmd: ['true'], ...extra });

export async function pushAll(redis: Redis, queue: string, payloads: string[]): Promise<void> {
  const pipeline = redis.pipeline();
  for (let i = 0; i < payloads.length; i += 1000) pipeline.lpush(queue, ...payloads.slice(i, i + 1000));
  await pipeline.exec();
}

export function subscribeCounting(nc: NatsConnection, subject: string, onMessage: (m: TransitionMessage) => void): () => void {
  const sub = nc.subscribe(subject, {
    callback: (error, msg) => {
      if (!error) onMessage(msg.json<TransitionMessage>());
    },
  });
  return () => sub.unsubscribe();
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A promise with its resolve function outside, for "when the Nth message arrives". */
export function signal(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** The promise, or an error naming what never happened: a stuck benchmark says so instead of hanging. */
export async function within<T>(promise: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what()} within ${Math.round(ms / 1000)} s`)), ms)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
