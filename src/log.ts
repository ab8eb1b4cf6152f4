import { pino, type Logger } from 'pino';

export type { Logger };

/** JSON lines on stderr (stdout stays free for command output); `LOG_LEVEL` sets the level. */
export function createLogger(options: { level?: string; name?: string } = {}): Logger {
  return pino(
    { name: options.name ?? 'leasehold', level: options.level ?? process.env.LOG_LEVEL ?? 'info' },
    pino.destination({ dest: 2, sync: false }),
  );
}

export const silentLogger: Logger = pino({ level: 'silent' });
