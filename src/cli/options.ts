import { InvalidArgumentError, Option, type Command } from 'commander';
import { DEFAULT_CONFIG } from '../config.js';
import type { NatsAuth, NatsTarget } from '../events/nats-auth.js';
import { subjectsFor, type Subjects } from '../events/transition.js';
import { installationKeyPrefix, parseInstallation } from '../installation.js';
import { checkNatsUrl, checkRedisUrl } from '../server-urls.js';

/** Where the shared servers are; every command that talks to them takes the same flags. */
export interface ConnectionOptions extends NatsAuthOptions, InstallationOptions {
  redis: string;
  nats: string;
  keyPrefix: string;
}

/** Which installation a command speaks to ('' is the default); see installation.ts. */
export interface InstallationOptions {
  installation?: string;
}

/** The NATS subjects of the installation a command was given. */
export function subjectsOf(options: InstallationOptions): Subjects {
  return subjectsFor(options.installation ?? '');
}

/**
 * `--installation`, on every command that talks to Redis or NATS. With Redis, the name is also
 * the key prefix (`<name>:`) unless `--key-prefix` is given: two installations on one Redis must
 * not share a queue, and one flag should be enough to keep them apart.
 */
export function withInstallation(command: Command, options: { keyPrefix: boolean }): Command {
  command.addOption(
    new Option('--installation <name>', "this installation's name: the first token of its NATS subjects" + (options.keyPrefix ? ' and its Redis key prefix (<name>:)' : '') + '; default: none')
      .env('LEASEHOLD_INSTALLATION')
      .argParser(parseInstallation),
  );
  if (!options.keyPrefix) return command;
  return command.hook('preAction', (_, action) => {
    const installation = action.getOptionValue('installation') as string | undefined;
    if (installation && action.getOptionValueSource('keyPrefix') === 'default') action.setOptionValue('keyPrefix', installationKeyPrefix(installation));
  });
}

/** How to authenticate to NATS, as commander hands the flags over. */
export interface NatsAuthOptions {
  nats: string;
  natsUser?: string;
  natsPassword?: string;
  natsToken?: string;
  natsNkey?: string;
  natsCreds?: string;
  natsCa?: string;
  natsCert?: string;
  natsKey?: string;
}

/**
 * NATS credentials and TLS, for every command that talks to NATS. Secrets are best given by
 * environment (NATS_PASSWORD, NATS_TOKEN) or as files (nkey seed, creds, key): a flag's value is
 * visible to anyone who can list processes.
 */
export function withNatsAuth(command: Command): Command {
  return command
    .addOption(new Option('--nats-user <user>', 'NATS user (password from NATS_PASSWORD)').env('NATS_USER'))
    .addOption(new Option('--nats-password <password>', 'NATS password; prefer the NATS_PASSWORD variable').env('NATS_PASSWORD'))
    .addOption(new Option('--nats-token <token>', 'NATS token; prefer the NATS_TOKEN variable').env('NATS_TOKEN'))
    .addOption(new Option('--nats-nkey <file>', 'file holding an nkey seed (SU…)').env('NATS_NKEY_FILE'))
    .addOption(new Option('--nats-creds <file>', 'NATS creds file (user JWT and seed)').env('NATS_CREDS'))
    .addOption(new Option('--nats-ca <file>', "CA certificate that signed the NATS server's (TLS)").env('NATS_CA'))
    .addOption(new Option('--nats-cert <file>', 'client certificate for NATS (TLS)').env('NATS_CERT'))
    .addOption(new Option('--nats-key <file>', "the client certificate's private key").env('NATS_KEY'));
}

export function natsTargetOf(options: NatsAuthOptions): NatsTarget {
  const auth: NatsAuth = {
    ...(options.natsUser !== undefined ? { user: options.natsUser } : {}),
    ...(options.natsPassword !== undefined ? { password: options.natsPassword } : {}),
    ...(options.natsToken !== undefined ? { token: options.natsToken } : {}),
    ...(options.natsNkey !== undefined ? { nkeyFile: options.natsNkey } : {}),
    ...(options.natsCreds !== undefined ? { credsFile: options.natsCreds } : {}),
    ...(options.natsCa !== undefined ? { caFile: options.natsCa } : {}),
    ...(options.natsCert !== undefined ? { certFile: options.natsCert } : {}),
    ...(options.natsKey !== undefined ? { keyFile: options.natsKey } : {}),
  };
  return { url: options.nats, auth };
}

export function withConnection(command: Command): Command {
  return withInstallation(withNatsAuth(command), { keyPrefix: true })
    .addOption(new Option('--redis <url>', 'Redis URL').env('REDIS_URL').argParser(checkRedisUrl).default(DEFAULT_CONFIG.redisUrl))
    .addOption(new Option('--nats <url>', 'NATS URL').env('NATS_URL').argParser(checkNatsUrl).default(DEFAULT_CONFIG.natsUrl))
    .addOption(new Option('--key-prefix <prefix>', 'prefix for every Redis key').env('LEASEHOLD_KEY_PREFIX').default(''));
}

/** NATS only: `watch`, `status`, `cancel`, `logs` never touch Redis. */
export function withNatsConnection(command: Command): Command {
  return withIgnoredRedisOptions(withInstallation(withNatsAuth(command), { keyPrefix: false }).addOption(new Option('--nats <url>', 'NATS URL').env('NATS_URL').default(DEFAULT_CONFIG.natsUrl)));
}

/** Redis only: `dead-letters` reads and writes Redis lists and nothing else. */
export function withRedisConnection(command: Command): Command {
  return withInstallation(command, { keyPrefix: true })
    .addOption(new Option('--redis <url>', 'Redis URL').env('REDIS_URL').default(DEFAULT_CONFIG.redisUrl))
    .addOption(new Option('--key-prefix <prefix>', 'prefix for every Redis key').env('LEASEHOLD_KEY_PREFIX').default(''));
}

/**
 * `--redis` and `--key-prefix` on a NATS-only command: accepted so that scripts written when
 * every command advertised them keep working, hidden from help, and said to be ignored.
 */
function withIgnoredRedisOptions(command: Command): Command {
  return command
    .addOption(new Option('--redis <url>').hideHelp())
    .addOption(new Option('--key-prefix <prefix>').hideHelp())
    .hook('preAction', (_, action) => {
      const given = (['redis', 'keyPrefix'] as const).filter((name) => action.getOptionValue(name) !== undefined);
      if (given.length === 0) return;
      const flags = given.map((name) => (name === 'redis' ? '--redis' : '--key-prefix'));
      process.stderr.write(`leasehold: ${action.name()} talks to NATS only; ${flags.join(' and ')} ${flags.length > 1 ? 'are' : 'is'} ignored\n`);
    });
}

export function withOutput(command: Command): Command {
  return command.addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json', 'yaml']).default('text'));
}

export function positiveInt(value: string): number {
  const n = Number(value);
  // commander turns this error into its usual "error: option … argument … is invalid" and exit 1.
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`expected a whole number, got "${value}"`);
  return n;
}
