import { InvalidArgumentError, Option, type Command } from 'commander';
import { DEFAULT_CONFIG } from '../config.js';

/** Where the shared servers are; every command that talks to them takes the same flags. */
export interface ConnectionOptions {
  redis: string;
  nats: string;
  keyPrefix: string;
}

export function withConnection(command: Command): Command {
  return command
    .addOption(new Option('--redis <url>', 'Redis URL').env('REDIS_URL').default(DEFAULT_CONFIG.redisUrl))
    .addOption(new Option('--nats <url>', 'NATS URL').env('NATS_URL').default(DEFAULT_CONFIG.natsUrl))
    .addOption(new Option('--key-prefix <prefix>', 'prefix for every Redis key').env('LEASEHOLD_KEY_PREFIX').default(''));
}

export function withOutput(command: Command): Command {
  return command.addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'));
}

export function positiveInt(value: string): number {
  const n = Number(value);
  // commander turns this error into its usual "error: option … argument … is invalid" and exit 1.
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`expected a whole number, got "${value}"`);
  return n;
}
