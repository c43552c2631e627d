-- Delete one batch of entries from an index, optionally only one variant's.
-- ARGV: 1 prefix, 2 index name ('lru' or 'expiry'), 3 max score ('+inf' or '(t'),
--       4 offset, 5 batch size, 6 '1' to match a variant, 7 the variant.
-- Returns {deleted, kept, seen}; the caller moves its offset past the kept ones.
local prefix = ARGV[1]
local members = redis.call('ZRANGEBYSCORE', prefix .. 'cache:' .. ARGV[2], '-inf', ARGV[3],
  'LIMIT', tonumber(ARGV[4]), tonumber(ARGV[5]))
local deleted, kept = 0, 0
for _, key in ipairs(members) do
  local matches = true
  if ARGV[6] == '1' then
    matches = redis.call('HGET', prefix .. 'cache:entry:' .. key, 'variant') == ARGV[7]
  end
  if matches then
    deleted = deleted + remove_entry(prefix, key)
  else
    kept = kept + 1
  end
end
return {deleted, kept, #members}
