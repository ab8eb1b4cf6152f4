import type { TransitionMessage } from '../../src/events/transition.js';

/**
 * Checks what subscribers saw on NATS, per workload: one chain of transitions, `seq` rising by
 * one from 1 in the order the messages arrived, each `from` the previous `to`, no (id, seq)
 * twice, exactly one `provisioning` and exactly one `tornDown`. Returns every violation found
 * (empty when all is well), so that a failure lists them all.
 *
 * One exception, at a change of owner only (the epoch changes): a replica killed between
 * persisting a transition and publishing it leaves that transition unpublished (transitions are
 * published only once persisted, never before), so the next owner's first message may skip seqs.
 */
export function chainViolations(messages: readonly TransitionMessage[], ids: readonly string[]): string[] {
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
    const seen = new Set<number>();
    for (const m of chain) {
      if (seen.has(m.seq)) problems.push(`${id}: seq ${m.seq} published twice (${describe()})`);
      seen.add(m.seq);
    }
    chain.forEach((m, i) => {
      const previous = chain[i - 1];
      const newOwner = previous !== undefined && m.epoch !== previous.epoch;
      const expected = (previous?.seq ?? 0) + 1;
      if (i === 0 ? m.seq !== 1 : newOwner ? m.seq < expected : m.seq !== expected) problems.push(`${id}: message ${i + 1} has seq ${m.seq} (${describe()})`);
      if (previous && !newOwner && m.from !== previous.to) problems.push(`${id}: ${m.from}→${m.to} does not follow ${previous.to} (${describe()})`);
      if (previous && newOwner && m.epoch! < previous.epoch!) problems.push(`${id}: a message of an older owner came after a newer one's (${describe()})`);
    });
    const provisioning = chain.filter((m) => m.to === 'provisioning').length;
    const rejected = chain.some((m) => m.reason === 'rejected');
    if (provisioning !== (rejected ? 0 : 1)) problems.push(`${id}: provisioning ${provisioning} times (${describe()})`);
    const ended = chain.filter((m) => m.to === 'tornDown').length;
    if (ended !== 1) problems.push(`${id}: tornDown ${ended} times (${describe()})`);
  }
  return problems;
}
