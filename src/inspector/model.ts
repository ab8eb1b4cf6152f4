import { LIFECYCLE_STATES, type LifecycleState, type WorkloadType } from '../../machines/index.js';
import type { TransitionMessage } from '../events/transition.js';

export interface WorkloadView {
  readonly id: string;
  readonly type: WorkloadType;
  state: LifecycleState;
  reason?: string;
  exitCode?: number;
  updatedAt: string;
  /** Replaced, not only appended to: see `apply`. */
  timeline: TransitionMessage[];
}

/** A workload moves through five states; more than this many transitions is not one run's story. */
export const MAX_TIMELINE = 32;

export interface WorkloadQuery {
  readonly q?: string;
  readonly state?: string;
  readonly type?: string;
  readonly offset?: number;
  readonly limit?: number;
}

/**
 * What the inspector shows, built from transition messages alone, so the same model serves the
 * control plane (fed in-process) and `leasehold inspect` (fed from NATS). Counts are kept up to
 * date per message; lists are filtered and paged on the server, so 10,000 workloads never reach
 * the browser at once. Finished workloads beyond `keepFinished` are forgotten, oldest first;
 * unfinished ones past `maxUnfinished` are not taken in, and a timeline keeps its last
 * `MAX_TIMELINE` messages, so a flood of forged messages costs bounded memory.
 */
export class InspectorModel {
  private readonly workloads = new Map<string, WorkloadView>();
  /** Ids of finished workloads, oldest first (a Set keeps insertion order), each once. */
  private readonly finished = new Set<string>();
  /** Per state, per type: bumped on every message, so no key is built for it. */
  private readonly counts = Object.fromEntries(LIFECYCLE_STATES.map((state) => [state, { trusted: 0, untrusted: 0 }])) as Record<
    LifecycleState,
    Record<WorkloadType, number>
  >;
  private readonly listeners = new Set<(message: TransitionMessage) => void>();
  /** Ids whose timeline is kept whole, least recently changed first. */
  private readonly withTimeline = new Set<string>();

  constructor(
    private readonly keepFinished = 10_000,
    private readonly maxUnfinished = 200_000,
    /**
     * Whole timelines are kept for this many workloads, the most recently changed; the others
     * keep their last transition only. 100,000 live workloads kept three messages each, about a
     * tenth of the control plane's memory per workload.
     */
    private readonly maxTimelines = 10_000,
  ) {}

  apply(message: TransitionMessage): void {
    let view = this.workloads.get(message.id);
    if (view && message.seq <= (view.timeline.at(-1)?.seq ?? 0)) return; // a replayed or out-of-order message
    if (!view) {
      if (this.workloads.size - this.finished.size >= this.maxUnfinished) return;
      // A literal of one: an array grown by push() reserves 17 slots, 130 bytes more per view,
      // and most views keep one message (below).
      view = { id: message.id, type: message.type, state: message.to, updatedAt: message.at, timeline: [message] };
      this.workloads.set(message.id, view);
    } else {
      this.bump(view.state, view.type, -1);
      view.timeline.push(message);
      if (view.timeline.length > MAX_TIMELINE) view.timeline.shift();
    }
    view.state = message.to;
    view.updatedAt = message.at;
    if (message.reason) view.reason = message.reason;
    if (message.exitCode !== undefined) view.exitCode = message.exitCode;
    this.withTimeline.delete(message.id);
    this.withTimeline.add(message.id);
    if (this.withTimeline.size > this.maxTimelines) {
      const [oldest] = this.withTimeline;
      this.withTimeline.delete(oldest!);
      const stale = this.workloads.get(oldest!);
      // A new array of one, not a splice, which keeps the grown array's room.
      if (stale && stale.timeline.length > 1) stale.timeline = [stale.timeline.at(-1)!];
    }
    this.bump(view.state, view.type, +1);
    if (message.to === 'tornDown') {
      this.finished.add(message.id);
      for (const oldest of this.finished) {
        if (this.finished.size <= this.keepFinished) break;
        this.forget(oldest);
      }
    } else {
      this.finished.delete(message.id);
    }
    for (const listener of this.listeners) listener(message);
  }

  subscribe(listener: (message: TransitionMessage) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Workloads per state and type: the numbers drawn on the chart. */
  summary(): Record<LifecycleState, { total: number; trusted: number; untrusted: number }> {
    const result = {} as Record<LifecycleState, { total: number; trusted: number; untrusted: number }>;
    for (const state of LIFECYCLE_STATES) {
      const { trusted, untrusted } = this.counts[state];
      result[state] = { total: trusted + untrusted, trusted, untrusted };
    }
    return result;
  }

  list(query: WorkloadQuery): { total: number; items: Omit<WorkloadView, 'timeline'>[] } {
    const q = query.q?.toLowerCase() ?? '';
    const matches: WorkloadView[] = [];
    for (const view of this.workloads.values()) {
      if (query.state && view.state !== query.state) continue;
      if (query.type && view.type !== query.type) continue;
      if (q && !view.id.includes(q)) continue;
      matches.push(view);
    }
    matches.sort((a, b) => (a.updatedAt < b.updatedAt ? 1 : a.updatedAt > b.updatedAt ? -1 : a.id.localeCompare(b.id)));
    const offset = Math.max(0, query.offset ?? 0);
    const limit = Math.min(200, Math.max(1, query.limit ?? 50));
    return {
      total: matches.length,
      items: matches.slice(offset, offset + limit).map(({ timeline: _timeline, ...rest }) => rest),
    };
  }

  get(id: string): WorkloadView | undefined {
    return this.workloads.get(id);
  }

  private forget(id: string): void {
    const view = this.workloads.get(id);
    if (!view) return;
    this.bump(view.state, view.type, -1);
    this.workloads.delete(id);
    this.finished.delete(id);
    this.withTimeline.delete(id);
  }

  private bump(state: LifecycleState, type: WorkloadType, delta: number): void {
    // A forged message may name a state or type that does not exist; it is counted nowhere.
    const byType = this.counts[state] as Record<string, number> | undefined;
    if (byType && Object.hasOwn(byType, type)) byType[type]! += delta;
  }
}
