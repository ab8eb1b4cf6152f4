/**
 * The comparisons, each in a process of its own: BullMQ's worker with a no-op processor, and the
 * bare-Redis ceiling (reliable batched pop and acknowledge, nothing else).
 *
 * Several BullMQ workers may share one queue (`--replicas N` runs N of them, as N Leasehold
 * replicas): none of them knows when the whole queue is done, so each reports its completions
 * every few milliseconds (`progress`) and the driver adds them up.
 */
import { Redis } from 'ioredis';
import { Worker } from 'bullmq';

const [mode, redisUrl, queue, countText] = process.argv.slice(2);
/** The ceiling's jobs to take; a BullMQ worker takes whatever its share turns out to be. */
const count = Number(countText);
// A driver that died (Ctrl-C, a failed scenario) takes its workers with it.
process.on('disconnect', () => process.exit(1));

if (mode === 'bullmq') {
  const connection = new Redis(redisUrl!, { maxRetriesPerRequest: null });
  let done = 0;
  const worker = new Worker(queue!, async () => undefined, {
    connection,
    concurrency: 200,
    removeOnComplete: { count: 0 },
    autorun: true,
  });
  let reported = 0;
  worker.on('completed', () => void done++);
  // One IPC message per 10 ms, not per job: the report must not cost the worker what it measures.
  const reporter = setInterval(() => {
    if (done === reported) return;
    reported = done;
    process.send!({ type: 'progress', done });
  }, 10);
  await worker.waitUntilReady();
  process.send!({ type: 'ready' });
  process.on('message', (m: { type: string }) => {
    if (m.type !== 'stop') return;
    clearInterval(reporter);
    void worker.close().then(() => connection.quit()).then(() => process.exit(0));
  });
} else if (mode === 'ceiling') {
  // The least a reliable consumer can do: move a batch to a processing list atomically, then
  // acknowledge it by deleting that list. 1,000 per round trip, two round trips per batch.
  const redis = new Redis(redisUrl!);
  const MOVE = "local items = redis.call('RPOP', KEYS[1], ARGV[1]) if not items then return {} end redis.call('LPUSH', KEYS[2], unpack(items)) return items";
  process.send!({ type: 'ready' });
  let done = 0;
  while (done < count) {
    const items = (await redis.eval(MOVE, 2, queue!, `${queue}:processing`, 1000)) as string[];
    if (items.length === 0) {
      await new Promise((resolve) => setImmediate(resolve));
      continue;
    }
    for (const item of items) JSON.parse(item);
    await redis.del(`${queue}:processing`);
    done += items.length;
  }
  process.send!({ type: 'done' });
  await redis.quit();
  process.exit(0);
}
