-- Writes changed fields of one session hash (key layout v1, docs/sessions.md).
-- KEYS[1] session hash
-- ARGV[1] now (ms)  ARGV[2] idle TTL (ms)  ARGV[3] absolute lifetime (ms)  ARGV[4] max bytes
-- ARGV[5] mode: 'upsert' (create when missing) | 'update' (a missing session stays missing:
--         a destroyed session is never brought back by a late write)
-- ARGV[6] user: '' keep, '=<user>' set, '-' clear
-- ARGV[7] n = number of fields to set; then n field/value pairs; then fields to delete.
-- Returns {status, previous user, ttl ms, absolute expiry ms, size}:
--   1 written, 0 missing (update mode or past its lifetime), -1 too large, -3 unknown version.
local key = KEYS[1]
local now = tonumber(ARGV[1])
local idle = tonumber(ARGV[2])
local maxBytes = tonumber(ARGV[4])
local mode = ARGV[5]
local userOp = ARGV[6]
local n = tonumber(ARGV[7])

local meta = redis.call('HMGET', key, '_v', '_e', '_b', '_u')
local version, expiresAt, size, previousUser = meta[1], tonumber(meta[2]), tonumber(meta[3]) or 0, meta[4] or ''
local created = false
if version then
  if version ~= '1' then return {-3, version, 0, 0, 0} end
  if expiresAt == nil or expiresAt <= now then
    redis.call('DEL', key)
    version = false
  end
end
if not version then
  if mode ~= 'upsert' then return {0, previousUser, 0, 0, 0} end
  created = true
  expiresAt = now + tonumber(ARGV[3])
  size = 0
  previousUser = ''
end

-- Byte accounting: field names plus values of data fields, kept in _b so a write costs
-- O(changed fields), not a read of the whole session.
local function stored(field)
  if created then return -1 end
  local len = redis.call('HSTRLEN', key, field)
  if len == 0 and redis.call('HEXISTS', key, field) == 0 then return -1 end
  return len
end
local i = 8
for _ = 1, n do
  local field, value = ARGV[i], ARGV[i + 1]
  local old = stored(field)
  if old < 0 then size = size + #field + #value else size = size + #value - old end
  i = i + 2
end
local deletes = {}
for j = i, #ARGV do
  local old = stored(ARGV[j])
  if old >= 0 then
    size = size - #ARGV[j] - old
    deletes[#deletes + 1] = ARGV[j]
  end
end
if size > maxBytes then return {-1, previousUser, 0, 0, size} end

local ttl = math.min(idle, expiresAt - now)
if ttl <= 0 then
  redis.call('DEL', key)
  return {0, previousUser, 0, 0, 0}
end

if n > 0 then redis.call('HSET', key, unpack(ARGV, 8, 7 + 2 * n)) end
if #deletes > 0 then redis.call('HDEL', key, unpack(deletes)) end
if created then redis.call('HSET', key, '_v', '1', '_c', ARGV[1], '_e', tostring(expiresAt)) end
redis.call('HSET', key, '_b', tostring(size))
if userOp == '-' then
  redis.call('HDEL', key, '_u')
elseif userOp ~= '' then
  redis.call('HSET', key, '_u', string.sub(userOp, 2))
end
redis.call('PEXPIRE', key, ttl)
return {1, previousUser, ttl, expiresAt, size}
