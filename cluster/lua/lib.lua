-- Shared helpers, prepended to every script below when it is built in.
-- Keys live under the prefix ARGV[1] (e.g. "mc:"). Numbers that may exceed
-- 2^53 or print in exponent form (times in ms) travel as strings.
--
--   <p>seq:<ch>     head seq            <p>hist:<ch>  zset seq -> "seq|sts|entry"
--   <p>epoch:<ch>   epoch token         <p>wm:<ch>    hash "r:<user>", "d:<user>"
--   <p>dd:<ch>:<epoch>:<id>  "seq|expires_ms" (dedup fingerprint)
--   <p>channels     hash id -> document  <p>jti:<jti> "owner|expires_ms"
--   <p>jtis         zset jti by expires_ms (the ids still live)
--   <p>pres:<user>  hash node -> devices  <p>pstat:<user> hash status, since, devices
--   <p>users, <p>nodes, <p>nodeusers:<node>  sets   <p>node:<node> heartbeat (PX)
--   <p>feed         the pub/sub channel every node listens to

-- Drops history older than max_age_ms (0: no age limit), oldest first, so
-- history stays a contiguous run of seqs.
local function trim_by_age(h, max_age_ms, now_ms)
  if max_age_ms <= 0 then return end
  local cutoff = now_ms - max_age_ms
  for _ = 1, 10000 do
    local first = redis.call('ZRANGE', h, 0, 0)
    if #first == 0 then break end
    local sts = tonumber(string.match(first[1], '^%d+|(%d+)|'))
    if sts == nil or sts >= cutoff then break end
    redis.call('ZREMRANGEBYRANK', h, 0, 0)
  end
end

-- Drops history beyond max_count entries and older than max_age_ms.
local function trim_history(h, max_count, max_age_ms, now_ms)
  local n = redis.call('ZCARD', h)
  if n > max_count then redis.call('ZREMRANGEBYRANK', h, 0, n - max_count - 1) end
  trim_by_age(h, max_age_ms, now_ms)
end

-- Recomputes a user's cluster-wide device count over live nodes and
-- publishes the presence when its status or count changed. `since` moves
-- with the status only.
local function publish_presence(p, user, now)
  local h = p .. 'pres:' .. user
  local all = redis.call('HGETALL', h)
  local total = 0
  for i = 1, #all, 2 do
    if redis.call('EXISTS', p .. 'node:' .. all[i]) == 1 then
      total = total + tonumber(all[i + 1])
    else
      redis.call('HDEL', h, all[i])
    end
  end
  local sk = p .. 'pstat:' .. user
  local old = redis.call('HMGET', sk, 'status', 'since', 'devices')
  local status = 'offline'
  if total > 0 then status = 'online' end
  if old[1] == status and tonumber(old[3]) == total then return 0 end
  local since = old[2]
  if old[1] ~= status or not since then since = now end
  redis.call('HSET', sk, 'status', status, 'since', since, 'devices', total)
  redis.call('SADD', p .. 'users', user)
  redis.call('PUBLISH', p .. 'feed', 'P|' .. user .. '|' .. status .. '|' .. total .. '|' .. since)
  return 1
end

-- Drops every device count a node reported.
local function forget_node(p, node, now)
  local nu = p .. 'nodeusers:' .. node
  local users = redis.call('SMEMBERS', nu)
  redis.call('DEL', nu)
  for _, user in ipairs(users) do
    redis.call('HDEL', p .. 'pres:' .. user, node)
    publish_presence(p, user, now)
  end
  return #users
end
