import { join } from 'node:path';
import { ConfigError } from './errors.js';

/**
 * An installation is one Leasehold deployment: its replicas, its queue, its workloads. Several can
 * share one Redis and one NATS when each has a name (`--installation`): the name is the first
 * token of every NATS subject it uses (`<name>.workloads.<id>.<state>`), the suffix of its
 * JetStream stream, the default prefix of its Redis keys (`<name>:`), and the directory of its
 * local state (`<state-dir>/installations/<name>`). The unnamed default keeps the subjects, keys
 * and paths of the README's contract exactly as they are.
 *
 * One name is put into all of these, so it is held to the strictest of their rules: a NATS subject
 * token (no `.`, `*`, `>`, spaces), a JetStream stream name, a Redis key prefix, a directory name,
 * and the same on a file system that ignores case. Lower-case letters, digits, `-` and `_` do.
 */
export const INSTALLATION_PATTERN = /^[a-z0-9](?:[a-z0-9_-]{0,30}[a-z0-9])?$/;

/**
 * The first tokens of the default installation's subjects. A named installation called so would
 * publish where the default one's watchers (`workloads.>`) and history stream listen.
 */
const RESERVED = new Set(['workloads', 'leasehold']);

/** `name`, checked; '' is the default installation. A ConfigError says what is wrong in one line. */
export function parseInstallation(name: string): string {
  if (name === '') return name;
  if (!INSTALLATION_PATTERN.test(name)) {
    throw new ConfigError(
      `installation name ${JSON.stringify(name)} is not usable: 1-32 lower-case letters, digits, '-' or '_', starting and ending with a letter or digit (it becomes a NATS subject token, a Redis key prefix and a directory name)`,
    );
  }
  if (RESERVED.has(name)) {
    throw new ConfigError(`installation name "${name}" is reserved: the default installation's subjects begin with it; pick another`);
  }
  return name;
}

/** Where an installation's local state (pid files, work dirs, tokens, dev's Redis) lives. */
export function installationStateDir(stateDir: string, installation: string): string {
  return installation === '' ? stateDir : join(stateDir, 'installations', parseInstallation(installation));
}

/** The Redis key prefix an installation uses when none is given: its name and a colon. */
export function installationKeyPrefix(installation: string): string {
  return installation === '' ? '' : `${parseInstallation(installation)}:`;
}
