-- The retry budget of one deployment, per steadyllm.policy.retry_budget (same formula).
-- KEYS[1] first attempts, previous bucket; KEYS[2] first attempts, current bucket;
-- KEYS[3] retries, previous bucket; KEYS[4] retries, current bucket.
-- ARGV[1] 'first' or 'retry'; ARGV[2] elapsed fraction of the current bucket;
-- ARGV[3] max_retries_per_window; ARGV[4] ratio; ARGV[5] min_retries; ARGV[6] TTL in ms.
-- 'first' counts a first attempt and returns {1, ''}; 'retry' counts a retry and
-- returns {1, ''} when the budget allows it, else {0, 'count' or 'ratio'}.
local function add(key)
  local value = redis.call('INCR', key)
  if value == 1 then
    redis.call('PEXPIRE', key, ARGV[6])
  end
end
if ARGV[1] == 'first' then
  add(KEYS[2])
  return {1, ''}
end
local elapsed = tonumber(ARGV[2])
local function sliding(previous_key, current_key)
  local previous = tonumber(redis.call('GET', previous_key) or '0')
  local current = tonumber(redis.call('GET', current_key) or '0')
  return previous * (1 - elapsed) + current
end
local retries = sliding(KEYS[3], KEYS[4])
local first_attempts = sliding(KEYS[1], KEYS[2])
if retries + 1 > tonumber(ARGV[3]) then
  return {0, 'count'}
end
if retries + 1 > math.max(tonumber(ARGV[5]), tonumber(ARGV[4]) * first_attempts) then
  return {0, 'ratio'}
end
add(KEYS[4])
return {1, ''}
