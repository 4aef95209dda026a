-- Compare-and-set of a layout-2 session value (docs/sessions.md): writes the new value only if
-- the stored one still has the revision the caller read, so two requests that loaded the same
-- session never overwrite each other's changes blindly; the loser merges and tries again.
-- KEYS[1] session key
-- ARGV[1] expected revision  ARGV[2] new value  ARGV[3] TTL in ms ('' keeps the current TTL)
-- Returns 1 written, 0 missing (a destroyed or expired session stays gone), or the current
-- value when its revision differs (saves the caller a read before it merges).
-- Only the head of the value is read to compare: `2:<revision>:` fits in 32 bytes.
local head = redis.call('GETRANGE', KEYS[1], 0, 31)
if head == '' then return 0 end
if string.match(head, '^2:(%d+):') ~= ARGV[1] then return redis.call('GET', KEYS[1]) end
if ARGV[3] == '' then
  redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return 1
