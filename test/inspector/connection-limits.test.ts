import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HttpServer } from '../../src/inspector/http-server.js';
import { silentLogger } from '../../src/log.js';
import { startCliControlPlane } from '../helpers/cli.js';
import { eventually } from '../helpers/eventually.js';
import { redisClient, uniquePrefix, useServers } from '../helpers/servers.js';
import { TransitionRecorder } from '../helpers/transitions.js';

const servers = useServers();

/** Opens `n` connections that never send a byte, and counts the ones the server hangs up on. */
async function idleConnections(port: number, n: number): Promise<{ sockets: Socket[]; closedByServer: () => number }> {
  const sockets: Socket[] = [];
  let closed = 0;
  for (let i = 0; i < n; i++) {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    socket.on('end', () => closed++); // the server's FIN; our own destroy() never emits 'end'
    socket.resume(); // read, so that the hang-up is seen
    sockets.push(socket);
    await Promise.race([once(socket, 'connect'), once(socket, 'close')]);
  }
  return { sockets, closedByServer: () => closed };
}

describe('HTTP connection limits', () => {
  it('holds no more idle connections than its bound, so workloads keep starting under a low file-descriptor limit', async () => {
    const redis = redisClient(servers().redis.url);
    const recorder = await TransitionRecorder.start(servers().nats.url);
    const stateDir = mkdtempSync(join(tmpdir(), 'leasehold-fd-'));
    const prefix = uniquePrefix();
    // 256 descriptors for the whole control plane and 600 connections knocking: without a bound
    // on connections, the HTTP server takes every descriptor and spawning a workload fails.
    const plane = await startCliControlPlane(
      ['--redis', servers().redis.url, '--nats', servers().nats.url, '--key-prefix', prefix, '--http-port', '0', '--state-dir', stateDir, '--http-max-connections', '64'],
      { fdLimit: 256 },
    );
    let idle: Awaited<ReturnType<typeof idleConnections>> | null = null;
    try {
      const port = Number(/"http":(\d+)/.exec(plane.logs())![1]);
      idle = await idleConnections(port, 600);

      const ids = Array.from({ length: 8 }, (_, i) => `while-flooded-${i}`);
      await redis.lpush(`${prefix}workload_queue`, ...ids.map((id) => JSON.stringify({ id, type: 'trusted', image: 'alpine', cmd: ['true'] })));
      await recorder.untilEnded(ids);
      assert.deepEqual(
        ids.map((id) => recorder.ended(id)!.reason),
        ids.map(() => 'completed'),
        'every workload started and finished while the connections were held',
      );
      assert.ok(idle.closedByServer() >= 600 - 64, `the server hung up on only ${idle.closedByServer()} of 600`);

      for (const socket of idle.sockets) socket.destroy();
      await eventually(async () => assert.equal((await fetch(`http://127.0.0.1:${port}/livez`)).status, 200));
    } finally {
      for (const socket of idle?.sockets ?? []) socket.destroy();
      plane.child.kill('SIGTERM');
      await plane.exited;
      await recorder.close();
      await redis.quit();
      rmSync(stateDir, { recursive: true, force: true });
    }
  });

  it('drops a client that sends nothing, or its headers a byte at a time', async () => {
    const server = new HttpServer([], silentLogger, { limits: { headersTimeoutMs: 300 } });
    const port = await server.listen(0, '127.0.0.1');
    const sockets: Socket[] = [];
    try {
      const silent = connect(port, '127.0.0.1');
      const slow = connect(port, '127.0.0.1');
      sockets.push(silent, slow);
      let slowGot = '';
      for (const socket of sockets) {
        socket.on('error', () => undefined);
        socket.setEncoding('utf8');
      }
      silent.resume();
      slow.on('data', (chunk: string) => (slowGot += chunk));
      await Promise.all(sockets.map((socket) => once(socket, 'connect')));
      slow.write('GET /livez HTTP/1.1\r\n');
      const drip = setInterval(() => slow.writable && slow.write('x'), 50);
      try {
        await eventually(() => assert.ok(silent.destroyed || silent.readableEnded, 'a silent client keeps its connection'));
        await eventually(() => assert.match(slowGot, /^HTTP\/1.1 408/, 'a slow client keeps its connection'));
      } finally {
        clearInterval(drip);
      }
    } finally {
      for (const socket of sockets) socket.destroy();
      await server.close();
    }
  });
});
