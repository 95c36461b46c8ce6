-- Keeps this node alive for heartbeat_ms and drops the devices of nodes
-- whose heartbeat ran out (they died without cleaning up).
-- ARGV: prefix, node, now_ms, heartbeat_ms. Returns the users updated.
local p, node, now, hb = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
redis.call('SET', p .. 'node:' .. node, '1', 'PX', hb)
redis.call('SADD', p .. 'nodes', node)
local dropped = 0
for _, n in ipairs(redis.call('SMEMBERS', p .. 'nodes')) do
  if redis.call('EXISTS', p .. 'node:' .. n) == 0 then
    dropped = dropped + forget_node(p, n, now)
    redis.call('SREM', p .. 'nodes', n)
  end
end
return dropped
