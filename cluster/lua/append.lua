-- One chat message, exactly once: dedup by (channel, epoch, id) inside the
-- dedup window, next seq, history append with retention, feed publish.
-- ARGV: prefix, channel, id, entry, sts, dedup_ms, max_count, max_age_ms,
--       now_ms, epoch_candidate
-- Returns {1, seq} when accepted, {0, seq} for a duplicate (original seq).
local p, ch, id, entry, sts = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local dedup_ms, max_count, max_age = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local now = tonumber(ARGV[9])
-- The channel's epoch, created with the caller's candidate on first use.
local epoch = redis.call('SET', p .. 'epoch:' .. ch, ARGV[10], 'NX', 'GET') or ARGV[10]
local dd = p .. 'dd:' .. ch .. ':' .. epoch .. ':' .. id
local seen = redis.call('GET', dd)
if seen then
  local seq, expires = string.match(seen, '^(%d+)|(%d+)$')
  if seq and tonumber(expires) > now then return {0, tonumber(seq)} end
end
local seq = redis.call('INCR', p .. 'seq:' .. ch)
-- The expiry is judged by the caller's clock; the TTL only collects garbage.
redis.call('SET', dd, seq .. '|' .. string.format('%d', now + dedup_ms), 'PX', dedup_ms + 60000)
local member = seq .. '|' .. sts .. '|' .. entry
local h = p .. 'hist:' .. ch
redis.call('ZADD', h, seq, member)
-- History is a contiguous run of seqs: the count limit keeps seq > seq - max.
redis.call('ZREMRANGEBYSCORE', h, '-inf', seq - max_count)
-- The age limit is applied every 32 messages here (sync.lua applies it
-- before every read, so readers never see an expired message).
if seq % 32 == 0 then trim_by_age(h, max_age, now) end
redis.call('PUBLISH', p .. 'feed', 'M|' .. ch .. '|' .. member)
return {1, seq}
