-- Sliding window, weighted two-window counter (state: window index, units in that
-- window, units in the window before). The previous window counts in proportion to the part of
-- it still inside the sliding period.
local function sliding_window(state, now, limit, period, burst, cost)
  local window = math.floor(now / period)
  local current, previous = 0, 0
  if state[1] == window then
    current, previous = state[2], state[3]
  elseif state[1] == window - 1 then
    previous = state[2]
  end
  local elapsed = now - window * period
  local estimate = previous * ((period - elapsed) / period) + current
  local allowed = estimate + cost <= limit
  local retry = 0
  if allowed then
    current = current + cost
    estimate = estimate + cost
  elseif cost > limit then
    retry = -1
  elseif current + cost <= limit then
    -- the previous window's share has to shrink enough within this window
    retry = period - (limit - current - cost) * period / previous - elapsed
  else
    -- only once this window has become the previous one and its share shrinks
    retry = (period - elapsed) + period - (limit - cost) * period / current
  end
  local reset = 0
  if current > 0 then
    reset = 2 * period - elapsed
  elseif previous > 0 then
    reset = period - elapsed
  end
  return allowed, math.max(0, math.floor(limit - estimate)), reset, retry, { window, current, previous }, 2 * period - elapsed
end
