--[[
  Extends this replica's lease on a shard, if it still holds it under the same epoch.
  (fence.lua is prepended.)

  KEYS[1]  the shard's owner hash {owner, epoch, expiresAt}
  ARGV[1]  this replica's id
  ARGV[2]  the epoch it holds the shard under
  ARGV[3]  lease TTL, ms

  Returns: 1 if renewed; 0 if the shard is no longer ours under that epoch (the caller treats
  the shard as lost at once).
]]
if not fenced_ok(KEYS[1], ARGV[1], ARGV[2]) then
  return 0
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], 'expiresAt', string.format('%d', now + tonumber(ARGV[3])))
return 1
