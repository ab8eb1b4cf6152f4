import { readFileSync } from 'node:fs';
import { redactUrl } from '../redact.js';
import { splitUserinfo } from '../url-userinfo.js';
import { checkNatsUrl } from '../server-urls.js';
import {
  credsAuthenticator,
  nkeyAuthenticator,
  nkeys,
  tokenAuthenticator,
  usernamePasswordAuthenticator,
  type Authenticator,
  type NodeConnectionOptions,
} from '@nats-io/transport-node';
import { ConfigError } from '../errors.js';

/**
 * How to prove who we are to NATS. Every field is optional; together they cover every method
 * nats-server supports. Secrets come from the environment or from files, and none of them is
 * ever logged or printed: error messages name the flag or the file, never its content.
 */
export interface NatsAuth {
  readonly user?: string;
  readonly password?: string;
  readonly token?: string;
  /** A file holding an nkey seed (`SU…`), as `nsc` or `nk -gen user` writes it. */
  readonly nkeyFile?: string;
  /** A creds file (user JWT and its seed), for servers in operator (JWT) mode. */
  readonly credsFile?: string;
  /** TLS: the CA that signed the server's certificate, and our client certificate and key. */
  readonly caFile?: string;
  readonly certFile?: string;
  readonly keyFile?: string;
}

/** Where NATS is and how to authenticate to it. */
export interface NatsTarget {
  /** One URL or several separated by commas; `nats://user:pass@host` and `nats://token@host` work. */
  readonly url: string;
  readonly auth: NatsAuth;
}

/** The URL with any user, password or token replaced by `***`, fit for logs and error lines. */
interface UrlCredentials {
  servers: string[];
  user?: string;
  password?: string;
  token?: string;
}

/**
 * nats.js ignores credentials in a server URL, so we take them out here: `user:pass@` becomes a
 * user/password, a lone `token@` a token. Every URL of a list must agree.
 */
function splitUrlCredentials(url: string): UrlCredentials {
  const result: UrlCredentials = { servers: [] };
  let first = true;
  for (const raw of url.split(',').map((part) => part.trim()).filter(Boolean)) {
    const { before, userinfo, after } = splitUserinfo(raw);
    if (userinfo === null) {
      result.servers.push(raw);
      if (!first && (result.user || result.token)) throw new ConfigError('every NATS URL of a list must carry the same credentials');
      first = false;
      continue;
    }
    result.servers.push(before + after);
    const colon = userinfo.indexOf(':');
    const decode = (text: string) => {
      try {
        return decodeURIComponent(text);
      } catch {
        throw new ConfigError(`the credentials in the NATS URL ${redactUrl(raw)} are not valid percent-encoding`);
      }
    };
    const user = colon < 0 ? undefined : decode(userinfo.slice(0, colon));
    const password = colon < 0 ? undefined : decode(userinfo.slice(colon + 1));
    const token = colon < 0 ? decode(userinfo) : undefined;
    if (!first && (user !== result.user || password !== result.password || token !== result.token)) {
      throw new ConfigError('every NATS URL of a list must carry the same credentials');
    }
    Object.assign(result, { user, password, token });
    first = false;
  }
  if (result.servers.length === 0) throw new ConfigError('no NATS URL given (--nats or NATS_URL)');
  return result;
}

function readSecretFile(path: string, flag: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new ConfigError(`cannot read the ${flag} file ${path} (${code})`);
  }
}

function nkeySeed(path: string): Uint8Array {
  const seed = new TextEncoder().encode(new TextDecoder().decode(readSecretFile(path, '--nats-nkey')).trim());
  try {
    nkeys.fromSeed(seed);
  } catch {
    throw new ConfigError(`the --nats-nkey file ${path} does not hold an nkey seed (one line starting with SU)`);
  }
  return seed;
}

function creds(path: string): Uint8Array {
  const content = readSecretFile(path, '--nats-creds');
  if (!new TextDecoder().decode(content).includes('BEGIN NATS USER JWT')) {
    throw new ConfigError(`the --nats-creds file ${path} is not a NATS creds file (no "BEGIN NATS USER JWT" block)`);
  }
  return content;
}

/**
 * Builds the nats.js connection options for a target: servers, one authenticator per configured
 * method, and TLS. Files are read now, so that a missing or malformed one is a one-line
 * configuration error at start rather than a failure at the first (re)connect.
 */
export function natsConnectionOptions(target: NatsTarget): NodeConnectionOptions & { servers: string[] } {
  checkNatsUrl(target.url); // else nats.js fails each attempt with "Invalid URL", which looks like an outage
  const fromUrl = splitUrlCredentials(target.url);
  const { auth } = target;
  const urlHasCredentials = fromUrl.user !== undefined || fromUrl.token !== undefined;
  if (urlHasCredentials && (auth.user !== undefined || auth.password !== undefined || auth.token !== undefined)) {
    throw new ConfigError('NATS credentials are given both in the URL and as --nats-user/--nats-password/--nats-token; give them once');
  }
  const user = auth.user ?? fromUrl.user;
  const password = auth.password ?? fromUrl.password;
  const token = auth.token ?? fromUrl.token;
  if (user !== undefined && password === undefined) throw new ConfigError('--nats-user needs a password: set NATS_PASSWORD (or --nats-password)');
  if (password !== undefined && user === undefined) throw new ConfigError('a NATS password needs a user: set --nats-user or NATS_USER');
  if (token !== undefined && user !== undefined) throw new ConfigError('give NATS either a user and password or a token, not both');
  if (auth.nkeyFile && auth.credsFile) throw new ConfigError('give NATS either --nats-nkey or --nats-creds, not both (a creds file carries its own key)');

  const authenticators: Authenticator[] = [];
  if (user !== undefined) authenticators.push(usernamePasswordAuthenticator(user, password));
  if (token !== undefined) authenticators.push(tokenAuthenticator(token));
  if (auth.nkeyFile) authenticators.push(nkeyAuthenticator(nkeySeed(auth.nkeyFile)));
  if (auth.credsFile) authenticators.push(credsAuthenticator(creds(auth.credsFile)));

  if ((auth.certFile === undefined) !== (auth.keyFile === undefined)) {
    throw new ConfigError('a NATS client certificate needs both --nats-cert and --nats-key');
  }
  const usesTls = auth.caFile !== undefined || auth.certFile !== undefined;
  // Read now for the one-line error; nats.js reads them again itself on each connect.
  if (auth.caFile) readSecretFile(auth.caFile, '--nats-ca');
  if (auth.certFile) readSecretFile(auth.certFile, '--nats-cert');
  if (auth.keyFile) readSecretFile(auth.keyFile, '--nats-key');

  return {
    servers: fromUrl.servers,
    ...(authenticators.length > 0 ? { authenticator: authenticators } : {}),
    ...(usesTls
      ? {
          tls: {
            ...(auth.caFile ? { caFile: auth.caFile } : {}),
            ...(auth.certFile ? { certFile: auth.certFile } : {}),
            ...(auth.keyFile ? { keyFile: auth.keyFile } : {}),
          },
        }
      : {}),
  };
}
