--[[
  Moves up to ARGV[1] entries from the queue to this consumer's processing list in one step, so an
  entry is always in exactly one of the two lists: a crash after this call loses nothing.

  An entry longer than ARGV[2] bytes is refused here, inside Redis, before it is parsed or even
  sent to the control plane: it goes straight to the dead-letter list as a small record of its
  size and first ARGV[5] bytes, never stored whole. A producer that pushes ten megabytes costs the
  control plane a few hundred bytes.

  KEYS[1]  the queue producers LPUSH onto (oldest entry at the tail)
  KEYS[2]  this consumer's processing list
  KEYS[3]  the dead-letter list
  ARGV[1]  at most this many entries
  ARGV[2]  the largest entry accepted, in bytes
  ARGV[3]  now, ISO 8601 (the dead letter's `at`)
  ARGV[4]  the most dead letters to keep (the oldest go first)
  ARGV[5]  how many leading bytes of an oversized entry its dead letter keeps

  Returns: { the moved entries, oldest first; the dead letters written for oversized entries }
  (both empty when the queue is empty).
]]
local items = redis.call('RPOP', KEYS[1], tonumber(ARGV[1]))
if not items then
  return { {}, {} }
end
local limit = tonumber(ARGV[2])
local head = tonumber(ARGV[5])

-- The first `n` bytes of `s`, cut back to a whole UTF-8 character so the head stays valid text.
local function utf8_head(s, n)
  if #s <= n then return s end
  local cut = n
  -- Step back over continuation bytes (10xxxxxx) to the lead byte of the last character.
  local lead = cut
  while lead > 0 and lead > cut - 3 and bit.band(string.byte(s, lead), 0xC0) == 0x80 do
    lead = lead - 1
  end
  if lead > 0 then
    local b = string.byte(s, lead)
    local len = (b >= 0xF0 and 4) or (b >= 0xE0 and 3) or (b >= 0xC0 and 2) or 1
    if lead + len - 1 > cut then cut = lead - 1 end
  end
  return string.sub(s, 1, cut)
end

local moved = {}
local refused = {}
for _, item in ipairs(items) do
  local size = string.len(item)
  if size > limit then
    local letter = cjson.encode({
      raw = utf8_head(item, head),
      bytes = size,
      reason = 'payload of ' .. size .. ' bytes is over the limit of ' .. limit .. ' bytes',
      at = ARGV[3],
    })
    redis.call('RPUSH', KEYS[3], letter)
    refused[#refused + 1] = letter
  else
    moved[#moved + 1] = item
  end
end
if #refused > 0 then
  redis.call('LTRIM', KEYS[3], -tonumber(ARGV[4]), -1)
end
if #moved > 0 then
  redis.call('LPUSH', KEYS[2], unpack(moved))
end
return { moved, refused }
