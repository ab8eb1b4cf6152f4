import { InvalidArgumentError, Option, type Command } from 'commander';
import { LIFECYCLE_STATES, WORKLOAD_TYPES, type LifecycleState, type WorkloadType } from '../../../machines/index.js';
import { redactUrl, redactUrlsIn } from '../../redact.js';
import { CliError } from '../cli-error.js';
import { openRedis } from '../clients.js';
import { examples } from '../help.js';
import { toListed, type ListedWorkload } from '../list/listed-workload.js';
import { readFinished } from '../list/read-finished.js';
import { keysOfInstallation, readActive, readOwners, type StoredRecord } from '../list/read-workloads.js';
import { renderTable } from '../list/render.js';
import { collectSelector, matches, type Selector } from '../list/selector.js';
import { positiveInt, withRedisConnection } from '../options.js';
import { formatData } from '../output.js';
import { inline } from '../terminal.js';

const LIST_FORMATS = ['table', 'wide', 'json', 'yaml'] as const;
type ListFormat = (typeof LIST_FORMATS)[number];

interface ListOptions {
  redis: string;
  keyPrefix: string;
  state?: LifecycleState[];
  all?: boolean;
  limit?: number;
  type?: WorkloadType;
  selector?: Selector;
  output: ListFormat;
}

/** `--state running,queued --state expiring`: repeatable, and each may be a comma list. */
function collectStates(value: string, previous: LifecycleState[] | undefined): LifecycleState[] {
  const states = value.split(',').map((s) => s.trim()).filter(Boolean);
  if (states.length === 0) throw new InvalidArgumentError(`expected one or more of ${LIFECYCLE_STATES.join(', ')}`);
  for (const state of states) {
    if (!(LIFECYCLE_STATES as readonly string[]).includes(state)) throw new InvalidArgumentError(`"${inline(state)}" is not a state; expected ${LIFECYCLE_STATES.join(', ')}`);
  }
  return [...(previous ?? []), ...(states as LifecycleState[])];
}

function wanted(options: ListOptions): (w: ListedWorkload) => boolean {
  return (w) =>
    (!options.state?.length || options.state.includes(w.state)) &&
    (!options.type || w.type === options.type) &&
    (!options.selector || matches(options.selector, w.labels));
}

/** Ids named in the warning about records that do not read as workloads; the rest are counted. */
const UNREADABLE_NAMED = 5;

/**
 * Which sources a listing reads. By default the active sets only (unfinished workloads, and the
 * just-finished ones whose end is not announced yet), as kubectl lists running pods; finished
 * ones when `--state` names tornDown, both with `-A`.
 */
function sourcesOf(options: ListOptions): { active: boolean; finished: boolean } {
  if (options.all) return { active: true, finished: true };
  if (!options.state?.length) return { active: true, finished: false };
  return { active: options.state.some((s) => s !== 'tornDown'), finished: options.state.includes('tornDown') };
}

