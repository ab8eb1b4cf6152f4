import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { startTestPlane, type TestPlane } from '../helpers/control-plane.js';
import { authed, generatedToken, rawGet, tokensFile } from '../helpers/http-api.js';
import { redisClient, useServers } from '../helpers/servers.js';
import { TransitionRecorder } from '../helpers/transitions.js';

const servers = useServers();

/** Every route that shows workload data; each must refuse a caller with no token. */
const DATA_ROUTES = ['/api/machine', '/api/summary', '/api/workloads', '/api/workloads/leaky', '/api/workloads/leaky/timeline', '/api/workloads/leaky/logs', '/api/stream'];

/** Reads the first bytes of the event stream, then hangs up; the status says whether it was let in. */
async function openStream(url: string, token?: string): Promise<{ status: number; first: string }> {
  const abort = new AbortController();
  const res = await fetch(url, { signal: abort.signal, headers: token ? { authorization: `Bearer ${token}` } : {} });
  let first = '';
  if (res.ok && res.body) {
    const reader = res.body.getReader();
    const chunk = await reader.read();
    first = Buffer.from(chunk.value ?? []).toString('utf8');
  }
  abort.abort();
  await res.body?.cancel().catch(() => undefined);
  return { status: res.status, first };
}

describe('HTTP API authentication', () => {
  let tp: TestPlane;
  let redis: Redis;
  let recorder: TransitionRecorder;
  let base: string;
  const tokens = tokensFile();

  before(async () => {
    redis = redisClient(servers().redis.url);
    recorder = await TransitionRecorder.start(servers().nats.url);
    tp = await startTestPlane(servers(), { httpTokensFile: tokens.path, publicUrl: 'http://leasehold.internal' });
    base = `http://127.0.0.1:${tp.plane.httpPort}`;
    await redis.lpush(
      tp.plane.keys.queue,
      JSON.stringify({ id: 'leaky', type: 'trusted', image: 'alpine', cmd: ['sh', '-c', 'echo SECRET_TOKEN=$SECRET_TOKEN'], env: { SECRET_TOKEN: 'hunter2' } }),
    );
    await recorder.untilEnded(['leaky']);
  });
  after(async () => {
    await tp?.stop();
    await recorder?.close();
    await redis?.quit();
  });

  it('refuses the API, the logs and the event stream to a caller with no token or a wrong one', async () => {
    for (const path of DATA_ROUTES) {
      for (const authorization of [undefined, 'Bearer not-a-token-at-all', `Basic ${tokens.operator}`, `Bearer ${tokens.operator.slice(0, -1)}`]) {
        const res = await fetch(`${base}${path}`, { headers: authorization ? { authorization } : {} });
        const body = await res.text();
        assert.equal(res.status, 401, `${path} with ${authorization ?? 'no token'}`);
        assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer/);
        assert.doesNotMatch(body, /hunter2|leaky|queued/, `${path} leaks nothing when refused`);
      }
    }
  });

  it("keeps a workload's secrets in its logs from anyone without an operator token", async () => {
    const none = await fetch(`${base}/api/workloads/leaky/logs`);
    assert.equal(none.status, 401);
    assert.doesNotMatch(await none.text(), /hunter2/);
    const read = await authed(tokens.read)(`${base}/api/workloads/leaky/logs`);
    assert.equal(read.status, 403, 'a read token does not open logs');
    assert.match(read.headers.get('www-authenticate') ?? '', /insufficient_scope/);
    assert.doesNotMatch(await read.text(), /hunter2/);
    const operator = await authed(tokens.operator)(`${base}/api/workloads/leaky/logs`);
    assert.equal(operator.status, 200);
    assert.match(((await operator.json()) as { logs: string }).logs, /SECRET_TOKEN=hunter2/);
  });

  it('lets a read token see states, timelines and the event stream', async () => {
    const read = authed(tokens.read);
    for (const path of ['/api/machine', '/api/summary', '/api/workloads', '/api/workloads/leaky', '/api/workloads/leaky/timeline']) {
      assert.equal((await read(`${base}${path}`)).status, 200, path);
    }
    const one = (await (await read(`${base}/api/workloads/leaky`)).json()) as { state: string };
    assert.equal(one.state, 'tornDown');
    const stream = await openStream(`${base}/api/stream`, tokens.read);
    assert.equal(stream.status, 200);
    assert.match(stream.first, /^event: tick/);
    assert.equal((await openStream(`${base}/api/stream`)).status, 401);
  });

  it('bounds how many event streams are open at once', async () => {
    const limited = await startTestPlane(servers(), { httpTokensFile: tokens.path, httpMaxStreams: 2 });
    const url = `http://127.0.0.1:${limited.plane.httpPort}/api/stream`;
    const held: AbortController[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        const abort = new AbortController();
        held.push(abort);
        assert.equal((await fetch(url, { signal: abort.signal, headers: { authorization: `Bearer ${tokens.read}` } })).status, 200);
      }
      const third = await authed(tokens.read)(url);
      assert.equal(third.status, 503, 'the third stream waits its turn');
      assert.equal(third.headers.get('retry-after'), '5');
      held.pop()!.abort();
      // The server sees the hang-up a moment later; then a stream is free again.
      for (let i = 0; ; i++) {
        const again = await openStream(url, tokens.read);
        if (again.status === 200) break;
        assert.ok(i < 100, 'a closed stream never freed its place');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    } finally {
      for (const abort of held) abort.abort();
      await limited.stop();
    }
  });

  it('refuses a Host name it does not know, as a DNS-rebinding page would send', async () => {
    const port = tp.plane.httpPort;
    const auth = { authorization: `Bearer ${tokens.operator}` };
    for (const host of [`evil.example:${port}`, 'evil.example', `localhost.evil.example:${port}`, `127.0.0.1:${port + 1}`, `127.0.0.1:${port}@evil.example`, '']) {
      const res = await rawGet(port, '/api/workloads/leaky/logs', { host, ...auth });
      assert.equal(res.status, 421, `Host: ${host}`);
      assert.doesNotMatch(res.body, /hunter2/);
    }
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, `LOCALHOST:${port}`]) {
      assert.equal((await rawGet(port, '/api/summary', { host, ...auth })).status, 200, `Host: ${host}`);
    }
  });

  it('answers probes whatever the Host, and heartbeats by the public URL, without an API token', async () => {
    const port = tp.plane.httpPort;
    assert.equal((await rawGet(port, '/livez', { host: '10.1.2.3:8080' })).status, 200, 'the kubelet probes by Pod IP');
    assert.equal((await rawGet(port, '/readyz', { host: '10.1.2.3:8080' })).status, 200);
    assert.equal((await rawGet(port, '/metrics', { host: `127.0.0.1:${port}` })).status, 200, '/metrics is public by default');
    // The heartbeat route keeps its own per-workload token: a wrong one is a 401 from that route,
    // reached by the public URL's host, and not a 421 or a demand for an API token.
    const beat = await rawGet(port, '/v1/workloads/leaky/heartbeat', { host: `leasehold.internal:${port}`, authorization: 'Bearer wrong' }, 'POST');
    assert.equal(beat.status, 401);
    assert.match(beat.body, /heartbeat token/);
    assert.equal((await rawGet(port, '/v1/workloads/leaky/heartbeat', { host: `evil.example:${port}` }, 'POST')).status, 421);
  });

  it('sends no-sniff, no-referrer and a deny-all CSP with API answers', async () => {
    const res = await authed(tokens.read)(`${base}/api/summary`);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
    assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'none'.*frame-ancestors 'none'/);
    assert.equal(res.headers.get('cache-control'), 'no-store');
  });
});

