--[[
  Moves a dead replica's processing list onto this replica's, so that what it popped but never
  recorded is recorded by a survivor (as a replay: nothing twice, no false duplicate). Only
  called for a replica whose membership has expired. All keys share the queue's hash tag.

  KEYS[1]  the dead replica's processing list
  KEYS[2]  this replica's processing list
  KEYS[3]  the set of replicas that have processing lists
  ARGV[1]  the dead replica's id

  Returns: how many entries moved.
]]
local moved = 0
while redis.call('RPOPLPUSH', KEYS[1], KEYS[2]) do
  moved = moved + 1
end
redis.call('SREM', KEYS[3], ARGV[1])
return moved
