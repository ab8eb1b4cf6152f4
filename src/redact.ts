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
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return redactUserinfo(url);
  }
  // WHATWG URL keeps the authority only for "special" schemes; for redis:, nats: and the like it
  // still parses username and password, which is all we touch.
  if (parsed.password) parsed.password = MASK;
  else if (parsed.username) parsed.username = MASK;
  for (const name of [...new Set(parsed.searchParams.keys())]) {
    if (SECRET_PARAM.test(name)) parsed.searchParams.set(name, MASK);
  }
  return parsed.toString();
}

/** Every URL found in `text` redacted (error messages that quote a URL, a server's own errors). */
export function redactUrlsIn(text: string): string {
  return text.replace(URL_IN_TEXT, (url) => redactUrl(url));
}

/** For what `new URL` refuses: strip whatever sits between `//` and `@`. */
function redactUserinfo(text: string): string {
  return text.replace(/\/\/[^/@\s]*@/g, (userinfo) => {
    const colon = userinfo.indexOf(':');
    return colon < 0 ? `//${MASK}@` : `${userinfo.slice(0, colon)}:${MASK}@`;
  });
}
