--[[
  Who holds a shard now, by Redis time. Read-only.

  KEYS[1]  the shard's owner hash {owner, epoch, expiresAt}

  Returns: {owner, epoch} if the lease is held and not expired, else an empty array.
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local held = redis.call('HMGET', KEYS[1], 'owner', 'epoch', 'expiresAt')
if held[1] and (tonumber(held[3]) or 0) > now then
  return { held[1], held[2] }
end
return {}
