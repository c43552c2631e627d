-- Delete one batch of entries from an index, optionally only one variant's.
-- ARGV: 2 index ('lru' or 'expiry'), 3 max score ('+inf' or '(t'), 4 offset,
--       5 batch size, 6 '1' to match a variant, 7 the variant.
-- Returns {deleted, kept, seen}; the caller moves its offset past the kept ones.
local index = ARGV[2] == 'expiry' and EXPIRY or LRU
local members = redis.call('ZRANGEBYSCORE', index, '-inf', ARGV[3],
  'LIMIT', tonumber(ARGV[4]), tonumber(ARGV[5]))
local deleted, kept = 0, 0
for _, key in ipairs(members) do
  local matches = true
  if ARGV[6] == '1' then
    matches = redis.call('HGET', ENTRY .. key, 'variant') == ARGV[7]
  end
  if matches then
    deleted = deleted + remove_entry(key)
  else
    kept = kept + 1
  end
end
return {deleted, kept, #members}
