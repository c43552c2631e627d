-- Shared by the cache scripts (prepended to each when loaded).
--
-- Layout under a prefix P, for an entry whose key is K:
--   P..'cache:entry:'..K   hash: data (JSON), expires_at, hit_count, last_accessed,
--                          variant (absent for none), scope_index; expires at expires_at
--   P..'cache:lru'         zset K -> last_accessed, every entry: LRU eviction, clear
--   P..'cache:expiry'      zset K -> expires_at, every entry: pruning, clear expired
--   P..'cache:scope_of'    hash K -> name of the entry's scope index
--   <scope index>          zset K -> last_accessed, the entries of one (tenant, scope)
-- The hash expires on its own; the indexes are cleaned here. scope_of outlives the
-- hash so that cleaning up after an expired entry still finds its scope index.
-- Key names are built inside the scripts, so this runs on standalone Redis (and
-- Sentinel), not on Redis Cluster.

local function remove_entry(prefix, key)
  local scope_of = prefix .. 'cache:scope_of'
  local scope_index = redis.call('HGET', scope_of, key)
  if scope_index then
    redis.call('ZREM', scope_index, key)
    redis.call('HDEL', scope_of, key)
  end
  redis.call('ZREM', prefix .. 'cache:lru', key)
  redis.call('ZREM', prefix .. 'cache:expiry', key)
  return redis.call('DEL', prefix .. 'cache:entry:' .. key)
end

local function prune_expired(prefix, now, limit)
  local expired = redis.call(
    'ZRANGEBYSCORE', prefix .. 'cache:expiry', '-inf', now, 'LIMIT', 0, limit)
  for _, key in ipairs(expired) do
    remove_entry(prefix, key)
  end
end
