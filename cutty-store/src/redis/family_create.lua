-- cutty: create a refresh family unless a live one has the id.
-- KEYS[1] the family key; ARGV[1] the value "a:<expires_at_ms>:<jti>:<user>"; ARGV[2] now_ms;
-- ARGV[3] the physical TTL in ms. Returns 1 when created, 0 when a live family exists.
local cur = redis.call('GET', KEYS[1])
if cur then
  local exp = string.match(cur, '^[ar]:(%-?%d+):')
  if exp and tonumber(exp) > tonumber(ARGV[2]) then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return 1
