-- Writes a whole layout 1 session as copied from elsewhere (migration, dual-read): replaces
-- whatever the key held, so copying the same session twice leaves the same result (idempotent).
-- KEYS[1] session hash
-- ARGV[1] TTL (ms)  ARGV[2] created (ms)  ARGV[3] absolute expiry (ms)  ARGV[4] bytes
-- ARGV[5] user ('' = anonymous)  ARGV[6] '1' = only if the key does not exist
-- then field/value pairs. Returns 1 written, 0 left alone (ARGV[6] and the key exists).
local key = KEYS[1]
if ARGV[6] == '1' and redis.call('EXISTS', key) == 1 then return 0 end
redis.call('DEL', key)
redis.call('HSET', key, '_v', '1', '_c', ARGV[2], '_e', ARGV[3], '_b', ARGV[4])
if ARGV[5] ~= '' then redis.call('HSET', key, '_u', ARGV[5]) end
if #ARGV > 6 then redis.call('HSET', key, unpack(ARGV, 7, #ARGV)) end
redis.call('PEXPIRE', key, ARGV[1])
return 1
