-- Changes an entry's lifetime in place: rewrites "fresh until" in its header (bytes 2-9) and its
-- Redis TTL together, and never recreates an entry that was invalidated meanwhile.
-- KEYS[1] entry key
-- ARGV[1] fresh-until as 8 bytes (float64 big-endian epoch ms), ARGV[2] Redis TTL in ms
-- Returns 1 changed, 0 no such entry.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('SETRANGE', KEYS[1], 2, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
