--[[
  The first of the reaper's two steps for one shard: the ids whose lease deadline has passed, by
  Redis time. Nothing is changed: the caller reads the lease keys (which live in other slots on
  Redis Cluster) and then confirms with reap-confirm.lua. Fenced, so that only the shard's owner
  reaps it. (fence.lua is prepended.)

  KEYS[1]  the shard's owner hash
  KEYS[2]  the shard's lease deadlines
  ARGV[1]  the owner's replica id
  ARGV[2]  the epoch it holds the shard under
  ARGV[3]  at most this many ids

  Returns: the due ids (O(log n + due)), or the error FENCED.
]]
if not fenced_ok(KEYS[1], ARGV[1], ARGV[2]) then return fenced_reply(KEYS[1]) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
