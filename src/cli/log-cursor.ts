import type { NatsConnection } from '@nats-io/transport-node';
import { SUBJECTS, type Subjects } from '../events/transition.js';
import { newOutput } from './log-tail.js';
import { fetchLogsFrom } from './workload-logs.js';

/** What one read of a followed workload's output brought. */
export interface LogPiece {
  /** What was not printed before: each byte of the output once, in order. */
  readonly text: string;
  /**
   * Bytes of output the control plane no longer held when asked (it keeps a tail per workload):
   * between the last read and this one, or before the first. Said, never silently lost.
   */
  readonly missed: number;
  /** The first read: it starts at the beginning of what is kept. */
  readonly first: boolean;
}

/**
 * Where a follower is in a workload's output. It asks for the output from a byte offset on
 * (`{"from": N}`) and moves to the answer's `end`, so nothing is printed twice or skipped, however
 * fast the output grows and however often a line repeats. A control plane that answers without
 * offsets (an older version, or a runtime that keeps none) is followed by comparing tails, as
 * before (log-tail.ts `newOutput`), which repeated output can fool.
 */
export class LogCursor {
  /** The offset of the next byte to print, once the control plane has answered with offsets. */
  private next: number | null = null;
  /** The last tail read from a control plane without offsets. */
  private shown: string | null = null;

  constructor(
    private readonly nc: NatsConnection,
    private readonly id: string,
    private readonly subjects: Subjects = SUBJECTS,
  ) {}

  /** Null when the control plane has no output for it (yet: before it runs; or not at all). */
  async read(): Promise<LogPiece | null> {
    const first = this.next === null && this.shown === null;
    // From 0 until offsets are known: the answer is then all that is kept, whichever version answers.
    const reply = await fetchLogsFrom(this.nc, this.id, this.next ?? 0, this.subjects);
    if (reply.logs === null) return null;
    if (reply.start !== undefined && reply.end !== undefined) {
      if (this.shown !== null) return this.switchToOffsets(reply.logs, reply.end);
      const from = this.next ?? 0;
      // An end before where we are: the output began again (a new run of the workload), so all of it is new.
      const restarted = reply.end < from;
      this.next = reply.end;
      return { text: reply.logs, missed: restarted ? reply.start : Math.max(0, reply.start - from), first };
    }
    // No offsets in this answer. Once the offsets are known, a tail cannot be placed: wait for an answer that has them.
    if (this.next !== null) return { text: '', missed: 0, first };
    const text = this.shown === null ? reply.logs : newOutput(this.shown, reply.logs);
    this.shown = reply.logs;
    return { text, missed: 0, first };
  }

  /**
   * A replica that keeps offsets answered after one that did not (an upgrade under way): what is
   * new is found by comparing tails this once; from here on, offsets.
   */
  private switchToOffsets(text: string, end: number): LogPiece {
    const piece = newOutput(this.shown!, text);
    this.shown = null;
    this.next = end;
    return { text: piece, missed: 0, first: false };
  }
}
