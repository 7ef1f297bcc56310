-- cutty: revoke a live refresh family, keeping its expiry. KEYS[1] the family key;
-- ARGV[1] now_ms. Returns 1 when it changed something.
local cur = redis.call('GET', KEYS[1])
if not cur then
  return 0
end
local exp, rest = string.match(cur, '^a:(%-?%d+):(.*)$')
if exp and tonumber(exp) > tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], 'r:' .. exp .. ':' .. rest, 'KEEPTTL')
  return 1
end
return 0
