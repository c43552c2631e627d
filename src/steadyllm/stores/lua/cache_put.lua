-- Insert or replace an entry, prune expired entries, then evict the least recently
-- used ones when there are more than max_entries.
-- KEYS[4] the entry's hash, KEYS[5] its scope index.
-- ARGV: 2 key, 3 data, 4 expires_at, 5 hit_count, 6 last_accessed, 7 TTL in ms,
--       8 variant or '', 9 '1' if there is a variant, 10 now, 11 max_entries or '',
--       12 how many expired entries to prune at most.
local entry, scope_index, key = KEYS[4], KEYS[5], ARGV[2]

-- The replaced entry may have lived in another scope index.
remove_entry(key)
redis.call('HSET', entry, 'data', ARGV[3], 'expires_at', ARGV[4], 'hit_count', ARGV[5],
  'last_accessed', ARGV[6], 'scope_index', scope_index)
if ARGV[9] == '1' then
  redis.call('HSET', entry, 'variant', ARGV[8])
end
redis.call('PEXPIRE', entry, ARGV[7])
redis.call('ZADD', LRU, ARGV[6], key)
redis.call('ZADD', EXPIRY, ARGV[4], key)
redis.call('ZADD', scope_index, ARGV[6], key)
redis.call('HSET', SCOPE_OF, key, scope_index)

prune_expired(ARGV[10], tonumber(ARGV[12]))

if ARGV[11] ~= '' then
  local max_entries = tonumber(ARGV[11])
  local count = redis.call('ZCARD', LRU)
  if count > max_entries then
    -- The same size as steadyllm.stores.memory.eviction_size.
    local evict = count - max_entries + math.max(1, math.floor(max_entries / 10))
    local victims = redis.call('ZRANGE', LRU, 0, evict - 1)
    for _, victim in ipairs(victims) do
      remove_entry(victim)
    end
  end
end
return 1
