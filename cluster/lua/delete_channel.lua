-- Deletes a channel with its sequence, history, epoch and watermarks, and
-- tells every node. Dedup fingerprints belong to the old epoch and expire.
-- ARGV: prefix, id
local p, id = ARGV[1], ARGV[2]
redis.call('HDEL', p .. 'channels', id)
redis.call('DEL', p .. 'seq:' .. id, p .. 'hist:' .. id, p .. 'epoch:' .. id, p .. 'wm:' .. id)
redis.call('PUBLISH', p .. 'feed', 'D|' .. id)
return 1
