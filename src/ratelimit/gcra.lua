-- Generic cell rate algorithm (state: theoretical arrival time in ms). One unit every
-- period/limit ms, up to `burst` units at once.
local function gcra(state, now, limit, period, burst, cost)
  local interval = period / limit
  local tat = now
  if state[1] ~= nil and state[1] > now then tat = state[1] end
  local new_tat = tat + cost * interval
  local allow_at = new_tat - burst * interval
  local allowed = allow_at <= now
  local retry = 0
  if allowed then
    tat = new_tat
  elseif cost > burst then
    retry = -1
  else
    retry = allow_at - now
  end
  return allowed, math.floor((now + burst * interval - tat) / interval), tat - now, retry, { tat }, tat - now
end
