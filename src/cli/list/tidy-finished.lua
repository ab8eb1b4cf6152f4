--[[
  Removes from a shard's index of finished workloads the ids whose record is gone (it expired, or
  was deleted by hand) so that the next listing does not read them again. An id whose record
  exists is left alone: between the listing's read and this script its workload may have been
  submitted again under the same id.

  KEYS[1]     the shard's index of finished workloads (keys.ts `finished`)
  KEYS[2..]   one workload hash per id, all of this shard
  ARGV[1..]   the ids, in the order of KEYS[2..]

  Returns: how many entries were removed.
]]
local removed = 0
for i = 1, #ARGV do
  if redis.call('EXISTS', KEYS[i + 1]) == 0 then
    removed = removed + redis.call('ZREM', KEYS[1], ARGV[i])
  end
end
return removed