async function list(options: ListOptions): Promise<void> {
  const redis = await openRedis(options.redis);
  const rows = new Map<string, ListedWorkload>();
  const finishedAt = new Map<string, number>();
  const unreadable: string[] = [];
  const sources = sourcesOf(options);
  let now: number;
  try {
    const keys = await keysOfInstallation(redis, options.keyPrefix);
    const owners = await readOwners(redis, keys);
    now = owners.now;
    const keep = wanted(options);
    const take = (record: StoredRecord): boolean => {
      const listed = toListed(record, owners.owners[record.shard] ?? null);
      // A workload just finished may be in both sources (its end is not announced yet): listed once.
      if (listed && keep(listed) && !rows.has(listed.id)) {
        rows.set(listed.id, listed);
        return true;
      }
      // No spec: the record expired after its workload ended; the owner tidies the set. Else it is not ours to read.
      if (!listed && record.spec !== null) unreadable.push(record.id);
      return false;
    };
    if (sources.active) for await (const page of readActive(redis, keys)) for (const record of page) take(record);
    if (sources.finished) {
      // --limit: the newest of each shard are enough to find the newest of all.
      const perShard = new Map<number, number>();
      const enough = (shard: number) => options.limit !== undefined && (perShard.get(shard) ?? 0) >= options.limit;
      for await (const page of readFinished(redis, keys, { enough })) {
        for (const record of page) {
          if (!take(record)) continue;
          finishedAt.set(record.id, record.finishedAt);
          perShard.set(record.shard, (perShard.get(record.shard) ?? 0) + 1);
        }
      }
    }
  } catch (error) {
    if (error instanceof CliError) throw error;
    // A refusal (NOPERM for a user without read access) or a dropped connection: one line, not a stack.
    throw new CliError(`reading the workloads from Redis at ${redactUrl(options.redis)} failed: ${redactUrlsIn(error instanceof Error ? error.message : String(error))}`);
  } finally {
    redis.disconnect();
  }
  if (unreadable.length > 0) {
    const named = unreadable.slice(0, UNREADABLE_NAMED).map(inline).join(', ');
    const more = unreadable.length > UNREADABLE_NAMED ? ` and ${unreadable.length - UNREADABLE_NAMED} more` : '';
    process.stderr.write(`leasehold: skipped ${unreadable.length} unreadable record${unreadable.length === 1 ? '' : 's'}: ${named}${more}\n`);
  }
  let listed = [...rows.values()];
  if (options.limit !== undefined) {
    const newest = [...finishedAt].sort(([, a], [, b]) => b - a).slice(0, options.limit);
    const shown = new Set(newest.map(([id]) => id));
    listed = listed.filter((w) => !finishedAt.has(w.id) || shown.has(w.id));
  }
  listed.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  if (options.output === 'json' || options.output === 'yaml') return void process.stdout.write(formatData(listed, options.output));
  // kubectl's habit: nothing on stdout (a script's `| wc -l` counts 0), the reason on stderr.
  if (listed.length === 0) return void process.stderr.write('No workloads.\n');
  process.stdout.write(renderTable(listed, now, options.output === 'wide', sources.finished));
}

export function registerList(program: Command): void {
  const stateOption = new Option('--state <states>', 'only workloads in these states; repeat it, or give a comma list').argParser(collectStates);
  // Offered by shell completion; the parser above still accepts comma lists.
  stateOption.argChoices = [...LIFECYCLE_STATES];
  const command = withRedisConnection(
    program
      .command('list')
      .description('workloads of every replica, read from Redis: the unfinished ones, or with --state tornDown or -A the finished ones still retained')
      .addOption(stateOption)
      .addOption(new Option('-A, --all', 'unfinished and finished workloads (finished: those still retained, see --retention of start)'))
      .addOption(new Option('--limit <n>', 'at most this many finished workloads, the most recently finished').argParser(positiveInt))
      .addOption(new Option('--type <type>', 'only trusted or only untrusted workloads').choices(WORKLOAD_TYPES))
      .addOption(
        new Option('-l, --selector <selector>', "only workloads whose labels match, as kubectl's -l: k=v, k!=v, 'k in (a,b)', k, !k; comma-separated, all must hold; repeatable").argParser(
          collectSelector,
        ),
      )
      .addOption(new Option('-o, --output <format>', 'wide adds image, shard, owner, replica and labels').choices(LIST_FORMATS).default('table')),
  ).action((options: ListOptions) => list(options));
  command.addHelpText(
    'after',
    `\nReads Redis directly (in pages), so it lists what every replica holds, not one replica's view. Without --state\nor -A it lists unfinished workloads; finished ones (tornDown) are listed with --state tornDown or -A, for as long as\ntheir records are retained (--retention of start), with their end: reason and exit code. Finished entries whose\nrecord is gone are skipped, and removed from the index where the Redis user may write.`,
  );
  examples(command, [
    ['every unfinished workload', 'leasehold list'],
    ['running untrusted workloads labelled team=ml, with their owners and labels', 'leasehold list --state running --type untrusted -l team=ml -o wide'],
    ['the ids of workloads still queued or provisioning', "leasehold list --state queued,provisioning -o json | jq -r '.[].id'"],
    ['the 20 most recently finished workloads, with how they ended', 'leasehold list --state tornDown --limit 20'],
    ['every workload, finished or not, that failed', "leasehold list -A -o json | jq '.[] | select(.reason == \"failed\")'"],
  ]);
}
