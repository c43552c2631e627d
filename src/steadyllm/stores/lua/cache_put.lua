-- Insert or replace an entry, prune expired entries, then evict the least recently
-- used ones when there are more than max_entries.
-- ARGV: 1 prefix, 2 key, 3 scope index, 4 data, 5 expires_at, 6 hit_count,
--       7 last_accessed, 8 TTL in ms, 9 variant or '', 10 '1' if there is a variant,
--       11 now, 12 max_entries or '', 13 how many expired entries to prune at most.
local prefix, key, scope_index = ARGV[1], ARGV[2], ARGV[3]
local entry = prefix .. 'cache:entry:' .. key

-- The replaced entry may have lived in another scope index.
remove_entry(prefix, key)
redis.call('HSET', entry, 'data', ARGV[4], 'expires_at', ARGV[5], 'hit_count', ARGV[6],
  'last_accessed', ARGV[7], 'scope_index', scope_index)
if ARGV[10] == '1' then
  redis.call('HSET', entry, 'variant', ARGV[9])
end
redis.call('PEXPIRE', entry, ARGV[8])
redis.call('ZADD', prefix .. 'cache:lru', ARGV[7], key)
redis.call('ZADD', prefix .. 'cache:expiry', ARGV[5], key)
redis.call('ZADD', scope_index, ARGV[7], key)
redis.call('HSET', prefix .. 'cache:scope_of', key, scope_index)

prune_expired(prefix, ARGV[11], tonumber(ARGV[13]))

if ARGV[12] ~= '' then
  local max_entries = tonumber(ARGV[12])
  local count = redis.call('ZCARD', prefix .. 'cache:lru')
  if count > max_entries then
    -- The same size as steadyllm.stores.memory.eviction_size.
    local evict = count - max_entries + math.max(1, math.floor(max_entries / 10))
    local victims = redis.call('ZRANGE', prefix .. 'cache:lru', 0, evict - 1)
    for _, victim in ipairs(victims) do
      remove_entry(prefix, victim)
    end
  end
end
return 1
