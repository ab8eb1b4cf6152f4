/** A server URL cut where its credentials are: `<before>` `<userinfo>@` `<after>`. */
export interface UrlParts {
  /** The scheme and `://`, or '' when there is none. */
  readonly before: string;
  /** Between `://` and the last `@`; null when the URL carries no credentials. */
  readonly userinfo: string | null;
  /** Host, port and the rest, without the `@`. */
  readonly after: string;
}

/**
 * Read by hand rather than with `new URL`: a password may hold `@`, `:` or `/` unencoded, and the
 * WHATWG parser then splits it somewhere inside the secret. A host never holds `@`, so the
 * credentials are everything between `://` and the last `@`. One reading for redaction, for the
 * NATS credentials and for the URL checks, so that they never disagree about where a secret ends.
 */
export function splitUserinfo(url: string): UrlParts {
  const scheme = url.indexOf('://');
  const start = scheme < 0 ? 0 : scheme + 3;
  const at = url.lastIndexOf('@');
  if (at < start || (scheme < 0 && at === 0)) return { before: url.slice(0, start), userinfo: null, after: url.slice(start) };
  return { before: url.slice(0, start), userinfo: url.slice(start, at), after: url.slice(at + 1) };
}
