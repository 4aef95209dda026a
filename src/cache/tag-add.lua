-- Records an entry key under a tag (tables are tags "table:<schema>.<name>"). The set lives as
-- long as its longest-lived member: its TTL only grows.
-- KEYS[1] tag set
-- ARGV[1] TTL in ms, ARGV[2] entry key
-- Returns the set's size.
redis.call('SADD', KEYS[1], ARGV[2])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return redis.call('SCARD', KEYS[1])
