-- Check every rule of one call and, only if all pass, take them all (one atomic step).
-- The arithmetic repeats steadyllm.policy.rate_window (and MemoryLimitStore.acquire).
-- KEYS[i]: rule i's counter (sliding: its buckets are KEYS[i] .. ':' .. bucket).
-- ARGV[1]: the call's member name (its concurrency slot); then four values per rule:
--   kind ('sliding' | 'fixed' | 'lease'), limit, amount, window in ms.
-- Time is Redis's own (TIME), so replicas with skewed clocks share one window.
-- Returns {0, refused rule index, retry after ms or -1} or
--         {1, 0, 0, then per rule: slot, remaining (string), reset ms}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local member = ARGV[1]

local function exceeds(total, limit)
  return total > limit + 1e-9 * math.max(1, math.abs(limit))
end

local function retry_after(previous, current, amount, limit, window, elapsed)
  if exceeds(amount, limit) then return -1 end
  if not exceeds(current + amount, limit) then
    if previous <= 0 then return 0 end
    local fraction = 1 - (limit - current - amount) / previous
    return math.max(0, math.ceil(fraction * window - elapsed - 1e-6))
  end
  local fraction = 1 - (limit - amount) / current
  return (window - elapsed) + math.max(0, math.ceil(fraction * window - 1e-6))
end

local n = #KEYS
local granted = {}
for i = 1, n do
  local base = 1 + (i - 1) * 4
  local kind = ARGV[base + 1]
  local limit = tonumber(ARGV[base + 2])
  local amount = tonumber(ARGV[base + 3])
  local window = tonumber(ARGV[base + 4])
  if kind == 'sliding' then
    local bucket = math.floor(now / window)
    local elapsed = now - bucket * window
    local current = tonumber(redis.call('GET', KEYS[i] .. ':' .. string.format('%d', bucket)) or '0')
    local previous = tonumber(redis.call('GET', KEYS[i] .. ':' .. string.format('%d', bucket - 1)) or '0')
    local count = previous * (1 - elapsed / window) + current
    if exceeds(count + amount, limit) then
      return {0, i - 1, retry_after(previous, current, amount, limit, window, elapsed)}
    end
    granted[i] = {bucket, limit - count - amount, (bucket + 1) * window - now}
  elseif kind == 'fixed' then
    local total = tonumber(redis.call('GET', KEYS[i]) or '0')
    if exceeds(total + amount, limit) then return {0, i - 1, -1} end
    granted[i] = {0, limit - total - amount, 0}
  else
    redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
    local held = redis.call('ZCARD', KEYS[i])
    if exceeds(held + amount, limit) then return {0, i - 1, -1} end
    granted[i] = {0, limit - held - amount, 0}
  end
end

local reply = {1, 0, 0}
for i = 1, n do
  local base = 1 + (i - 1) * 4
  local kind = ARGV[base + 1]
  local amount = ARGV[base + 3]
  local window = tonumber(ARGV[base + 4])
  local g = granted[i]
  if kind == 'sliding' then
    local key = KEYS[i] .. ':' .. string.format('%d', g[1])
    redis.call('INCRBYFLOAT', key, amount)
    if redis.call('PTTL', key) == -1 then redis.call('PEXPIRE', key, 2 * window) end
  elseif kind == 'fixed' then
    redis.call('INCRBYFLOAT', KEYS[i], amount)
    if redis.call('PTTL', KEYS[i]) == -1 then redis.call('PEXPIRE', KEYS[i], window) end
  else
    redis.call('ZADD', KEYS[i], now + window, member)
    redis.call('PEXPIRE', KEYS[i], window)
  end
  reply[#reply + 1] = string.format('%d', g[1])
  reply[#reply + 1] = tostring(g[2])
  reply[#reply + 1] = g[3]
end
return reply
