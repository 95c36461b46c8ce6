-- A node's device count of a user changed. ARGV: prefix, node, user,
-- devices, now_ms, heartbeat_ms. Returns 1 when the presence was published.
local p, node, user, devices, now, hb = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5], ARGV[6]
redis.call('SET', p .. 'node:' .. node, '1', 'PX', hb)
redis.call('SADD', p .. 'nodes', node)
if devices > 0 then
  redis.call('HSET', p .. 'pres:' .. user, node, devices)
  redis.call('SADD', p .. 'nodeusers:' .. node, user)
else
  redis.call('HDEL', p .. 'pres:' .. user, node)
  redis.call('SREM', p .. 'nodeusers:' .. node, user)
end
return publish_presence(p, user, now)
