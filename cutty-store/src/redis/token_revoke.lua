-- cutty: revoke a jti until ARGV[1] (Unix ms); never shortens an existing revocation.
-- KEYS[1] the revocation key; ARGV[2] the physical TTL in ms. Stored value: expires_at_ms.
local cur = redis.call('GET', KEYS[1])
if cur and tonumber(cur) and tonumber(cur) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
