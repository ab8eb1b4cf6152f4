import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { heartbeatRoute } from '../../src/inspector/control-routes.js';
import { HeartbeatTokens } from '../../src/lease/heartbeat-tokens.js';

/** Calls the route as the HTTP server would, and returns the status it answered. */
async function beat(route: ReturnType<typeof heartbeatRoute>, id: string, token: string): Promise<number> {
  let status = 0;
  const res = { writeHead: (code: number) => ((status = code), res), end: () => res } as unknown as ServerResponse;
  const req = { method: 'POST', headers: { authorization: `Bearer ${token}` } } as IncomingMessage;
  await route(req, res, new URL(`http://localhost/v1/workloads/${id}/heartbeat`));
  return status;
}

describe('heartbeat route (TCP, trusted and self workloads)', () => {
  it('rate-limits heartbeats per workload: a spamming workload gets 429s, its neighbour is still served', async () => {
    const tokens = new HeartbeatTokens('secret', () => 'run1');
    let clock = 0;
    let renewed = 0;
    const route = heartbeatRoute({ tokens, heartbeat: () => (renewed++, true), heartbeatRate: { perSecond: 1, burst: 5 }, now: () => clock });
    const statuses: number[] = [];
    for (let i = 0; i < 100; i++) statuses.push(await beat(route, 'spammer', tokens.tokenFor('spammer', 'run1')));
    assert.equal(statuses.filter((s) => s === 204).length, 5);
    assert.equal(statuses.filter((s) => s === 429).length, 95);
    assert.equal(renewed, 5, 'only what the bucket allowed reached the lease');
    assert.equal(await beat(route, 'neighbour', tokens.tokenFor('neighbour', 'run1')), 204);
    clock += 1_000;
    assert.equal(await beat(route, 'spammer', tokens.tokenFor('spammer', 'run1')), 204, 'one more a second later');
    assert.equal(await beat(route, 'spammer', tokens.tokenFor('spammer', 'run1')), 429);
    // A wrong token neither renews nor uses up the workload's bucket.
    for (let i = 0; i < 20; i++) assert.equal(await beat(route, 'neighbour', 'forged'), 401);
    assert.equal(await beat(route, 'neighbour', tokens.tokenFor('neighbour', 'run1')), 204);
  });
});
