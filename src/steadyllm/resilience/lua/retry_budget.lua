-- One retry check of one deployment, per steadyllm.policy.retry_budget (same formula).
-- KEYS[1] first attempts, previous bucket; KEYS[2] first attempts, current bucket;
-- KEYS[3] retries, previous bucket; KEYS[4] retries, current bucket.
-- ARGV[1] elapsed fraction of the current bucket; ARGV[2] max_retries_per_window;
-- ARGV[3] ratio; ARGV[4] min_retries; ARGV[5] TTL in ms; ARGV[6] and ARGV[7] first
-- attempts the caller counted but has not sent yet, previous and current bucket.
-- Counts a retry and returns {1, ''} when the budget allows it, else {0, 'count' or 'ratio'}.
-- (First attempts otherwise arrive by INCRBY in a pipeline: resilience/budget.py.)
local function add(key, amount)
  if amount > 0 then
    local value = redis.call('INCRBY', key, amount)
    if value == amount then
      redis.call('PEXPIRE', key, ARGV[5])
    end
  end
end
add(KEYS[1], tonumber(ARGV[6]))
add(KEYS[2], tonumber(ARGV[7]))
local elapsed = tonumber(ARGV[1])
local function sliding(previous_key, current_key)
  local previous = tonumber(redis.call('GET', previous_key) or '0')
  local current = tonumber(redis.call('GET', current_key) or '0')
  return previous * (1 - elapsed) + current
end
local retries = sliding(KEYS[3], KEYS[4])
local first_attempts = sliding(KEYS[1], KEYS[2])
if retries + 1 > tonumber(ARGV[2]) then
  return {0, 'count'}
end
if retries + 1 > math.max(tonumber(ARGV[4]), tonumber(ARGV[3]) * first_attempts) then
  return {0, 'ratio'}
end
add(KEYS[4], 1)
return {1, ''}
