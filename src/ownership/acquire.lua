--[[
  Takes a shard's lease if it is free, expired, or already held under this replica id (a lease
  this replica fenced locally but could not release, or a previous incarnation's: the new epoch
  fences the old one's writes either way). A shard held by another replica is never taken
  before its lease expires, by Redis time, so replicas' clocks do not matter.

  KEYS[1]  the shard's owner hash {owner, epoch, expiresAt}
  ARGV[1]  this replica's id
  ARGV[2]  lease TTL, ms

  Returns: the new epoch (> 0), or 0 if another replica holds the shard.

  The epoch is max(previous epoch + 1, Redis time in ms): strictly higher on every acquisition,
  even if the hash was lost (a Redis restart without persistence), so a writer from before can
  never present a current epoch.
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local held = redis.call('HMGET', KEYS[1], 'owner', 'epoch', 'expiresAt')
if held[1] and held[1] ~= ARGV[1] and (tonumber(held[3]) or 0) > now then
  return 0
end
local epoch = math.max((tonumber(held[2]) or 0) + 1, now)
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'epoch', string.format('%d', epoch),
  'expiresAt', string.format('%d', now + tonumber(ARGV[2])))
return epoch
