import { DiscardPolicy, StorageType, jetstream, jetstreamManager, type StreamConfig } from '@nats-io/jetstream';
import { nanos, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '../log.js';
import { parseTransition } from './messages.js';
import { SUBJECTS, type Subjects, type TransitionMessage } from './transition.js';

/**
 * The JetStream stream that keeps what the default installation published on `workloads.>`; a
 * named installation keeps its own (`Subjects.historyStream`), on its own subjects, so that two
 * installations on one NATS neither share nor overwrite each other's stream.
 */
export const HISTORY_STREAM = SUBJECTS.historyStream;

/** How much history to keep: whichever bound is reached first drops the oldest transitions. */
export interface HistoryLimits {
  readonly maxAgeSeconds: number;
  /** Without it a flood of workloads fills the server's disk before any transition is old enough to go. */
  readonly maxBytes: number;
}

/**
 * Keeps transitions for `maxAgeSeconds`, and at most `maxBytes` of them, in a JetStream stream,
 * so that a watcher or an inspector that starts late can replay them. Publishing stays core NATS:
 * the stream captures the subjects, and a NATS server without JetStream only costs us the
 * history, never a transition.
 */
export async function keepTransitionHistory(nc: NatsConnection, limits: HistoryLimits, log: Logger, subjects: Subjects = SUBJECTS): Promise<boolean> {
  let jsm;
  try {
    jsm = await jetstreamManager(nc);
  } catch (error) {
    log.warn({ err: error }, 'JetStream is not enabled on this NATS server (nats-server -js); transition history is off');
    return false;
  }
  const config: Partial<StreamConfig> & { name: string } = {
    name: subjects.historyStream,
    subjects: [subjects.watch()],
    max_age: nanos(limits.maxAgeSeconds * 1000),
    max_bytes: limits.maxBytes,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
  };
  const exists = await jsm.streams.info(subjects.historyStream).then(
    () => true,
    () => false,
  );
  if (exists) await jsm.streams.update(subjects.historyStream, config);
  else await jsm.streams.add(config);
  return true;
}

/**
 * Hands every kept transition on `subject` (oldest first) to `onMessage`, then returns how many
 * there were. Null when there is no history to read (no JetStream, or no control plane of this
 * installation ever ran with `--history`).
 */
export async function replayTransitions(
  nc: NatsConnection,
  subject: string,
  onMessage: (message: TransitionMessage) => void,
  subjects: Subjects = SUBJECTS,
): Promise<number | null> {
  let consumer;
  try {
    consumer = await jetstream(nc).consumers.get(subjects.historyStream, { filter_subjects: subject });
  } catch {
    return null;
  }
  let pending = (await consumer.info()).num_pending;
  let replayed = 0;
  while (pending > 0) {
    const batch = await consumer.fetch({ max_messages: Math.min(pending, 1_000), expires: 2_000 });
    let got = 0;
    for await (const message of batch) {
      // Junk in the stream (published before permissions were tightened) is skipped, not fatal.
      const transition = parseTransition(message.data, message.subject, subjects);
      if (transition) onMessage(transition);
      got++;
    }
    if (got === 0) break; // expired (a stream trimmed under us): what came is what there is
    pending -= got;
    replayed += got;
  }
  return replayed;
}
