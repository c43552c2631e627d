-- Replace the running shadow test's definition (a ramp step), if it is still the
-- one named. KEYS[1] the test's hash; ARGV[1] the session id, ARGV[2] its new JSON.
if redis.call('HGET', KEYS[1], 'id') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'session', ARGV[2])
  return 1
end
return 0
