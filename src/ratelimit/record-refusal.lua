-- opsctl rate limiter refusal sample, format v1. KEYS[1]: sorted set of the refused keys of one
-- policy in one minute; ARGV[1] key, ARGV[2] most members kept, ARGV[3] TTL ms.
redis.call('ZINCRBY', KEYS[1], 1, ARGV[1])
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[2]) + 1))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
