--[[
  Gives a shard up, if this replica still holds it under the same epoch. The epoch stays, so
  the next acquisition gets a higher one. (fence.lua is prepended.)

  KEYS[1]  the shard's owner hash {owner, epoch, expiresAt}
  ARGV[1]  this replica's id
  ARGV[2]  the epoch it holds the shard under

  Returns: 1 if released, 0 if it was not ours any more (nothing changed).
]]
if not fenced_ok(KEYS[1], ARGV[1], ARGV[2]) then
  return 0
end
redis.call('HDEL', KEYS[1], 'owner', 'expiresAt')
return 1
