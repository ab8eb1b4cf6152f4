import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Per-run heartbeat tokens: `<run>.<HMAC(secret, id, run)>`, where `run` is a nonce drawn when the
 * workload is accepted and kept in its record. A token works only for its own workload and only
 * for that run: once a finished workload's record has expired and its id is submitted again, the
 * new run has a new nonce and the old token is refused. Nothing but the nonce is stored, and a
 * restarted control plane that reads the same secret and records accepts the tokens its
 * predecessor handed out. Untrusted code gets this token, never Redis.
 */
export class HeartbeatTokens {
  constructor(
    private readonly secret: string,
    /** The nonce of the workload's current run; null when no run of it is live (on any replica). */
    private readonly currentRun: (id: string) => string | null | Promise<string | null>,
  ) {}

  tokenFor(id: string, run: string): string {
    // A record written before runs existed has none (''); its workload keeps the token it was given.
    if (run === '') return this.mac(id);
    return `${run}.${this.mac(`${id}\n${run}`)}`;
  }

  /** True only for the token of the workload's current run. */
  async verify(id: string, token: string): Promise<boolean> {
    const run = await this.currentRun(id);
    if (run === null) return false;
    const expected = Buffer.from(this.tokenFor(id, run));
    const given = Buffer.from(token);
    return expected.length === given.length && timingSafeEqual(expected, given);
  }

  private mac(text: string): string {
    return createHmac('sha256', this.secret).update(text).digest('base64url');
  }
}
