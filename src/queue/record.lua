--[[
  Records a batch of popped entries durably and empties the processing list, atomically: either
  every entry is recorded (or dead-lettered) and the processing list is cleared, or nothing
  happened and the entries are still in the processing list for the next start to recover.
  The processing list therefore holds entries only until they are recorded, never for a
  workload's lifetime.

  KEYS[1]  this consumer's processing list
  KEYS[2]  the dead-letter list
  KEYS[3]  the set of active workload ids
  ARGV[1]  workload hash key prefix (key = prefix .. id)
  ARGV[2]  n, the number of valid entries
  ARGV[3]  the most dead letters to keep (the oldest go first), so a flood of garbage is bounded
  ARGV[4 .. 3+4n]  per valid entry: id, spec JSON, the nonce of this run (its heartbeat tokens
                   are bound to it), the dead letter to push if the id is taken
  ARGV[4+4n ..]    dead letters for the invalid entries

  Returns: one integer per valid entry, 1 if recorded, 0 if its id was already taken.
]]
local prefix = ARGV[1]
local n = tonumber(ARGV[2])
local keep = tonumber(ARGV[3])
local accepted = {}
local dead = 0
local i = 4
for _ = 1, n do
  local key = prefix .. ARGV[i]
  if redis.call('EXISTS', key) == 0 then
    redis.call('HSET', key, 'spec', ARGV[i + 1], 'state', 'queued', 'run', ARGV[i + 2])
    redis.call('SADD', KEYS[3], ARGV[i])
    accepted[#accepted + 1] = 1
  else
    redis.call('RPUSH', KEYS[2], ARGV[i + 3])
    dead = dead + 1
    accepted[#accepted + 1] = 0
  end
  i = i + 4
end
for j = i, #ARGV do
  redis.call('RPUSH', KEYS[2], ARGV[j])
  dead = dead + 1
end
if dead > 0 then
  redis.call('LTRIM', KEYS[2], -keep, -1)
end
redis.call('DEL', KEYS[1])
return accepted
