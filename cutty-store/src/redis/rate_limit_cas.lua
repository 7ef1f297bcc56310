-- cutty: compare-and-swap of a rate-limit state.
-- KEYS[1] the counter key; ARGV[1] the expected encoding ('' = absent); ARGV[2] the new
-- encoding; ARGV[3] TTL in ms. Returns {1} when swapped, {0, current or nil} otherwise.
local cur = redis.call('GET', KEYS[1])
if (cur or '') == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return {1}
end
return {0, cur or false}
