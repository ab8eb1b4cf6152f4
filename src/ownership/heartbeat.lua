--[[
  Joins or renews this replica's membership. A live replica has a key with a TTL and an entry in
  a sorted set scored by that expiry (Redis time), so listing live members reads only them;
  expired entries are pruned here.

  KEYS[1]  sorted set of members (score: membership expiry, ms)
  KEYS[2]  this replica's membership key (value: the incarnation holding the id)
  KEYS[3]  the installation's shard count
  KEYS[4]  the changes counter, bumped when a replica joins
  ARGV[1]  replica id
  ARGV[2]  incarnation: random per process, so two live processes cannot share one id
  ARGV[3]  membership TTL, ms
  ARGV[4]  this replica's shard count

  Returns: 1 if the replica joined now, 0 if it was already a member.
  Errors:  SHARD_COUNT if the installation uses another shard count (set by the first replica,
           kept until deleted by hand); REPLICA_TAKEN if another live process holds the id.
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local count = redis.call('GET', KEYS[3])
if not count then
  redis.call('SET', KEYS[3], ARGV[4])
elseif count ~= ARGV[4] then
  return redis.error_reply('SHARD_COUNT this installation uses ' .. count .. ' shards; this replica is configured with ' .. ARGV[4])
end
local holder = redis.call('GET', KEYS[2])
if holder and holder ~= ARGV[2] then
  return redis.error_reply('REPLICA_TAKEN replica id ' .. ARGV[1] .. ' is held by another live process')
end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local joined = redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
if joined == 1 then
  redis.call('INCR', KEYS[4])
end
return joined
