-- cutty: atomic refresh rotation with reuse detection.
-- KEYS[1] the family key; ARGV[1] the presented jti; ARGV[2] the next jti; ARGV[3] the new
-- expires_at_ms; ARGV[4] now_ms; ARGV[5] TTL grace in ms.
-- Stored value: "<a|r>:<expires_at_ms>:<current jti>:<user id>" (a = active, r = revoked).
-- Returns 0 unknown (absent or expired), 1 revoked, 2 rotated, 3 reused (now revoked).
local cur = redis.call('GET', KEYS[1])
if not cur then
  return 0
end
local st, exp, jti, user = string.match(cur, '^([ar]):(%-?%d+):([^:]*):(.*)$')
if not st then
  return redis.error_reply('cutty: malformed refresh family')
end
local now = tonumber(ARGV[4])
exp = tonumber(exp)
if exp <= now then
  return 0
end
if st == 'r' then
  return 1
end
if jti == ARGV[1] then
  local new_exp = tonumber(ARGV[3])
  if exp > new_exp then new_exp = exp end
  local ttl = new_exp - now + tonumber(ARGV[5])
  if ttl < 1 then ttl = 1 end
  redis.call('SET', KEYS[1], 'a:' .. string.format('%d', new_exp) .. ':' .. ARGV[2] .. ':' .. user,
    'PX', string.format('%d', ttl))
  return 2
end
redis.call('SET', KEYS[1], 'r:' .. string.format('%d', exp) .. ':' .. jti .. ':' .. user, 'KEEPTTL')
return 3
