-- Every user's cluster-wide presence, for a node that (re)connects and must
-- replace what its retained presence/<user> documents say.
-- ARGV: prefix. Returns {user, status, devices, since, ...}.
local p = ARGV[1]
local out = {}
for _, user in ipairs(redis.call('SMEMBERS', p .. 'users')) do
  local st = redis.call('HMGET', p .. 'pstat:' .. user, 'status', 'devices', 'since')
  if st[1] then
    out[#out + 1] = user
    out[#out + 1] = st[1]
    out[#out + 1] = st[2] or '0'
    out[#out + 1] = st[3] or '0'
  end
end
return out
