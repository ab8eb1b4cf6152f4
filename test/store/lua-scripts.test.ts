import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { startRedis, type OwnedServer } from '../../src/dev/servers.js';
import { defineScripts } from '../../src/lua.js';

describe('Lua scripts (defineScripts)', () => {
  let server: OwnedServer;
  let redis: Redis;
  before(async () => {
    server = await startRedis();
    // As the control plane's command connection is: auto-pipelined.
    redis = new Redis(server.url, { enableAutoPipelining: true });
  });
  after(async () => {
    redis.disconnect();
    await server.stop();
  });

  const scripts = () =>
    defineScripts(redis, {
      fixedKeys: { numberOfKeys: 1, lua: "return redis.call('INCRBY', KEYS[1], ARGV[1])" },
      anyKeys: { lua: "local n = 0 for _, k in ipairs(KEYS) do n = n + redis.call('INCR', k) end return n" },
      refuses: { numberOfKeys: 0, lua: "return redis.error_reply('REFUSED by the script')" },
    });

  it('runs with a fixed key count, or with the count first', async () => {
    const lua = scripts();
    assert.equal(await lua.fixedKeys('lua:a', 5), 5);
    assert.equal(await lua.anyKeys(2, 'lua:b', 'lua:c'), 2);
  });

  it('sends the hash, not the text, once Redis knows the script', async () => {
    const lua = scripts();
    await lua.fixedKeys('lua:d', 1);
    const before = await evalCalls(redis);
    for (let i = 0; i < 20; i++) await lua.fixedKeys('lua:d', 1);
    const after = await evalCalls(redis);
    assert.equal(after.evalsha - before.evalsha, 20);
    assert.equal(after.eval - before.eval, 0);
  });

  it('loads the script again when Redis forgot it (a restart or failover emptied its cache)', async () => {
    const lua = scripts();
    assert.equal(await lua.fixedKeys('lua:e', 1), 1);
    await redis.script('FLUSH');
    assert.equal(await lua.fixedKeys('lua:e', 1), 2);
    const [known] = (await redis.script('EXISTS', sha1("return redis.call('INCRBY', KEYS[1], ARGV[1])"))) as number[];
    assert.equal(known, 1, 'cached again after the fallback');
  });

  it("passes a script's own error on, without running it twice", async () => {
    const lua = scripts();
    await assert.rejects(lua.refuses(), /REFUSED by the script/); // the first call loads it
    const before = await evalCalls(redis);
    await assert.rejects(lua.refuses(), /REFUSED by the script/);
    const after = await evalCalls(redis);
    assert.equal(after.eval - before.eval, 0, 'an error other than NOSCRIPT is not retried with EVAL');
  });
});

async function evalCalls(redis: Redis): Promise<{ eval: number; evalsha: number }> {
  const info = await redis.info('commandstats');
  const calls = (name: string) => Number(new RegExp(`^cmdstat_${name}:calls=(\\d+)`, 'm').exec(info)?.[1] ?? 0);
  return { eval: calls('eval'), evalsha: calls('evalsha') };
}

const sha1 = (lua: string) => createHash('sha1').update(lua).digest('hex');
