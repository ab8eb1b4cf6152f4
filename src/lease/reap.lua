--[[
  Finds leases whose deadline has passed and that nobody renewed.

  KEYS[1]  sorted set of lease deadlines (member: workload id, score: deadline in ms)
  ARGV[1]  now, in ms
  ARGV[2]  at most this many ids per call
  ARGV[3]  lease key prefix  (lease key = prefix .. id .. suffix)
  ARGV[4]  lease key suffix
  ARGV[5]  ms to grant a lease key that exists without a TTL

  Returns: the ids whose lease lapsed; they are removed from the set.

  Cost: O(log n + due). Only entries already due are read. A workload may renew its own key with
  a plain `SET session:<id>:heartbeat OK EX 30`, which leaves its score stale; such an entry is
  re-scored from the key's remaining TTL here instead of being reported.

  The lease keys are built in the script, so this assumes a single Redis, not a cluster.
]]
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local now = tonumber(ARGV[1])
local lapsed = {}
for _, id in ipairs(due) do
  local ttl = redis.call('PTTL', ARGV[3] .. id .. ARGV[4])
  if ttl > 0 then
    redis.call('ZADD', KEYS[1], now + ttl, id)
  elseif ttl == -1 then
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[5]), id)
  else
    redis.call('ZREM', KEYS[1], id)
    lapsed[#lapsed + 1] = id
  end
end
return lapsed
