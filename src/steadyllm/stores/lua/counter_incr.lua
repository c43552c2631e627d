-- Add to a counter; the TTL is set only by the call that creates the key.
-- KEYS[1] counter; ARGV[1] amount; ARGV[2] TTL in milliseconds, or '' for none.
-- Returns the new total as a string (a Lua number would be truncated to an integer).
local created = redis.call('EXISTS', KEYS[1]) == 0
local total = redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
if created and ARGV[2] ~= '' then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return total
