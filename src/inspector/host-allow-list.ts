import { isIP } from 'node:net';
import { ConfigError } from '../errors.js';

/**
 * Which `Host` headers the server answers. A DNS-rebinding page reaches a loopback server under
 * its own name (`evil.example:8080` resolving to 127.0.0.1); refusing every name but ours keeps
 * that page from reading anything, even before it would meet the token check.
 *
 * Entries are `name` (any port) or `name:port`; IPv6 addresses in brackets (`[::1]:8080`).
 */
export class HostAllowList {
  private readonly entries: readonly { name: string; port: string | null }[];

  constructor(entries: readonly string[]) {
    this.entries = entries.map((entry) => {
      const parsed = splitHost(entry.trim().toLowerCase());
      if (!parsed) throw new ConfigError(`"${entry}" is not a host name, host:port, or [IPv6]:port`);
      return parsed;
    });
  }

  /**
   * The list a server bound to `bindHost:port` answers by default: for a loopback bind, the
   * loopback names with that port; otherwise null (any Host), because a server others reach
   * directly gains nothing from refusing names, and tokens travel in headers a rebinding page
   * does not have. `configured` replaces the default; `publicUrl`'s host is always added, so
   * workloads keep reaching the heartbeat endpoint by the address they were given.
   */
  static forBind(bindHost: string, port: number, options: { configured?: readonly string[] | null; publicUrl?: string | null }): HostAllowList | null {
    let entries: string[];
    if (options.configured && options.configured.length > 0) {
      if (options.configured.includes('*')) return null;
      entries = [...options.configured];
    } else if (isLoopback(bindHost)) {
      entries = [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`];
      if (!entries.includes(withPort(bindHost, port))) entries.push(withPort(bindHost, port));
    } else {
      return null;
    }
    if (options.publicUrl) entries.push(hostOf(options.publicUrl));
    return new HostAllowList(entries);
  }

  allows(hostHeader: string | undefined): boolean {
    if (!hostHeader) return false;
    const host = splitHost(hostHeader.trim().toLowerCase());
    if (!host) return false;
    const port = host.port ?? '80';
    return this.entries.some((entry) => entry.name === host.name && (entry.port === null || entry.port === port));
  }
}

export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (bare === 'localhost') return true;
  if (isIP(bare) === 4) return bare.startsWith('127.');
  return bare === '::1';
}

function hostOf(url: string): string {
  let parsed: URL | null = null;
  try {
    parsed = new URL(url);
  } catch {
    // said below
  }
  if (!parsed || !/^https?:$/.test(parsed.protocol) || !parsed.host) {
    throw new ConfigError(`--public-url "${url}" is not a URL such as http://leasehold.example.com:8080`);
  }
  return parsed.host;
}

function withPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

function splitHost(text: string): { name: string; port: string | null } | null {
  const match = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::(\d{1,5}))?$/.exec(text);
  if (!match) return null;
  return { name: match[1]!, port: match[2] ?? null };
}
