import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Clock } from '../clock.js';
import type { Keys } from '../keys.js';
import type { Logger } from '../log.js';
import { defineScripts, loadLua, type ScriptCommand } from '../lua.js';
import { loadFencedLua } from '../ownership/fencing.js';
import type { ShardGrant } from '../ownership/ownership.js';
import type { RefusalKind, WorkloadSpec } from '../spec/index.js';
import { parseBatch } from './parse-batch.js';

const SCRIPTS = {
  leaseholdMoveBatch: { numberOfKeys: 3, lua: loadLua(import.meta.url, 'move-batch.lua') },
  leaseholdRecord: { lua: loadFencedLua(import.meta.url, 'record.lua') },
  leaseholdSettle: { numberOfKeys: 2, lua: loadLua(import.meta.url, 'settle.lua') },
  leaseholdAdopt: { numberOfKeys: 3, lua: loadLua(import.meta.url, 'adopt.lua') },
};

/** What record.lua answers per entry. */
const RECORDED_FOR_ME = 1;
const RECORDED_IN_INBOX = 2;
const ALREADY_RECORDED = 3;

/**
 * What `{workload_queue}:dead` holds, one JSON object per refused entry, each at most
 * `DEAD_LETTER_MAX_BYTES`: the list is bounded in bytes by `maxDeadLetters` times that.
 */
export interface DeadLetter {
  /** The entry as pushed, or its first bytes when `bytes` is set. */
  readonly raw: string;
  readonly reason: string;
  readonly at: string;
  /** The entry's full size in bytes; present only when `raw` holds just its head. */
  readonly bytes?: number;
}

/** An oversized entry's dead letter keeps this many leading bytes: enough to tell whose it was. */
export const OVERSIZED_HEAD_BYTES = 256;
/** `raw` and `reason` of any dead letter, JSON-encoded, stay within these. */
const RAW_MAX_BYTES = 2_048;
const REASON_MAX_BYTES = 1_024;
/** The most one dead letter takes in Redis (its value; Redis adds a few dozen bytes per element). */
export const DEAD_LETTER_MAX_BYTES = 4_096;

/** A dead letter as the sink sees it, with its kind for metrics (not written to Redis). */
export interface Refusal extends DeadLetter {
  readonly kind: RefusalKind;
}

export interface IntakeOptions {
  /** This replica's id: names its processing list; a restart under the same id recovers it. */
  readonly consumer: string;
  /** How often to look for processing lists left by replicas that died (ms). */
  readonly adoptEveryMs?: number;
  readonly batch: number;
  readonly blockTimeoutSeconds: number;
  readonly maxPayloadBytes: number;
  /** The dead-letter list keeps at most this many, newest last: at most this × `DEAD_LETTER_MAX_BYTES`. */
  readonly maxDeadLetters: number;
}

/** A workload as recorded: its spec, and the nonce of this run of its id (see HeartbeatTokens). */
export interface AcceptedWorkload {
  readonly spec: WorkloadSpec;
  readonly run: string;
}

/** What intake needs to know about shard ownership (a part of the ShardOwnership port). */
export interface IntakeOwnership {
  epochOf(shard: number): number | undefined;
  /** The ids of the live replicas. */
  members(): Promise<string[]>;
}

export interface IntakeSink {
  /**
   * Workloads recorded durably into a shard this replica owns under `grant`, in queue order;
   * duplicates and invalid entries never reach here. Handed over in-process: no inbox round trip.
   */
  accepted(workloads: AcceptedWorkload[], grant: ShardGrant): void;
  /** Workloads were recorded into the inboxes of these shards, owned by other replicas (or nobody yet). */
  recordedElsewhere(shards: number[]): void;
  rejected(refusals: Refusal[]): void;
  /** How many more workloads the supervisor can hold now; 0 pauses intake until `resume()`. */
  capacity(): number;
}

/**
 * Reliable consumption of `workload_queue`, shared by every replica. Entries move atomically to
 * this replica's processing list (`move-batch.lua`, which dead-letters oversized entries without
 * sending them here), are validated here, and are recorded into their shards (`record.lua`, one
 * call per shard, handing them in-process to this replica where it owns the shard and through the
 * shard's inbox otherwise); then the dead letters are written and the processing list cleared
 * (`settle.lua`). An empty queue is waited on with a blocking `BLMOVE` of the queue onto itself,
 * a wake-up that moves nothing.
 */
export class Intake {
  private stopped = true;
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  /**
   * Set after anything went wrong between a move and its record: the processing list may then
   * hold entries that the next batch's record would otherwise clear unrecorded.
   */
  private needsRecovery = false;

  constructor(
    /** A connection of its own: a blocking BLMOVE must not hold up other commands. */
    private readonly blocking: Redis,
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly options: IntakeOptions,
    private readonly sink: IntakeSink,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly ownership: IntakeOwnership,
  ) {
    this.scripts = defineScripts(redis, SCRIPTS);
  }

  private readonly scripts: Record<keyof typeof SCRIPTS, ScriptCommand>;
  private lastAdoption = -Infinity;

