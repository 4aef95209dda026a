-- Stores a query result only if the caller still holds the fill lease (format v1, docs/cache.md).
-- An invalidation deletes the entry and its lease together; a reader whose lease was deleted
-- read the database before the write committed, so its value is dropped instead of stored.
-- KEYS[1] entry key, KEYS[2] its lease key (same hash slot: {hash} tag)
-- ARGV[1] lease token, ARGV[2] encoded entry, ARGV[3] entry TTL in ms
-- Returns 1 stored, 0 lease lost (invalidated or expired).
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('DEL', KEYS[2])
return 1
