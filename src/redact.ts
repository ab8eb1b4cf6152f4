/**
 * Credentials out of anything a person or a log collector will read. Server URLs carry them
 * (`redis://user:pass@host`, `nats://token@host`, `?password=`), and URLs get logged, printed in
 * banners and quoted in error messages; every such place passes the URL through here first.
 */

import { splitUserinfo } from './url-userinfo.js';

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

/** The user name stays; a password, or a lone user part (a NATS token), becomes the mask. */
function redactOne(part: string): string {
  const { before, userinfo, after } = splitUserinfo(part);
  let out = part;
  if (userinfo !== null) {
    const colon = userinfo.indexOf(':');
    out = `${before}${colon < 0 ? MASK : `${userinfo.slice(0, colon)}:${MASK}`}@${after}`;
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
