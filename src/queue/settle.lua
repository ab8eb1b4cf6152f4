--[[
  Ends a batch once every valid entry of it is recorded (record.lua, one call per shard): writes
  the dead letters of the refused entries and empties this replica's processing list, atomically.
  A crash before this leaves the entries in the processing list, and the replay records nothing
  twice (record.lua). All keys share the queue's hash tag: one slot on Redis Cluster.

  KEYS[1]  this replica's processing list
  KEYS[2]  the dead-letter list
  ARGV[1]  the most dead letters to keep (the oldest go first)
  ARGV[2..] dead letters to push

  Returns: the number of dead letters pushed.
]]
for i = 2, #ARGV do
  redis.call('RPUSH', KEYS[2], ARGV[i])
end
if #ARGV > 1 then
  redis.call('LTRIM', KEYS[2], -tonumber(ARGV[1]), -1)
end
redis.call('DEL', KEYS[1])
return #ARGV - 1
