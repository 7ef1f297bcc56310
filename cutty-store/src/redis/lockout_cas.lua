-- cutty: compare-and-swap of a versioned lockout state.
-- KEYS[1] the state key; KEYS[2] the store-wide version counter.
-- ARGV[1] the expected version ('' = no live state); ARGV[2] now (ms); ARGV[3] the state
-- (JSON); ARGV[4] its expires_at_ms; ARGV[5] TTL in ms.
-- Stored value: "<version>:<expires_at_ms>:<json>". A state is live while now < expires_at.
-- Returns 1 when stored, 0 otherwise.
local cur = redis.call('GET', KEYS[1])
local live = ''
if cur then
  local v, exp = string.match(cur, '^(%d+):(%-?%d+):')
  if v and tonumber(exp) > tonumber(ARGV[2]) then
    live = v
  end
end
if live ~= ARGV[1] then
  return 0
end
local v = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], string.format('%d', v) .. ':' .. ARGV[4] .. ':' .. ARGV[3], 'PX', ARGV[5])
return 1
