--[[
  The second of the reaper's two steps: given what the lease keys said, re-scores the leases
  that were renewed behind the deadline's back (a workload may `SET session:<id>:heartbeat OK EX 30`
  itself, and a heartbeat sent to another replica renews only the key) and removes and reports
  the lapsed ones. An id whose deadline moved since the first step (the owner renewed it in
  between) is left alone. (fence.lua is prepended.)

  KEYS[1]  the shard's owner hash
  KEYS[2]  the shard's lease deadlines
  ARGV[1]  the owner's replica id
  ARGV[2]  the epoch it holds the shard under
  ARGV[3]  ms to grant a lease key that exists without a TTL
  ARGV[4..] pairs of (id, the lease key's PTTL as read: > 0 remaining ms, -1 no TTL, -2 gone)

  Returns: the ids whose lease lapsed (removed from the set), or the error FENCED.
]]
if not fenced_ok(KEYS[1], ARGV[1], ARGV[2]) then return fenced_reply(KEYS[1]) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lapsed = {}
for i = 4, #ARGV, 2 do
  local id, ttl = ARGV[i], tonumber(ARGV[i + 1])
  local score = tonumber(redis.call('ZSCORE', KEYS[2], id))
  if score and score <= now then
    if ttl > 0 then
      redis.call('ZADD', KEYS[2], now + ttl, id)
    elseif ttl == -1 then
      redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), id)
    else
      redis.call('ZREM', KEYS[2], id)
      lapsed[#lapsed + 1] = id
    end
  end
end
return lapsed
