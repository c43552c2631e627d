-- Settle a call's reservations: add what it really used, give its slot back.
-- KEYS[i]: rule i's counter. ARGV[1]: the call's member name; then three values per
-- settlement: kind ('sliding' | 'fixed' | 'lease'), slot (the sliding bucket), delta.
-- A counter that has expired is left alone (its period is over).
-- Returns each counter's new value as a string ('0' for a lease or an expired counter).
local member = ARGV[1]
local reply = {}
for i = 1, #KEYS do
  local base = 1 + (i - 1) * 3
  local kind = ARGV[base + 1]
  local total = '0'
  if kind == 'lease' then
    redis.call('ZREM', KEYS[i], member)
  else
    local key = KEYS[i]
    if kind == 'sliding' then key = key .. ':' .. ARGV[base + 2] end
    if redis.call('EXISTS', key) == 1 then
      total = redis.call('INCRBYFLOAT', key, ARGV[base + 3])
    end
  end
  reply[i] = total
end
return reply
