-- Deletes a session (layout 1 hash or layout 2 string) and returns the user it belonged to.
-- KEYS[1] session key; ARGV[1] only delete when the session belongs to this user ('' = any),
-- ARGV[2] the same user percent-encoded (how layout 2 stores it).
-- Returns {deleted 0|1, user ('' = none or missing), layout 1|2 (2: user percent-encoded)}.
local kind = redis.call('TYPE', KEYS[1]).ok
if kind == 'hash' then
  local user = redis.call('HGET', KEYS[1], '_u') or ''
  if ARGV[1] ~= '' and user ~= ARGV[1] then return {0, user, 1} end
  return {redis.call('DEL', KEYS[1]), user, 1}
elseif kind == 'string' then
  local user = string.match(redis.call('GET', KEYS[1]), '^2:%d+:%d+:%d+:([^:]*):') or ''
  if ARGV[1] ~= '' and user ~= ARGV[2] then return {0, user, 2} end
  return {redis.call('DEL', KEYS[1]), user, 2}
end
return {0, '', 2}
