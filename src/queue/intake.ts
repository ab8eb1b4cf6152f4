import type { Redis } from 'ioredis';
import type { Clock } from '../clock.js';
import type { Keys } from '../keys.js';
import type { Logger } from '../log.js';
import { loadLua } from '../lua.js';
import { parseSubmission, type RefusalKind, type WorkloadSpec } from '../spec/index.js';

const MOVE_BATCH = loadLua(import.meta.url, 'move-batch.lua');
const RECORD = loadLua(import.meta.url, 'record.lua');

/** What `workload_queue:dead` holds, one JSON object per refused entry. */
export interface DeadLetter {
  readonly raw: string;
  readonly reason: string;
  readonly at: string;
}

/** A dead letter as the sink sees it, with its kind for metrics (not written to Redis). */
export interface Refusal extends DeadLetter {
  readonly kind: RefusalKind;
}

export interface IntakeOptions {
  /** Names this consumer's processing list; keep it stable across restarts so a restart recovers it. */
  readonly consumer: string;
  readonly batch: number;
  readonly blockTimeoutSeconds: number;
  readonly maxPayloadBytes: number;
  /** The dead-letter list keeps at most this many, newest last. */
  readonly maxDeadLetters: number;
}

export interface IntakeSink {
  /** Workloads recorded durably, in queue order; duplicates and invalid entries never reach here. */
  accepted(specs: WorkloadSpec[]): void;
  rejected(refusals: Refusal[]): void;
  /** How many more workloads the supervisor can hold now; 0 pauses intake until `resume()`. */
  capacity(): number;
}

/**
 * Reliable consumption of `workload_queue`. Entries move atomically to a per-consumer processing
 * list (`move-batch.lua`, or `BLMOVE` when the queue is empty), are validated here, and are
 * recorded — or dead-lettered — with the processing list cleared in one script (`record.lua`).
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
  ) {}

  get processingKey(): string {
    return this.keys.processing(this.options.consumer);
  }

  get isRunning(): boolean {
    return !this.stopped;
  }

  async start(): Promise<void> {
    this.stopped = false;
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
      await this.record(left.reverse());
    }
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        if (this.needsRecovery) {
          await this.recover();
          this.needsRecovery = false;
        }
        const room = this.sink.capacity();
        if (room <= 0) {
          await new Promise<void>((resolve) => (this.wake = resolve));
          this.wake = null;
          continue;
        }
        let entries = (await this.redis.eval(
          MOVE_BATCH,
          2,
          this.keys.queue,
          this.processingKey,
          Math.min(room, this.options.batch),
        )) as string[];
        if (entries.length === 0) {
          const entry = await this.blockingMove();
          entries = entry === null ? [] : [entry];
        }
        if (entries.length > 0) await this.record(entries);
      } catch (error) {
        if (this.stopped) break;
        this.needsRecovery = true;
        this.log.error({ err: error }, 'intake failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  }

  /**
   * BLMOVE with a finite timeout, guarded by a watchdog: after a reconnect, ioredis can leave a
   * blocking command unanswered forever, so a reply that is overdue resets the connection.
   */
  private async blockingMove(): Promise<string | null> {
    const timeoutS = this.options.blockTimeoutSeconds;
    let watchdog: NodeJS.Timeout | undefined;
    const overdue = new Promise<'overdue'>((resolve) => {
      watchdog = setTimeout(() => resolve('overdue'), timeoutS * 1000 + 2_000);
    });
    try {
      const reply = await Promise.race([
        this.blocking.blmove(this.keys.queue, this.processingKey, 'RIGHT', 'LEFT', timeoutS),
        overdue,
      ]);
      if (reply === 'overdue') {
        this.log.warn('blocking read overdue; resetting the intake connection');
        this.blocking.disconnect(true);
        // The server may have moved an entry before the connection went quiet.
        this.needsRecovery = true;
        return null;
      }
      return reply;
    } catch (error) {
      if (this.stopped) return null;
      throw error;
    } finally {
      clearTimeout(watchdog);
    }
  }

  private async record(entries: string[]): Promise<void> {
    const at = new Date(this.clock.now()).toISOString();
    const valid: { spec: WorkloadSpec; ifDuplicate: Refusal }[] = [];
    const invalid: Refusal[] = [];
    for (const raw of entries) {
      const parsed = parseSubmission(raw, this.options.maxPayloadBytes);
      if (parsed.ok) {
        valid.push({ spec: parsed.spec, ifDuplicate: { raw, reason: `duplicate id ${parsed.spec.id}`, at, kind: 'duplicate' } });
      } else {
        invalid.push({ raw, reason: parsed.reason, at, kind: parsed.kind });
      }
    }
    const flags = (await this.redis.eval(
      RECORD,
      3,
      this.processingKey,
      this.keys.dead,
      this.keys.active,
      this.keys.workload(''),
      valid.length,
      this.options.maxDeadLetters,
      ...valid.flatMap(({ spec, ifDuplicate }) => [spec.id, JSON.stringify(spec), deadLetterJson(ifDuplicate)]),
      ...invalid.map(deadLetterJson),
    )) as number[];
    const accepted = valid.filter((_, i) => flags[i] === 1).map((v) => v.spec);
    const duplicates = valid.filter((_, i) => flags[i] !== 1).map((v) => v.ifDuplicate);
    if (accepted.length > 0) this.sink.accepted(accepted);
    if (invalid.length + duplicates.length > 0) this.sink.rejected([...invalid, ...duplicates]);
  }
}

/** The dead-letter list holds `{raw, reason, at}`; the kind is only for this process's metrics. */
function deadLetterJson({ raw, reason, at }: Refusal): string {
  return JSON.stringify({ raw, reason, at } satisfies DeadLetter);
}
