-- opsctl rate limiter, script format v1. The algorithm files are prepended to this one.
-- KEYS[1]      request-id key (read only when ARGV[3] is not empty)
-- KEYS[2..n+1] one state hash per policy, all under one hash tag
-- ARGV[1] mode: "consume" or "peek" (decide without writing)
-- ARGV[2] now in ms, or "" to read the server's TIME (tests pass a fixed time base)
-- ARGV[3] request id or ""; ARGV[4] how long a request id is remembered, ms
-- ARGV[5..] per policy: algorithm, limit, period ms, burst, cost
-- Reply: { replayed, allowed, then per policy: allowed, remaining, limit, reset ms, retry ms }
local ALGORITHMS = {
  ['fixed-window'] = fixed_window,
  ['sliding-window'] = sliding_window,
  ['token-bucket'] = token_bucket,
  ['gcra'] = gcra,
}

if ARGV[3] ~= '' then
  local seen = redis.call('GET', KEYS[1])
  if seen then
    local reply = cjson.decode(seen)
    reply[1] = 1
    return reply
  end
end

local now
if ARGV[2] ~= '' then
  now = tonumber(ARGV[2])
else
  local time = redis.call('TIME')
  now = tonumber(time[1]) * 1000 + tonumber(time[2]) / 1000
end

local reply = { 0, 1 }
local writes = {}
for i = 2, #KEYS do
  local at = 5 + (i - 2) * 5
  local algorithm = ALGORITHMS[ARGV[at]]
  if algorithm == nil then return redis.error_reply('ERR unknown rate limit algorithm ' .. tostring(ARGV[at])) end
  local limit, period, burst, cost = tonumber(ARGV[at + 1]), tonumber(ARGV[at + 2]), tonumber(ARGV[at + 3]), tonumber(ARGV[at + 4])
  local stored = redis.call('HMGET', KEYS[i], 'a', 'b', 'c')
  local state = { tonumber(stored[1]), tonumber(stored[2]), tonumber(stored[3]) }
  local allowed, remaining, reset, retry, new_state, ttl = algorithm(state, now, limit, period, burst, cost)
  local policy_limit = limit
  if ARGV[at] == 'token-bucket' or ARGV[at] == 'gcra' then policy_limit = burst end
  if allowed then
    writes[#writes + 1] = { KEYS[i], new_state, ttl }
  else
    reply[2] = 0
  end
  reply[#reply + 1] = allowed and 1 or 0
  reply[#reply + 1] = remaining
  reply[#reply + 1] = policy_limit
  reply[#reply + 1] = math.ceil(reset)
  reply[#reply + 1] = math.ceil(retry)
end

-- all policies allow, or nothing is consumed
if ARGV[1] == 'consume' and reply[2] == 1 then
  for _, write in ipairs(writes) do
    local s = write[2]
    redis.call('HSET', write[1], 'a', string.format('%.17g', s[1]), 'b', string.format('%.17g', s[2]), 'c', string.format('%.17g', s[3]))
    redis.call('PEXPIRE', write[1], math.max(1, math.ceil(write[3])))
  end
end
if ARGV[3] ~= '' and ARGV[1] == 'consume' then
  redis.call('SET', KEYS[1], cjson.encode(reply), 'PX', ARGV[4])
end
return reply
