-- Start a shadow test unless one runs: one step, so two replicas cannot both start.
-- KEYS[1] the test's hash; ARGV[1] the session id, ARGV[2] its JSON. Returns 1 if started.
if redis.call('HEXISTS', KEYS[1], 'id') == 1 then
  return 0
end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'session', ARGV[2])
return 1
