import type { TransitionMessage } from '../../src/events/transition.js';

export interface ChainOptions {
  /**
   * The epochs under which shards were held when the workloads were submitted. A message under
   * any other epoch comes from an owner that took a shard over (from a replica killed, paused or
   * fenced, which may have persisted transitions it never published), so the first message a
   * subscriber sees of a workload may then have a seq above 1. Without it, every chain must
   * start at 1.
   */
  readonly firstEpochs?: ReadonlySet<number>;
}

/**
 * Checks what subscribers saw on NATS, per workload, in arrival order: `seq` strictly rising,
 * each `from` the previous `to`, no (id, seq) twice, at most one `provisioning` (exactly one when
 * nothing was skipped), exactly one end. Returns every violation found (empty when all is well),
 * so that a failure lists them all.
 *
 * Allowed, at a change of owner only (the epoch rises), because a transition is published only
 * after it is persisted and an owner that dies or is fenced in between never publishes it:
 * - seqs skipped;
 * - the same transition again (same seq and state) from the newer owner: a new owner announces
 *   the end of a finished workload it finds unannounced, which its old owner may have sent.
 */
export function chainViolations(messages: readonly TransitionMessage[], ids: readonly string[], options: ChainOptions = {}): string[] {
  const byId = new Map<string, TransitionMessage[]>();
  for (const message of messages) {
    const list = byId.get(message.id) ?? [];
    list.push(message);
    byId.set(message.id, list);
  }
  const problems: string[] = [];
  for (const id of ids) {
    const chain = byId.get(id) ?? [];
    const describe = () => chain.map((m) => `${m.seq}:${m.from}→${m.to}@${m.epoch ?? '?'}`).join(' ');
    let skipped = false;
    chain.forEach((m, i) => {
      const previous = chain[i - 1];
      if (!previous) {
        const takeover = options.firstEpochs !== undefined && !options.firstEpochs.has(m.epoch ?? 0);
        if (m.seq !== 1 && !takeover) problems.push(`${id}: its first message has seq ${m.seq} (${describe()})`);
        skipped ||= m.seq !== 1;
        return;
      }
      const newOwner = m.epoch !== previous.epoch;
      if (newOwner && m.epoch! < previous.epoch!) problems.push(`${id}: a message of an older owner came after a newer one's (${describe()})`);
      if (m.seq === previous.seq) {
        if (!(newOwner && m.to === previous.to)) problems.push(`${id}: seq ${m.seq} published twice (${describe()})`);
        return;
      }
      if (m.seq < previous.seq) problems.push(`${id}: seq ${m.seq} after ${previous.seq} (${describe()})`);
      else if (m.seq > previous.seq + 1) {
        if (!newOwner) problems.push(`${id}: seq ${m.seq} skips after ${previous.seq} under one owner (${describe()})`);
        skipped = true;
      } else if (m.from !== previous.to) problems.push(`${id}: ${m.from}→${m.to} does not follow ${previous.to} (${describe()})`);
    });
    const seqsOf = (to: string) => new Set(chain.filter((m) => m.to === to).map((m) => m.seq)).size;
    const provisioning = seqsOf('provisioning');
    const rejected = chain.some((m) => m.reason === 'rejected');
    if (provisioning > 1 || (provisioning === 0 && !rejected && !skipped)) problems.push(`${id}: provisioning ${provisioning} times (${describe()})`);
    if (rejected && provisioning > 0) problems.push(`${id}: rejected yet provisioned (${describe()})`);
    const ended = seqsOf('tornDown');
    if (ended !== 1) problems.push(`${id}: tornDown ${ended} times (${describe()})`);
  }
  return problems;
}
