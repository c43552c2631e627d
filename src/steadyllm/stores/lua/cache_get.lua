-- A live entry, counting the hit and moving it to the front of the LRU order.
-- KEYS[4] the entry's hash; ARGV[2] its key; ARGV[3] now (epoch seconds).
-- Returns {data, hit_count, last_accessed}, or nil when missing or expired.
local entry, key, now = KEYS[4], ARGV[2], ARGV[3]
local fields = redis.call('HMGET', entry, 'expires_at', 'scope_index')
if not fields[1] or tonumber(fields[1]) <= tonumber(now) then
  return nil
end
redis.call('HINCRBY', entry, 'hit_count', 1)
redis.call('HSET', entry, 'last_accessed', now)
redis.call('ZADD', LRU, 'XX', now, key)
redis.call('ZADD', fields[2], 'XX', now, key)
return redis.call('HMGET', entry, 'data', 'hit_count', 'last_accessed')
