-- Takes every member of a tag set and deletes the set in one step: a reader that records its key
-- afterwards lands in a fresh set that the next invalidation finds.
-- KEYS[1] tag set
-- Returns the entry keys that were in it.
local members = redis.call('SMEMBERS', KEYS[1])
redis.call('DEL', KEYS[1])
return members
