-- Token bucket (state: time of the last refill in ms, tokens then). Holds `burst` tokens,
-- refilled at limit/period per ms.
local function token_bucket(state, now, limit, period, burst, cost)
  local rate = limit / period
  local tokens = burst
  if state[1] ~= nil then
    tokens = math.min(burst, state[2] + math.max(0, now - state[1]) * rate)
  end
  local allowed = tokens >= cost
  local retry = 0
  if allowed then
    tokens = tokens - cost
  elseif cost > burst then
    retry = -1
  else
    retry = (cost - tokens) / rate
  end
  local reset = (burst - tokens) / rate
  return allowed, math.floor(tokens), reset, retry, { now, tokens }, reset
end
