-- Gives back a fill lease the caller will not use (oversize result, database error), so waiting
-- readers stop waiting. Deletes only the caller's own lease.
-- KEYS[1] lease key
-- ARGV[1] lease token
-- Returns 1 released, 0 not held.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
