--[[
  Takes the ids other replicas recorded into a shard since its owner last looked, fenced: a
  replica that lost the shard cannot take (and drop) what the new owner must see.
  (fence.lua is prepended.)

  KEYS[1]  the shard's owner hash
  KEYS[2]  the shard's inbox (a list of workload ids)
  ARGV[1]  the owner's replica id
  ARGV[2]  the epoch it holds the shard under
  ARGV[3]  at most this many ids

  Returns: the ids, oldest first (an empty list when there are none), or the error FENCED.
]]
if not fenced_ok(KEYS[1], ARGV[1], ARGV[2]) then return fenced_reply(KEYS[1]) end
return redis.call('LPOP', KEYS[2], tonumber(ARGV[3])) or {}
