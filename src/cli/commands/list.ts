import { InvalidArgumentError, Option, type Command } from 'commander';
import { LIFECYCLE_STATES, WORKLOAD_TYPES, type LifecycleState, type WorkloadType } from '../../../machines/index.js';
import { redactUrl, redactUrlsIn } from '../../redact.js';
import { CliError } from '../cli-error.js';
import { openRedis } from '../clients.js';
import { examples } from '../help.js';
import { toListed, type ListedWorkload } from '../list/listed-workload.js';
import { keysOfInstallation, readActive, readOwners } from '../list/read-workloads.js';
import { renderTable } from '../list/render.js';
import { collectSelector, matches, type Selector } from '../list/selector.js';
import { withRedisConnection } from '../options.js';
import { formatData } from '../output.js';
import { inline } from '../terminal.js';

const LIST_FORMATS = ['table', 'wide', 'json', 'yaml'] as const;
type ListFormat = (typeof LIST_FORMATS)[number];

/** The states a listed workload can be in: a torn-down one has left its shard's active set. */
const LISTED_STATES = LIFECYCLE_STATES.filter((s) => s !== 'tornDown');

interface ListOptions {
  redis: string;
  keyPrefix: string;
  state?: LifecycleState[];
  type?: WorkloadType;
  selector?: Selector;
  output: ListFormat;
}

const FINISHED_NOT_LISTED =
  'finished (tornDown) workloads are not listed: Redis indexes only unfinished ones, and finding the others would take a SCAN of the whole keyspace; ' +
  '`leasehold status <id>` shows one while it is retained (--retention), `leasehold watch --replay` the recent transitions';

/** `--state running,queued --state expiring`: repeatable, and each may be a comma list. */
function collectStates(value: string, previous: LifecycleState[] | undefined): LifecycleState[] {
  const states = value.split(',').map((s) => s.trim()).filter(Boolean);
  if (states.length === 0) throw new InvalidArgumentError(`expected one or more of ${LISTED_STATES.join(', ')}`);
  for (const state of states) {
    if (state === 'tornDown') throw new InvalidArgumentError(FINISHED_NOT_LISTED);
    if (!(LISTED_STATES as readonly string[]).includes(state)) throw new InvalidArgumentError(`"${inline(state)}" is not a state; expected ${LISTED_STATES.join(', ')}`);
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

async function list(options: ListOptions): Promise<void> {
  const redis = await openRedis(options.redis);
  let rows: ListedWorkload[] = [];
  const unreadable: string[] = [];
  let now: number;
  try {
    const keys = await keysOfInstallation(redis, options.keyPrefix);
    const owners = await readOwners(redis, keys);
    now = owners.now;
    const keep = wanted(options);
    for await (const page of readActive(redis, keys)) {
      for (const record of page) {
        const listed = toListed(record, owners.owners[record.shard] ?? null);
        if (listed && keep(listed)) rows.push(listed);
        // No spec: the record expired after its workload ended; the owner tidies the set. Else it is not ours to read.
        else if (!listed && record.spec !== null) unreadable.push(record.id);
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
  rows = rows.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  if (options.output === 'json' || options.output === 'yaml') return void process.stdout.write(formatData(rows, options.output));
  // kubectl's habit: nothing on stdout (a script's `| wc -l` counts 0), the reason on stderr.
  if (rows.length === 0) return void process.stderr.write('No workloads.\n');
  process.stdout.write(renderTable(rows, now, options.output === 'wide'));
}

export function registerList(program: Command): void {
  const stateOption = new Option('--state <states>', 'only workloads in these states; repeat it, or give a comma list').argParser(collectStates);
  // Offered by shell completion; the parser above still accepts comma lists.
  stateOption.argChoices = [...LISTED_STATES];
  const command = withRedisConnection(
    program
      .command('list')
      .description('unfinished workloads of every replica (queued, provisioning, running, expiring), read from Redis')
      .addOption(stateOption)
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
    `\nReads Redis directly (read-only, in pages), so it lists what every replica holds, not one replica's view.\nIt does not list finished workloads: Redis indexes only unfinished ones, and finding the others would take a SCAN\nof the whole keyspace. \`leasehold status <id>\` shows a finished one while it is retained (--retention of start),\nand \`leasehold watch --replay\` the recent transitions.`,
  );
  examples(command, [
    ['every unfinished workload', 'leasehold list'],
    ['running untrusted workloads labelled team=ml, with their owners and labels', 'leasehold list --state running --type untrusted -l team=ml -o wide'],
    ['the ids of workloads still queued or provisioning', "leasehold list --state queued,provisioning -o json | jq -r '.[].id'"],
  ]);
}
