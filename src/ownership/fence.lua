--[[
  The fence every write for a shard starts with. Not a script on its own: `loadFencedLua`
  prepends it to a script, so that the check and the write happen in one atomic step (a lock
  checked before writing is not a fence: the writer may be paused between the two).

  fenced_ok(lease_key, owner, epoch)
    lease_key  the shard's owner hash (shardKeys(prefix, shard).owner); it must be one of the
               script's KEYS, so the script stays in the shard's Redis Cluster slot
    owner      the writer's replica id
    epoch      the epoch the writer was granted the shard under
    Returns: true if the shard is held by `owner` under exactly `epoch`. A replica that lost the
    shard (someone acquired it since, bumping the epoch) or released it gets false.

  fenced_reply(lease_key)
    Returns: the error reply `FENCED <key> is held by <owner> under epoch <n>`, which the
    adapter maps to FencedError.

  A write script begins:
    if not fenced_ok(KEYS[1], ARGV[1], ARGV[2]) then return fenced_reply(KEYS[1]) end
]]
local function fenced_ok(lease_key, owner, epoch)
  local held = redis.call('HMGET', lease_key, 'owner', 'epoch')
  return held[1] == owner and held[2] ~= false and tonumber(held[2]) == tonumber(epoch)
end

local function fenced_reply(lease_key)
  local held = redis.call('HMGET', lease_key, 'owner', 'epoch')
  return redis.error_reply('FENCED ' .. lease_key .. ' is held by ' .. tostring(held[1] or 'nobody') .. ' under epoch ' .. tostring(held[2] or 0))
end
