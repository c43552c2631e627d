-- End the running shadow test, if it is still the one named: one step, so two
-- replicas promoting or stopping at once cannot both act on it.
-- KEYS[1] the test's hash; ARGV[1] the session id. Returns 1 when this call ended it.
if redis.call('HGET', KEYS[1], 'id') == ARGV[1] then
  redis.call('HDEL', KEYS[1], 'id', 'session')
  return 1
end
return 0
