-- Replaces field values only where they still hold what the caller read (compare and set),
-- so a rekey racing with an application write never overwrites the newer value. TTL unchanged.
-- KEYS[1] session hash; ARGV: field, expected value, new value triples. Returns fields replaced.
local replaced = 0
for i = 1, #ARGV, 3 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 2])
    replaced = replaced + 1
  end
end
return replaced
