--[[
  Leaves the membership (graceful stop), so peers count one replica fewer at once, and tells
  them through the changes counter. A successor incarnation holding the id is left alone.

  KEYS[1]  sorted set of members
  KEYS[2]  this replica's membership key
  KEYS[3]  the changes counter
  ARGV[1]  replica id
  ARGV[2]  this process's incarnation

  Returns: 1 if it left, 0 if the id was not held by this incarnation (already expired).
]]
redis.call('INCR', KEYS[3])
if redis.call('GET', KEYS[2]) ~= ARGV[2] then
  return 0
end
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[1], ARGV[1])
return 1
