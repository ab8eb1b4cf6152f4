--[[
  Records valid entries of one shard: a workload hash each, the shard's active set, and, unless
  the caller owns the shard, the shard's inbox, where the owner finds them. One shard's keys
  only, so it runs on Redis Cluster; intake calls it once per shard of a batch.

  KEYS[1]     the shard's owner hash
  KEYS[2]     the shard's active set
  KEYS[3]     the shard's inbox
  KEYS[4..]   the workload hash of each entry
  ARGV[1]     the caller's replica id
  ARGV[2]     the epoch under which the caller believes it owns the shard, or '0'
  ARGV[3]     '1' when replaying a processing list left by a crash, else '0'
  ARGV[4..]   per entry, three values: id, spec JSON, the nonce of this run

  If the caller owns the shard under that epoch (the fence, as fence.lua checks it), the entries
  are handed to it in-process and the inbox is skipped; otherwise they go through the inbox.

  A replay must never turn into a false "duplicate id": an id already recorded with the very
  same spec while replaying is the same entry recorded before the crash, and is skipped. Outside
  a replay, an id already taken is a duplicate, whatever its spec.

  Returns: one integer per entry: 1 recorded for the caller (it owns the shard), 2 recorded into
  the inbox, 3 already recorded (a replay), 0 duplicate id.
]]
local mine = ARGV[2] ~= '0' and fenced_ok(KEYS[1], ARGV[1], ARGV[2])
local replay = ARGV[3] == '1'
local results = {}
local k = 4
for i = 4, #ARGV, 3 do
  local key = KEYS[k]
  k = k + 1
  local spec = redis.call('HGET', key, 'spec')
  if spec then
    results[#results + 1] = (replay and spec == ARGV[i + 1]) and 3 or 0
  else
    redis.call('HSET', key, 'spec', ARGV[i + 1], 'state', 'queued', 'run', ARGV[i + 2])
    redis.call('SADD', KEYS[2], ARGV[i])
    if mine then
      results[#results + 1] = 1
    else
      redis.call('RPUSH', KEYS[3], ARGV[i])
      results[#results + 1] = 2
    end
  end
end
return results
