--[[
  Sets or removes lease deadlines of one shard's workloads, fenced. Deadlines are Redis time, so
  the replicas' clocks never matter. (fence.lua is prepended.)

  KEYS[1]  the shard's owner hash
  KEYS[2]  the shard's lease deadlines (sorted set: member workload id, score deadline in ms)
  ARGV[1]  the writer's replica id
  ARGV[2]  the epoch it holds the shard under
  ARGV[3]  'grant' or 'release'
  ARGV[4..] grant: pairs of (id, lease TTL in ms); release: ids

  Returns: 1, or the error FENCED.
]]
if not fenced_ok(KEYS[1], ARGV[1], ARGV[2]) then return fenced_reply(KEYS[1]) end
if ARGV[3] == 'grant' then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  for i = 4, #ARGV, 2 do
    redis.call('ZADD', KEYS[2], now + tonumber(ARGV[i + 1]), ARGV[i])
  end
else
  for i = 4, #ARGV do
    redis.call('ZREM', KEYS[2], ARGV[i])
  end
end
return 1