describe('HTTP API defaults', () => {
  it('with no tokens file, writes one operator token to a 0600 file and accepts only that', async () => {
    const tp = await startTestPlane(servers());
    const base = `http://127.0.0.1:${tp.plane.httpPort}`;
    try {
      assert.ok(tp.plane.httpTokenFile);
      assert.equal(statSync(tp.plane.httpTokenFile).mode & 0o777, 0o600, 'only the control plane user can read it');
      const token = generatedToken(tp.plane);
      assert.ok(token.length >= 32);
      assert.equal((await fetch(`${base}/api/summary`)).status, 401);
      assert.equal((await authed(token)(`${base}/api/summary`)).status, 200);
      assert.equal((await authed(token)(`${base}/api/workloads/nobody/logs`)).status, 404, 'the generated token is an operator token');
    } finally {
      await tp.stop();
    }
  });

  it('--metrics-auth token puts /metrics behind a read token', async () => {
    const { path, read } = tokensFile();
    const tp = await startTestPlane(servers(), { httpTokensFile: path, metricsAuth: 'token' });
    const url = `http://127.0.0.1:${tp.plane.httpPort}/metrics`;
    try {
      const refused = await fetch(url);
      assert.equal(refused.status, 401);
      assert.doesNotMatch(await refused.text(), /leasehold_/);
      const allowed = await authed(read)(url);
      assert.equal(allowed.status, 200);
      assert.match(await allowed.text(), /^leasehold_queue_depth /m);
    } finally {
      await tp.stop();
    }
  });
});
