-- Raises a user's watermark to max(old, min(upto, head)); read implies
-- delivered. ARGV: prefix, channel, user, kind ("read"|"delivered"), upto
-- Returns {read, delivered, advanced (0|1)}.
local p, ch, user, kind, upto = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local wk = p .. 'wm:' .. ch
local head = tonumber(redis.call('GET', p .. 'seq:' .. ch) or '0')
local target = math.min(upto, head)
local marks = redis.call('HMGET', wk, 'r:' .. user, 'd:' .. user)
local read, delivered = tonumber(marks[1] or '0'), tonumber(marks[2] or '0')
local advanced = 0
if kind == 'read' then
  if target > read then read = target; advanced = 1 end
  if read > delivered then delivered = read end
else
  if target > delivered then delivered = target; advanced = 1 end
end
if read > 0 or delivered > 0 then redis.call('HSET', wk, 'r:' .. user, read, 'd:' .. user, delivered) end
return {read, delivered, advanced}
