-- Replace a breaker's state only if nobody changed it since it was read (compare and set).
-- KEYS[1] the breaker's hash; ARGV[1] the version read ('0' when missing);
-- ARGV[2] the new state (JSON); ARGV[3] TTL in milliseconds.
-- Returns 1 when written, 0 when the version moved on (the caller reads and tries again).
local current = redis.call('HGET', KEYS[1], 'version') or '0'
if current ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'version', tostring(tonumber(current) + 1))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
