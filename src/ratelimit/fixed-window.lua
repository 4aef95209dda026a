-- Fixed window (state: window index, units counted in that window).
-- Every algorithm returns allowed, remaining, reset ms, retry ms (-1: never), new state, TTL ms.
local function fixed_window(state, now, limit, period, burst, cost)
  local window = math.floor(now / period)
  local count = 0
  if state[1] == window then count = state[2] end
  local reset = (window + 1) * period - now
  local allowed = count + cost <= limit
  local retry = 0
  if allowed then
    count = count + cost
  elseif cost > limit then
    retry = -1
  else
    retry = reset
  end
  return allowed, limit - count, reset, retry, { window, count }, reset
end
