--[[
  Writes workload snapshots of one shard, fenced: only the shard's current owner, under the epoch
  it holds the shard with, may write. (fence.lua is prepended.)

  KEYS[1]     the shard's owner hash
  KEYS[2]     the shard's active set
  KEYS[3..]   one workload hash per write, all of this shard
  KEYS[last]  the shard's index of finished workloads (a sorted set; keys.ts `finished`)
  ARGV[1]     the writer's replica id
  ARGV[2]     the epoch it holds the shard under
  ARGV[3..]   per write, four values: id, state, snapshot JSON, seq; then per write one more
              value: retention seconds for a final write, or '' for any other

  A snapshot whose seq is lower than the stored one is refused (a stale writer that slipped past
  the fence cannot roll a workload back); the writer's id is kept beside the snapshot (a local
  process can be found again only by the replica that started it); an equal seq is the same snapshot again and is not
  rewritten. A final write keeps the record for its retention; the id stays in the active set
  until its end has been published (the store's `announced`), so that an owner that dies in
  between leaves it to the next owner, which announces it.
  A record that no longer exists (expired, or deleted by hand) is not recreated.
  A final write also indexes the id among the shard's finished workloads, scored by Redis time,
  and trims from that index whatever is older than the retention (its record has expired), so
  that the index never outlives the records it points to; the index key itself expires with the
  longest retention written to it.

  Returns: one integer per write: 1 written, 2 unchanged (same seq), 0 refused (older seq),
  3 no such record. Or the error FENCED when the writer does not hold the shard.
]]
if not fenced_ok(KEYS[1], ARGV[1], ARGV[2]) then return fenced_reply(KEYS[1]) end
local n = #KEYS - 3
local finished = KEYS[#KEYS]
local results = {}
for i = 1, n do
  local key = KEYS[i + 2]
  local a = 3 + (i - 1) * 4
  local id, state, snapshot, seq = ARGV[a], ARGV[a + 1], ARGV[a + 2], tonumber(ARGV[a + 3])
  local retention = ARGV[3 + n * 4 + (i - 1)]
  local stored = redis.call('HMGET', key, 'spec', 'seq')
  if not stored[1] then
    redis.call('SREM', KEYS[2], id)
    results[i] = 3
  else
    local storedSeq = tonumber(stored[2]) or -1
    if seq < storedSeq then
      results[i] = 0
    else
      if seq > storedSeq then
        redis.call('HSET', key, 'state', state, 'snapshot', snapshot, 'seq', seq, 'replica', ARGV[1])
        results[i] = 1
      else
        results[i] = 2
      end
      if retention ~= '' then
        redis.call('EXPIRE', key, tonumber(retention))
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        redis.call('ZADD', finished, now, id)
        redis.call('ZREMRANGEBYSCORE', finished, '-inf', now - tonumber(retention) * 1000)
        if redis.call('TTL', finished) < tonumber(retention) then redis.call('EXPIRE', finished, tonumber(retention)) end
      end
    end
  end
end
return results
