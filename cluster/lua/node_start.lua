-- A node (re)connects and states its device counts afresh: what it
-- reported before is replaced (after a crash its clients are gone; after an
-- outage the other nodes may have dropped them). Presence is published only
-- where it changed, so a reconnect does not flicker.
-- ARGV: prefix, node, now_ms, heartbeat_ms, then user, devices pairs.
local p, node, now, hb = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
redis.call('SET', p .. 'node:' .. node, '1', 'PX', hb)
redis.call('SADD', p .. 'nodes', node)
local nu = p .. 'nodeusers:' .. node
local touched = {}
for _, user in ipairs(redis.call('SMEMBERS', nu)) do
  redis.call('HDEL', p .. 'pres:' .. user, node)
  touched[user] = true
end
redis.call('DEL', nu)
for i = 5, #ARGV, 2 do
  local user, devices = ARGV[i], tonumber(ARGV[i + 1])
  if devices > 0 then
    redis.call('HSET', p .. 'pres:' .. user, node, devices)
    redis.call('SADD', nu, user)
  end
  touched[user] = true
end
local n = 0
for user, _ in pairs(touched) do n = n + publish_presence(p, user, now) end
return n