  get processingKey(): string {
    return this.keys.processing(this.options.consumer);
  }

  get isRunning(): boolean {
    return !this.stopped;
  }

  async start(): Promise<void> {
    this.stopped = false;
    await this.redis.sadd(this.keys.consumers, this.options.consumer);
    await this.recover();
    this.loop = this.run();
  }

  /** Stops taking new entries. An entry popped but not yet recorded stays in the processing list. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    // Unblocks a pending BLMOVE at once; whatever it moved is still in the processing list.
    this.blocking.disconnect();
    await this.loop;
  }

  /** Called by the supervisor when capacity frees up after intake paused. */
  resume(): void {
    this.wake?.();
  }

  private async recover(): Promise<void> {
    const left = await this.redis.lrange(this.processingKey, 0, -1);
    if (left.length > 0) {
      this.log.warn({ count: left.length }, 'recovering entries a previous run popped but did not record');
      // LPUSH put the newest at the head; process oldest first.
      await this.record(left.reverse(), true);
    }
  }

  /**
   * Takes over the processing lists of replicas that died (their membership expired) and
   * records what they held. A replica restarted under a new id (a new Pod name) leaves its list
   * behind; without this, what it popped and had not recorded would wait forever.
   */
  private async adoptDeadLists(): Promise<void> {
    const now = this.clock.now();
    if (now - this.lastAdoption < (this.options.adoptEveryMs ?? 5_000)) return;
    this.lastAdoption = now;
    const [consumers, members] = await Promise.all([this.redis.smembers(this.keys.consumers), this.ownership.members()]);
    const live = new Set(members);
    let moved = 0;
    for (const consumer of consumers) {
      if (consumer === this.options.consumer || live.has(consumer)) continue;
      moved += Number(await this.scripts.leaseholdAdopt(this.keys.processing(consumer), this.processingKey, this.keys.consumers, consumer));
    }
    if (moved > 0) {
      this.log.warn({ count: moved }, 'recording entries a dead replica popped but did not record');
      await this.recover();
    }
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        if (this.needsRecovery) {
          await this.recover();
          this.needsRecovery = false;
        }
        await this.adoptDeadLists();
        const room = this.sink.capacity();
        if (room <= 0) {
          await new Promise<void>((resolve) => (this.wake = resolve));
          this.wake = null;
          continue;
        }
        const [entries, oversized] = (await this.scripts.leaseholdMoveBatch(
          this.keys.queue,
          this.processingKey,
          this.keys.dead,
          Math.min(room, this.options.batch),
          this.options.maxPayloadBytes,
          new Date(this.clock.now()).toISOString(),
          this.options.maxDeadLetters,
          OVERSIZED_HEAD_BYTES,
        )) as [string[], string[]];
        if (oversized.length > 0) this.sink.rejected(oversized.map(oversizedRefusal));
        if (entries.length > 0) await this.record(entries);
        else if (oversized.length === 0) await this.waitForEntries();
      } catch (error) {
        if (this.stopped) break;
        this.needsRecovery = true;
        this.log.error({ err: error }, 'intake failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  }

  /**
   * Blocks until the queue holds something, or the timeout passes. `BLMOVE` of the queue's tail
   * onto its own tail changes nothing; its reply is read as a Buffer and dropped, so an entry of
   * any size is never decoded here (`move-batch.lua` judges it next). Guarded by a watchdog:
   * after a reconnect, ioredis can leave a blocking command unanswered forever, so a reply that
   * is overdue resets the connection.
   */
  private async waitForEntries(): Promise<void> {
    const timeoutS = this.options.blockTimeoutSeconds;
    let watchdog: NodeJS.Timeout | undefined;
    const overdue = new Promise<'overdue'>((resolve) => {
      watchdog = setTimeout(() => resolve('overdue'), timeoutS * 1000 + 2_000);
    });
    try {
      const reply = await Promise.race([this.blocking.blmoveBuffer(this.keys.queue, this.keys.queue, 'RIGHT', 'RIGHT', timeoutS), overdue]);
      if (reply === 'overdue') {
        this.log.warn('blocking read overdue; resetting the intake connection');
        this.blocking.disconnect(true);
      }
    } catch (error) {
      if (!this.stopped) throw error;
    } finally {
      clearTimeout(watchdog);
    }
  }

  /**
   * Records a batch: per shard, one script in the shard's slot (record.lua), then one in the
   * queue's slot that writes the dead letters and clears the processing list (settle.lua). A
   * crash in between leaves the batch in the processing list, and its replay (`replay`) skips
   * what was already recorded instead of calling it a duplicate.
   */
  private async record(entries: string[], replay = false): Promise<void> {
    const at = new Date(this.clock.now()).toISOString();
    const byShard = new Map<number, { spec: WorkloadSpec; run: string; ifDuplicate: Refusal }[]>();
    const invalid: Refusal[] = [];
    const parsedBatch = await parseBatch(entries, this.options.maxPayloadBytes);
    // A new nonce per accepted entry: a resubmitted id is a new run, whose tokens are new. One
    // draw of random bytes for the whole batch, not one call into the CSPRNG per entry.
    const nonces = randomBytes(16 * parsedBatch.length);
    let index = 0;
    const duplicates: Refusal[] = [];
    // A second copy of an id in the same batch is refused here, not by record.lua: replaying a
    // batch (after a crash before its settle), record.lua answers "already recorded" for every
    // copy alike, and the copy's dead letter was lost.
    const ids = new Set<string>();
    for (const { raw, parsed } of parsedBatch) {
      const nonce = nonces.subarray(16 * index, 16 * ++index);
      if (parsed.ok && ids.has(parsed.spec.id)) {
        duplicates.push({ raw, reason: `duplicate id ${parsed.spec.id}`, at, kind: 'duplicate' });
      } else if (parsed.ok) {
        ids.add(parsed.spec.id);
        const shard = this.keys.shardOf(parsed.spec.id);
        let list = byShard.get(shard);
        if (!list) byShard.set(shard, (list = []));
        list.push({
          spec: parsed.spec,
          run: nonce.toString('base64url'),
          ifDuplicate: { raw, reason: `duplicate id ${parsed.spec.id}`, at, kind: 'duplicate' },
        });
      } else {
        invalid.push({ raw, reason: parsed.reason, at, kind: parsed.kind });
      }
    }
    const handed: { workloads: AcceptedWorkload[]; grant: ShardGrant }[] = [];
    const elsewhere: number[] = [];
    const recorded = await Promise.allSettled(
      [...byShard].map(async ([shard, valid]) => {
        const epoch = this.ownership.epochOf(shard) ?? 0;
        const keys = this.keys.shard(shard);
        const flags = (await this.scripts.leaseholdRecord(
          3 + valid.length,
          keys.owner,
          keys.active,
          keys.inbox,
          ...valid.map(({ spec }) => this.keys.workload(spec.id)),
          this.options.consumer,
          epoch,
          replay ? 1 : 0,
          ...valid.flatMap(({ spec, run }) => [spec.id, JSON.stringify(spec), run]),
        )) as number[];
        const mine = valid.filter((_, i) => flags[i] === RECORDED_FOR_ME).map(({ spec, run }) => ({ spec, run }));
        if (mine.length > 0) handed.push({ workloads: mine, grant: { shard, epoch } });
        if (flags.includes(RECORDED_IN_INBOX)) elsewhere.push(shard);
        valid.forEach((entry, i) => {
          if (flags[i] !== RECORDED_FOR_ME && flags[i] !== RECORDED_IN_INBOX && flags[i] !== ALREADY_RECORDED) duplicates.push(entry.ifDuplicate);
        });
      }),
    );
    // Recorded is durable: the workloads go to work now, not a round trip later. Should a
    // shard's record or the settle below fail, the replay of the processing list finds these
    // recorded and skips them, so they are handed over here or never.
    for (const { workloads, grant } of handed) this.sink.accepted(workloads, grant);
    if (elsewhere.length > 0) this.sink.recordedElsewhere(elsewhere);
    const failed = recorded.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failed) throw failed.reason;
    const refused = [...invalid, ...duplicates];
    await this.scripts.leaseholdSettle(this.processingKey, this.keys.dead, this.options.maxDeadLetters, ...refused.map(deadLetterJson));
    if (refused.length > 0) this.sink.rejected(refused);
  }
}

/**
 * The dead-letter list holds `{raw, reason, at, bytes?}`, cut to fit `DEAD_LETTER_MAX_BYTES`
 * (a 60 KiB entry under the payload limit, or a reason listing a thousand unknown keys, would
 * otherwise be kept whole); the kind is only for this process's metrics.
 */
function deadLetterJson({ raw, reason, at }: Refusal): string {
  const head = jsonPrefix(raw, RAW_MAX_BYTES);
  const letter: DeadLetter = { raw: head, reason: jsonPrefix(reason, REASON_MAX_BYTES), at };
  return JSON.stringify(head.length < raw.length ? { ...letter, bytes: Buffer.byteLength(raw) } : letter);
}

/**
 * The longest prefix of `text` whose JSON encoding fits in `maxBytes`: escapes (`\u0001` is six
 * bytes for one) and multi-byte characters count at their encoded size.
 */
function jsonPrefix(text: string, maxBytes: number): string {
  const fits = (n: number) => Buffer.byteLength(JSON.stringify(text.slice(0, n))) <= maxBytes;
  if (fits(text.length)) return text;
  // Every character takes at least one byte, so the answer is below maxBytes characters.
  let low = 0;
  let high = Math.min(text.length, maxBytes);
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (fits(mid)) low = mid;
    else high = mid - 1;
  }
  return text.slice(0, low);
}

/** A dead letter `move-batch.lua` wrote, as the sink sees it. */
function oversizedRefusal(json: string): Refusal {
  return { ...(JSON.parse(json) as DeadLetter), kind: 'oversized' };
}
