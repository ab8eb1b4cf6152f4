--[[
  Retries dead letters: each one still on the dead-letter list is removed from it and its payload
  pushed onto the queue, in one step, so a letter is never both retried and kept, nor lost between
  the two. A letter no longer on the list (trimmed, or retried by someone else meanwhile) is left
  alone and reported, so that nothing is pushed twice.

  KEYS[1]  the dead-letter list
  KEYS[2]  the queue producers LPUSH onto
  ARGV[2i-1]  a dead letter exactly as stored (its JSON)
  ARGV[2i]    the payload to push for it (its `raw`, whole)

  Returns: one integer per letter, in order: 1 retried, 0 no longer on the list.
]]
local done = {}
for i = 1, #ARGV, 2 do
  if redis.call('LREM', KEYS[1], 1, ARGV[i]) == 1 then
    redis.call('LPUSH', KEYS[2], ARGV[i + 1])
    done[#done + 1] = 1
  else
    done[#done + 1] = 0
  end
end
return done
