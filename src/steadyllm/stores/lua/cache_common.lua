-- Shared by the cache scripts (prepended to each when loaded).
--
-- Layout under a prefix P, for an entry whose key is K (S = P..'{cache}:'):
--   S..'entry:'..K         hash: data (JSON), expires_at, hit_count, last_accessed,
--                          variant (absent for none), scope_index; expires at expires_at
--   S..'lru'               zset K -> last_accessed, every entry: LRU eviction, clear
--   S..'expiry'            zset K -> expires_at, every entry: pruning, clear expired
--   S..'scope_of'          hash K -> name of the entry's scope index
--   S..'scope:'..<scope>   zset K -> last_accessed, the entries of one (tenant, scope)
-- The hash expires on its own; the indexes are cleaned here. scope_of outlives the
-- hash so that cleaning up after an expired entry still finds its scope index.
--
-- Every name carries the hash tag '{cache}', so on Redis Cluster all of them live in
-- one slot: a script may then touch entries it finds in an index (eviction, pruning),
-- which it cannot name in KEYS beforehand. Every script gets
-- KEYS[1] lru, KEYS[2] expiry, KEYS[3] scope_of and ARGV[1] the entry name prefix S..'entry:'.

local LRU, EXPIRY, SCOPE_OF, ENTRY = KEYS[1], KEYS[2], KEYS[3], ARGV[1]

local function remove_entry(key)
  local scope_index = redis.call('HGET', SCOPE_OF, key)
  if scope_index then
    redis.call('ZREM', scope_index, key)
    redis.call('HDEL', SCOPE_OF, key)
  end
  redis.call('ZREM', LRU, key)
  redis.call('ZREM', EXPIRY, key)
  return redis.call('DEL', ENTRY .. key)
end

local function prune_expired(now, limit)
  local expired = redis.call('ZRANGEBYSCORE', EXPIRY, '-inf', now, 'LIMIT', 0, limit)
  for _, key in ipairs(expired) do
    remove_entry(key)
  end
end
