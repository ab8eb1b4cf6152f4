--[[
  Moves up to ARGV[1] entries from the queue to this consumer's processing list in one step, so an
  entry is always in exactly one of the two lists: a crash after this call loses nothing.

  KEYS[1]  the queue producers LPUSH onto (oldest entry at the tail)
  KEYS[2]  this consumer's processing list
  ARGV[1]  at most this many entries

  Returns: the moved entries, oldest first (empty when the queue is empty).
]]
local items = redis.call('RPOP', KEYS[1], tonumber(ARGV[1]))
if not items then
  return {}
end
redis.call('LPUSH', KEYS[2], unpack(items))
return items
