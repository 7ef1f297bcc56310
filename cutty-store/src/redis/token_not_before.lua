-- cutty: raise a user's not-before mark (never lower it) and extend its keep-until.
-- KEYS[1] the mark key; ARGV[1] not_before_ms; ARGV[2] keep_until_ms; ARGV[3] now_ms;
-- ARGV[4] TTL grace in ms. Stored value: "<not_before_ms>:<keep_until_ms>". A mark whose
-- keep-until is at or before now no longer counts and is replaced.
local nbf, keep, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local cur = redis.call('GET', KEYS[1])
if cur then
  local a, b = string.match(cur, '^(%-?%d+):(%-?%d+)$')
  if a and tonumber(b) > now then
    if tonumber(a) > nbf then nbf = tonumber(a) end
    if tonumber(b) > keep then keep = tonumber(b) end
  end
end
local ttl = keep - now + tonumber(ARGV[4])
if ttl < 1 then ttl = 1 end
redis.call('SET', KEYS[1], string.format('%d:%d', nbf, keep), 'PX', string.format('%d', ttl))
return 1
