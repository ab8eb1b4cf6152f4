import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Per-workload heartbeat tokens: HMAC(secret, id). Nothing is stored per workload, a token works
 * only for its own workload, and a restarted control plane that reads the same secret from Redis
 * accepts the tokens its predecessor handed out. Untrusted code gets this token, never Redis.
 */
export class HeartbeatTokens {
  constructor(private readonly secret: string) {}

  tokenFor(id: string): string {
    return createHmac('sha256', this.secret).update(id).digest('base64url');
  }

  verify(id: string, token: string): boolean {
    const expected = Buffer.from(this.tokenFor(id));
    const given = Buffer.from(token);
    return expected.length === given.length && timingSafeEqual(expected, given);
  }
}
