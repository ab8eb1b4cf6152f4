/**
 * Credentials out of anything a person or a log collector will read. Server URLs carry them
 * (`redis://user:pass@host`, `nats://token@host`, `?password=`), and URLs get logged, printed in
 * banners and quoted in error messages; every such place passes the URL through here first.
 */

const MASK = '***';
/** Query parameters that hold a secret, by name: password, pass, token, secret, auth, key, creds, sig. */
const SECRET_PARAM = /pass|token|secret|auth|key|cred|sig/i;
/** A URL inside free text: scheme://… up to whitespace or a quote or bracket that ends it. */
const URL_IN_TEXT = /\b[a-z][a-z0-9+.-]*:\/\/[^\s'"<>`()]+/gi;

/**
 * The URL with its password, a lone user part (which NATS reads as a token) and secret-looking
 * query values replaced by `***`; the scheme, user name, host, port, path and other parameters
 * stay, so the reader still knows which server was meant.
 *
 * @example redactUrl('redis://app:hunter2@redis:6379/0') // 'redis://app:***@redis:6379/0'
 */
export function redactUrl(url: string): string {
  // NATS takes a comma-separated list of servers, each with credentials of its own.
  return url.split(',').map(redactOne).join(',');
}

/**
 * By hand rather than with `new URL`: a password may hold `@`, `:` or `/` unencoded, and the
 * WHATWG parser then splits it somewhere inside the secret. A host never holds `@`, so the
 * credentials are everything between `://` and the last `@`; masking too much is the safe error.
 */
function redactOne(part: string): string {
  const scheme = part.indexOf('://');
  const start = scheme < 0 ? 0 : scheme + 3;
  const at = part.lastIndexOf('@');
  let out = part;
  if (at >= start && (scheme >= 0 || at > 0)) {
    const userinfo = part.slice(start, at);
    const colon = userinfo.indexOf(':');
    out = `${part.slice(0, start)}${colon < 0 ? MASK : `${userinfo.slice(0, colon)}:${MASK}`}${part.slice(at)}`;
  }
  const query = out.indexOf('?');
  if (query < 0) return out;
  const hash = out.indexOf('#', query);
  const params = new URLSearchParams(out.slice(query + 1, hash < 0 ? undefined : hash));
  let changed = false;
  for (const name of [...new Set(params.keys())]) {
    if (SECRET_PARAM.test(name)) {
      params.set(name, MASK);
      changed = true;
    }
  }
  return changed ? `${out.slice(0, query + 1)}${params.toString()}${hash < 0 ? '' : out.slice(hash)}` : out;
}

/** Every URL found in `text` redacted (error messages that quote a URL, a server's own errors). */
export function redactUrlsIn(text: string): string {
  return text.replace(URL_IN_TEXT, (url) => redactUrl(url));
}
