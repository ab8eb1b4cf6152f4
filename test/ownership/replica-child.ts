/**
 * A replica in a process of its own, so a test can kill -9 or SIGSTOP it for real. It reports
 * every callback as a JSON line on stdout, and plays a stale actor: every 50 ms it writes to the
 * probe key of every shard it was ever granted, with that grant's epoch, without asking whether
 * it still owns the shard (as a write already in flight when a pause hit would), reporting
 * whether Redis accepted it and what `epochOf` said at that moment.
 *
 * argv[2]: JSON `{ url, prefix, id, ttlMs }`.
 */
import { Redis } from 'ioredis';
import { FencedError } from '../../src/ownership/fencing.js';
import { RedisOwnership } from '../../src/ownership/redis-ownership.js';
import { probeWrite } from './probe.js';

const { url, prefix, id, ttlMs } = JSON.parse(process.argv[2]!) as { url: string; prefix: string; id: string; ttlMs: number };
const say = (line: object) => process.stdout.write(`${JSON.stringify(line)}\n`);
const redis = new Redis(url, { maxRetriesPerRequest: 2 });
const granted = new Map<number, number>();
const ownership = new RedisOwnership(
  redis,
  {
    async onAcquired({ shard, epoch }) {
      granted.set(shard, epoch);
      say({ event: 'acquired', shard, epoch });
    },
    async onReleasing({ shard, epoch }) {
      granted.delete(shard);
      say({ event: 'releasing', shard, epoch });
    },
    onLost({ shard, epoch }, reason) {
      say({ event: 'lost', shard, epoch, reason });
    },
  },
  { replicaId: id, prefix, ttlMs, pollMs: 100 },
);

let round = 0;
async function writeAsStaleActor(): Promise<void> {
  round++;
  await Promise.all(
    [...granted].map(async ([shard, epoch]) => {
      const believed = ownership.epochOf(shard);
      try {
        await probeWrite(redis, prefix, shard, id, epoch, `${id}:${epoch}:${round}`);
        say({ event: 'write', shard, epoch, round, believed, outcome: 'accepted' });
      } catch (error) {
        say({ event: 'write', shard, epoch, round, believed, outcome: error instanceof FencedError ? 'fenced' : String(error) });
      }
    }),
  );
  setTimeout(() => void writeAsStaleActor(), 50);
}

await ownership.start();
say({ event: 'started' });
void writeAsStaleActor();
process.on('SIGTERM', () => {
  void ownership.stop({ release: true }).then(() => {
    redis.disconnect();
    process.exit(0);
  });
});
