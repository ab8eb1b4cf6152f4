/**
 * Every Redis key Leasehold touches, in one place. The prefix is empty by default so that the
 * seed's commands work as written: `LPUSH workload_queue …`, `SET session:<id>:heartbeat OK EX 30`.
 */
export interface Keys {
  readonly queue: string;
  readonly dead: string;
  processing(consumer: string): string;
  /** A hash per workload: spec, persisted snapshot, state. */
  workload(id: string): string;
  /** Ids of every workload not yet torn down; what a restart restores. */
  readonly active: string;
  lease(id: string): string;
  readonly leasePrefix: string;
  readonly leaseSuffix: string;
  /** Sorted set of lease deadlines, so that the reaper reads only what is due. */
  readonly leaseDeadlines: string;
  readonly secret: string;
}

export function createKeys(prefix = ''): Keys {
  const leasePrefix = `${prefix}session:`;
  const leaseSuffix = ':heartbeat';
  return {
    queue: `${prefix}workload_queue`,
    dead: `${prefix}workload_queue:dead`,
    processing: (consumer) => `${prefix}workload_queue:processing:${consumer}`,
    workload: (id) => `${prefix}leasehold:workload:${id}`,
    active: `${prefix}leasehold:active`,
    lease: (id) => `${leasePrefix}${id}${leaseSuffix}`,
    leasePrefix,
    leaseSuffix,
    leaseDeadlines: `${prefix}leasehold:lease-deadlines`,
    secret: `${prefix}leasehold:secret`,
  };
}
