-- opsctl rate limiter, script format v2 (docs/ratelimit.md). limiter.ts prepends the algorithm
-- file(s) and one line setting ALGORITHM (the one step function of a per-algorithm script, whose
-- policies all use it) or STEPS (step functions by name, for policies of mixed algorithms).
-- KEYS[1..n]   one state string per policy, all under one hash tag
-- KEYS[n+1]    request-id key, only when ARGV[4] (its TTL) is given
-- ARGV[1] cost; ARGV[2] mode: "consume" or "peek" (decide without writing)
-- ARGV[3] now in ms, or "" to read the server's TIME (tests pass a fixed time base)
-- ARGV[4] how long the request id is remembered, ms, or "" without a request id
-- ARGV[5..] per policy: [algorithm name, mixed script only,] limit, period ms, burst
-- Reply: { replayed, then per policy: allowed, remaining, reset ms, retry ms }

-- State: the algorithm's numbers separated by spaces (one number: written as a number, which
-- Redis formats with %.17g itself; string work is what costs most in here). Layout v1 kept them
-- in a hash (fields a, b, c): such a key is read once and rewritten as a string, so an upgrade
-- resets nobody.
local function read_state(key)
  local stored = redis.pcall('GET', key)
  if not stored then return {} end
  if type(stored) == 'string' then
    local state, i, from = {}, 1, 1
    local space = string.find(stored, ' ', 1, true)
    if space == nil then return { tonumber(stored) } end
    while space do
      state[i] = tonumber(string.sub(stored, from, space - 1))
      i, from = i + 1, space + 1
      space = string.find(stored, ' ', from, true)
    end
    state[i] = tonumber(string.sub(stored, from))
    return state
  end
  local v1 = redis.call('HMGET', key, 'a', 'b', 'c')
  return { tonumber(v1[1]), tonumber(v1[2]), tonumber(v1[3]) }
end

-- %.17g: read back by tonumber(), the same double
local FORMATS = { nil, '%.17g %.17g', '%.17g %.17g %.17g' }
local function encode_state(state)
  if #state == 1 then return state[1] end
  return string.format(FORMATS[#state], unpack(state))
end

local cost = tonumber(ARGV[1])
local consume = ARGV[2] == 'consume'
local request_ttl = ARGV[4]
local n = #KEYS
if request_ttl ~= '' then
  n = n - 1
  local seen = redis.call('GET', KEYS[#KEYS])
  if seen then
    local reply = cjson.decode(seen)
    reply[1] = 1
    return reply
  end
end

local now = tonumber(ARGV[3])
if now == nil then
  local time = redis.call('TIME')
  now = tonumber(time[1]) * 1000 + tonumber(time[2]) / 1000
end

local reply = { 0 }
local states, ttls = {}, {}
local all_allowed = true
local at, out = 5, 2
for i = 1, n do
  local step = ALGORITHM
  if step == nil then
    step = STEPS[ARGV[at]]
    if step == nil then return redis.error_reply('ERR unknown rate limit algorithm ' .. tostring(ARGV[at])) end
    at = at + 1
  end
  local allowed, remaining, reset, retry, state, ttl = step(read_state(KEYS[i]), now, tonumber(ARGV[at]), tonumber(ARGV[at + 1]), tonumber(ARGV[at + 2]), cost)
  at = at + 3
  states[i], ttls[i] = state, ttl
  if not allowed then all_allowed = false end
  reply[out], reply[out + 1], reply[out + 2], reply[out + 3] = allowed and 1 or 0, remaining, math.ceil(reset), math.ceil(retry)
  out = out + 4
end

-- all policies allow, or nothing is consumed
if consume and all_allowed then
  for i = 1, n do
    redis.call('SET', KEYS[i], encode_state(states[i]), 'PX', math.max(1, math.ceil(ttls[i])))
  end
end
if request_ttl ~= '' and consume then
  redis.call('SET', KEYS[#KEYS], cjson.encode(reply), 'PX', request_ttl)
end
return reply
