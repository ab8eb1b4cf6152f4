/**
 * Typed errors for operational failures. `transient` tells the machine whether a retry may help
 * (see machines/backoff.ts); `code` is stable for scripts; `cause` keeps the original error.
 */
export class LeaseholdError extends Error {
  readonly code: string;
  readonly transient: boolean;
  /** The least time to wait before retrying, when the other side said (HTTP Retry-After). */
  readonly retryAfterMs: number | undefined;

  constructor(code: string, message: string, options: { cause?: unknown; transient?: boolean; retryAfterMs?: number } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.transient = options.transient ?? false;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** The runtime could not do what was asked; `transient` errors are retried with backoff. */
export class RuntimeError extends LeaseholdError {}

/** A configuration value is unusable; raised at start-up, before anything runs. */
export class ConfigError extends LeaseholdError {
  constructor(message: string) {
    super('CONFIG', message);
  }
}
