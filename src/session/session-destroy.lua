-- Deletes a session hash and returns the user it belonged to ('' when none or missing).
-- KEYS[1] session hash; ARGV[1] only delete when the session belongs to this user ('' = any).
local user = redis.call('HGET', KEYS[1], '_u') or ''
if ARGV[1] ~= '' and user ~= ARGV[1] then return {0, user} end
return {redis.call('DEL', KEYS[1]), user}
