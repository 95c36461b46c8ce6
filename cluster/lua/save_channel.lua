-- Stores a channel document and tells every node. ARGV: prefix, id, document
local p, id, doc = ARGV[1], ARGV[2], ARGV[3]
redis.call('HSET', p .. 'channels', id, doc)
redis.call('PUBLISH', p .. 'feed', 'C|' .. id .. '|' .. doc)
return 1
