-- A consistent view for a sync reply, after retention at now_ms.
-- ARGV: prefix, channel, user, after, limit, now_ms, max_count, max_age_ms,
--       epoch_candidate
-- Returns {head, epoch, read, delivered, first_kept, entry...}.
local p, ch, user = ARGV[1], ARGV[2], ARGV[3]
local after, limit, now = ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6])
local h = p .. 'hist:' .. ch
trim_history(h, tonumber(ARGV[7]), tonumber(ARGV[8]), now)
local ek = p .. 'epoch:' .. ch
redis.call('SET', ek, ARGV[9], 'NX')
local epoch = redis.call('GET', ek)
local head = tonumber(redis.call('GET', p .. 'seq:' .. ch) or '0')
local marks = redis.call('HMGET', p .. 'wm:' .. ch, 'r:' .. user, 'd:' .. user)
local first = redis.call('ZRANGE', h, 0, 0, 'WITHSCORES')
local first_kept = head + 1
if #first > 0 then first_kept = tonumber(first[2]) end
local out = {head, epoch, tonumber(marks[1] or '0'), tonumber(marks[2] or '0'), first_kept}
if limit > 0 then
  local page = redis.call('ZRANGEBYSCORE', h, '(' .. after, '+inf', 'LIMIT', 0, limit)
  for _, m in ipairs(page) do out[#out + 1] = m end
end
return out
