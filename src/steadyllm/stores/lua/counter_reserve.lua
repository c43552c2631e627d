-- Add to a counter only if the total stays at or under the limit: check and add in
-- one step, so no two callers can both take the last unit.
-- KEYS[1] counter; ARGV[1] amount; ARGV[2] limit; ARGV[3] TTL in ms, or '' for none.
-- Returns {granted (1 or 0), total as a string}.
local current_text = redis.call('GET', KEYS[1]) or '0'
local amount = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
-- The same float tolerance as steadyllm.stores.memory.exceeds_limit.
if tonumber(current_text) + amount > limit + 1e-9 * math.max(1, math.abs(limit)) then
  return {0, current_text}
end
local created = current_text == '0' and redis.call('EXISTS', KEYS[1]) == 0
local total = redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
if created and ARGV[3] ~= '' then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return {1, total}
