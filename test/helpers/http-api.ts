import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ControlPlane } from '../../src/app.js';

/** The operator token a control plane started without --http-tokens wrote for itself. */
export function generatedToken(plane: ControlPlane): string {
  if (!plane.httpTokenFile) throw new Error('this control plane was given a tokens file');
  return readFileSync(plane.httpTokenFile, 'utf8').trim();
}

/** A tokens file with one fresh read token and one fresh operator token. */
export function tokensFile(): { path: string; read: string; operator: string } {
  const read = randomBytes(24).toString('base64url');
  const operator = randomBytes(24).toString('base64url');
  const path = join(mkdtempSync(join(tmpdir(), 'leasehold-tokens-')), 'tokens');
  writeFileSync(path, `# dashboards may look\n${read} read dashboards\n\n${operator} operator on-call\n`, { mode: 0o600 });
  return { path, read, operator };
}

/** fetch with a bearer token. */
export function authed(token: string): (url: string, init?: RequestInit) => Promise<Response> {
  return (url, init = {}) => fetch(url, { ...init, headers: { ...(init.headers as Record<string, string>), authorization: `Bearer ${token}` } });
}

/** GET `json` of a URL with a bearer token, failing on anything but 2xx. */
export async function getJson<T>(url: string, token: string): Promise<T> {
  const res = await authed(token)(url);
  if (!res.ok) throw new Error(`${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/**
 * A GET with exactly these headers, Host included (fetch will not send a Host of our choosing):
 * what a DNS-rebinding page's request looks like to the server.
 */
export function rawGet(port: number, path: string, headers: Record<string, string>, method = 'GET'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers, setHost: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}
