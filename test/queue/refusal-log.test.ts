import { createKeys } from '../../src/keys.js';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCliControlPlane } from '../helpers/cli.js';
import { eventually } from '../helpers/eventually.js';
import { redisClient, uniquePrefix, useServers } from '../helpers/servers.js';

const servers = useServers();

interface LogLine {
  msg: string;
  kind?: string;
  reason?: string;
  unlogged?: number;
  byKind?: Record<string, number>;
}

describe('the log of refused queue entries', () => {
  it('stays small under a flood of refused entries with long reasons, and still counts every one', { timeout: 120_000 }, async () => {
    const redis = redisClient(servers().redis.url);
    const stateDir = mkdtempSync(join(tmpdir(), 'leasehold-refusals-'));
    const prefix = uniquePrefix();
    const plane = await startCliControlPlane(['--redis', servers().redis.url, '--nats', servers().nats.url, '--key-prefix', prefix, '--http-port', '0', '--state-dir', stateDir]);
    try {
      const startedAt = plane.logs().length;
      // Each label key is 300 characters: its reason runs to kilobytes.
      const longReason = JSON.stringify({ id: 'x', type: 'trusted', image: 'a', cmd: ['a'], labels: Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`-${'k'.repeat(300)}${i}`, 'v'])) });
      const entries = Array.from({ length: 3_000 }, (_, i) => [longReason, '{"id":', '[1]'][i % 3]!);
      for (let i = 0; i < entries.length; i += 500) await redis.lpush(`${prefix}workload_queue`, ...entries.slice(i, i + 500));
      await eventually(async () => assert.equal(await redis.llen(createKeys(prefix).dead), 3_000), 60_000);

      const lines = () =>
        plane
          .logs()
          .slice(startedAt)
          .split('\n')
          .filter((line) => line.startsWith('{'))
          .map((line) => JSON.parse(line) as LogLine);
      const refused = () => lines().filter((line) => line.msg === 'queue entry refused; see the dead-letter list');
      const summaries = () => lines().filter((line) => line.unlogged !== undefined);
      const counted = () => refused().length + summaries().reduce((sum, line) => sum + line.unlogged!, 0);
      // The summary of what went unlogged comes at the end of its interval (10 s).
      await eventually(() => assert.equal(counted(), 3_000), 30_000);

      assert.ok(refused().length <= 40, `${refused().length} lines, one per refused entry`);
      for (const line of refused()) assert.ok(Buffer.byteLength(line.reason!) <= 1_024, `a reason of ${Buffer.byteLength(line.reason!)} bytes`);
      assert.ok(refused().some((line) => line.reason!.endsWith('…(cut)')), 'a long reason is cut, and says so');
      const byKind: Record<string, number> = {};
      for (const line of refused()) byKind[line.kind!] = (byKind[line.kind!] ?? 0) + 1;
      for (const line of summaries()) for (const [kind, n] of Object.entries(line.byKind!)) byKind[kind] = (byKind[kind] ?? 0) + n;
      assert.deepEqual(byKind, { invalidSpec: 1_000, invalidJson: 1_000, notAnObject: 1_000 });
      assert.ok(Buffer.byteLength(plane.logs().slice(startedAt)) < 64 * 1024, `${Buffer.byteLength(plane.logs().slice(startedAt))} bytes of log`);
    } finally {
      plane.child.kill('SIGTERM');
      await plane.exited;
      await redis.quit();
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
