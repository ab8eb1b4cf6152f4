--[[
  The live members, by Redis time. Read-only: expired entries are pruned by heartbeat.lua.

  KEYS[1]  sorted set of members (score: membership expiry, ms)

  Returns: the ids of the members whose membership has not expired.
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')
