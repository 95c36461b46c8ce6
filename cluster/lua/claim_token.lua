-- The cluster-wide single use of a token id. ARGV: prefix, jti, owner
-- (node and connection), expires_ms, now_ms, node.
-- Returns 1 when `owner` holds the id (first use, or its own claim again),
-- 0 when another owner used it first.
local p, jti, owner, expires, now, node = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5]), ARGV[6]
local k = p .. 'jti:' .. jti
local cur = redis.call('GET', k)
if cur then
  local who, exp = string.match(cur, '^(.*)|(%d+)$')
  if who == owner then return 1 end
  if exp and tonumber(exp) >= now then return 0 end
end
local ttl = math.max(tonumber(expires) - now, 0) + 60000
redis.call('SET', k, owner .. '|' .. expires, 'PX', ttl)
-- The ids still live, for a node that starts (or was away) to load.
local live = p .. 'jtis'
redis.call('ZADD', live, expires, jti)
redis.call('ZREMRANGEBYSCORE', live, '-inf', '(' .. now)
redis.call('PUBLISH', p .. 'feed', 'J|' .. node .. '|' .. expires .. '|' .. jti)
return 1
