import { connect, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import type { TransitionMessage } from '../../src/events/transition.js';

/** Records every transition published on NATS, and waits for the ones a test expects. */
export class TransitionRecorder {
  readonly messages: TransitionMessage[] = [];
  private waiters: { check: () => boolean; resolve: () => void }[] = [];

  private constructor(
    readonly nc: NatsConnection,
    private readonly subscription: Subscription,
  ) {}

  static async start(natsUrl: string, subject = 'workloads.>'): Promise<TransitionRecorder> {
    const nc = await connect({ servers: natsUrl });
    let recorder: TransitionRecorder | null = null;
    const subscription = nc.subscribe(subject, {
      callback: (error, msg) => {
        if (error || !recorder) return;
        recorder.messages.push(msg.json<TransitionMessage>());
        recorder.waiters = recorder.waiters.filter((w) => (w.check() ? (w.resolve(), false) : true));
      },
    });
    recorder = new TransitionRecorder(nc, subscription);
    await nc.flush();
    return recorder;
  }

  of(id: string): TransitionMessage[] {
    return this.messages.filter((m) => m.id === id);
  }

  ended(id: string): TransitionMessage | undefined {
    return this.messages.find((m) => m.id === id && m.to === 'tornDown');
  }

  /** Resolves when `check` holds; rejects with what was seen if it does not within `timeoutMs`. */
  async until(check: () => boolean, timeoutMs = 15_000, what = 'condition'): Promise<void> {
    if (check()) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`timed out waiting for ${what}; saw:\n${this.messages.map((m) => `${m.id} ${m.from}→${m.to} ${m.reason ?? ''}`).join('\n')}`));
      }, timeoutMs);
      this.waiters.push({
        check,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  async untilEnded(ids: string[], timeoutMs?: number): Promise<void> {
    try {
      await this.until(() => ids.every((id) => this.ended(id)), timeoutMs, `tornDown of ${ids.length} workload(s)`);
    } catch {
      // Say which did not end and where each was last seen, not every message of every workload.
      const missing = ids.filter((id) => !this.ended(id));
      const last = missing.map((id) => {
        const m = this.of(id).at(-1);
        return m ? `${id}: last ${m.from}→${m.to} seq ${m.seq} epoch ${m.epoch ?? '?'}` : `${id}: nothing seen`;
      });
      throw new Error(`timed out waiting for tornDown: ${missing.length} of ${ids.length} did not end:\n${last.slice(0, 50).join('\n')}`);
    }
  }

  async close(): Promise<void> {
    this.subscription.unsubscribe();
    await this.nc.close();
  }
}
