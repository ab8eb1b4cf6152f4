import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ConfigError } from '../errors.js';

/**
 * `read` sees what the inspector shows (states, counts, timelines, the event stream); `operator`
 * also reads logs, which can hold a workload's secrets, and may steer workloads.
 */
export const SCOPES = ['read', 'operator'] as const;
export type Scope = (typeof SCOPES)[number];

export interface TokenHolder {
  readonly name: string;
  readonly scope: Scope;
}

/** Short enough to type, long enough that guessing over HTTP is hopeless. */
export const MIN_TOKEN_LENGTH = 16;

interface Entry {
  readonly digest: Buffer;
  readonly holder: TokenHolder;
}

/**
 * The bearer tokens the HTTP API accepts. Tokens are kept only as SHA-256 digests and compared
 * with `timingSafeEqual` against every entry, without stopping at the first match, so neither
 * the comparison nor the position of a token in the file shows in the response time.
 */
export class HttpTokens {
  private constructor(private readonly entries: readonly Entry[]) {}

  /**
   * One `token scope [name]` per line; blank lines and `#` comments are skipped. Errors name the
   * line, never the token on it (the message may end up in a log).
   */
  static parse(text: string, source: string): HttpTokens {
    const entries: Entry[] = [];
    const seen = new Set<string>();
    text.split(/\r?\n/).forEach((raw, index) => {
      const line = raw.trim();
      if (!line || line.startsWith('#')) return;
      const where = `${source}, line ${index + 1}`;
      const [token, scope, ...rest] = line.split(/\s+/);
      if (!token || token.length < MIN_TOKEN_LENGTH) throw new ConfigError(`${where}: a token must be at least ${MIN_TOKEN_LENGTH} characters`);
      if (!(SCOPES as readonly string[]).includes(scope ?? '')) {
        throw new ConfigError(`${where}: the scope must be one of ${SCOPES.join(', ')} (each line is: token scope [name])`);
      }
      const digest = digestOf(token);
      const key = digest.toString('hex');
      if (seen.has(key)) throw new ConfigError(`${where}: this token is already listed`);
      seen.add(key);
      entries.push({ digest, holder: { scope: scope as Scope, name: rest.join(' ') || `line ${index + 1}` } });
    });
    if (entries.length === 0) throw new ConfigError(`${source} lists no tokens (each line is: token scope [name])`);
    return new HttpTokens(entries);
  }

  static fromFile(path: string): HttpTokens {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      throw new ConfigError(`cannot read the HTTP tokens file ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    }
    return HttpTokens.parse(text, path);
  }

  /** One fresh operator token, for when no tokens file is given. */
  static generate(name: string): { tokens: HttpTokens; token: string } {
    const token = randomBytes(32).toString('base64url');
    return { tokens: new HttpTokens([{ digest: digestOf(token), holder: { scope: 'operator', name } }]), token };
  }

  verify(presented: string): TokenHolder | null {
    const digest = digestOf(presented);
    let found: TokenHolder | null = null;
    for (const entry of this.entries) if (timingSafeEqual(entry.digest, digest)) found = entry.holder;
    return found;
  }
}

/**
 * The holder of the request's token when it has `need` (operator covers read); otherwise answers
 * 401 (no or unknown token) or 403 (a read token asking for operator) and returns null.
 */
export function authorize(req: IncomingMessage, res: ServerResponse, tokens: HttpTokens, need: Scope): TokenHolder | null {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  const holder = match ? tokens.verify(match[1]!) : null;
  if (!holder) {
    deny(res, 401, 'a bearer token is required (Authorization: Bearer <token>)', 'Bearer realm="leasehold"');
    return null;
  }
  if (need === 'operator' && holder.scope !== 'operator') {
    deny(res, 403, 'this needs an operator token', 'Bearer realm="leasehold", error="insufficient_scope", scope="operator"');
    return null;
  }
  return holder;
}

function deny(res: ServerResponse, status: 401 | 403, error: string, challenge: string): void {
  res.writeHead(status, { 'content-type': 'application/json', 'www-authenticate': challenge });
  res.end(JSON.stringify({ error }));
}

function digestOf(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}
