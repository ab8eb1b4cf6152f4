import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/**
 * ioredis puts a failed command's arguments on its errors: the password of an AUTH, the specs
 * (env values included) of an EVAL. A logged error keeps its message and stack, not those.
 */
export const REDACTED_PATHS = ['err.command.args'];

/**
 * JSON lines on stderr (stdout stays free for command output); `LOG_LEVEL` sets the level.
 * `destination` replaces that stream (`leasehold dev` on a terminal formats the lines for people).
 */
export function createLogger(options: { level?: string; name?: string; destination?: DestinationStream | null } = {}): Logger {
  return pino(
    {
      name: options.name ?? 'leasehold',
      level: options.level ?? process.env.LOG_LEVEL ?? 'info',
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    },
    options.destination ?? pino.destination({ dest: 2, sync: false }),
  );
}

export const silentLogger: Logger = pino({ level: 'silent' });
