-- cutty: one sliding-window check-and-count in one round trip.
-- KEYS[1]  the counter key
-- ARGV[1]  window length W in ms; ARGV[2] now in ms; ARGV[3] the limit; ARGV[4] TTL grace in ms
-- Stored value: "<window>:<prev>:<curr>" in decimal (the same encoding compare-and-swap uses).
-- Returns {1, old} when admitted (and stored), {0, old} when refused (nothing written),
-- {-1} when a value is too large for exact double arithmetic (the caller falls back to
-- load + compare-and-swap). `old` is the previous raw value or nil. The caller recomputes
-- the decision (remaining, reset) from `old` with the Rust model; this script only decides
-- admission and writes the next state, with the same integer arithmetic as
-- SlidingWindow::evaluate.
local LIM = 2251799813685248 -- 2^51: products below it are exact in doubles, with margin
local w = tonumber(ARGV[1])
local now = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local grace = tonumber(ARGV[4])
if now >= LIM or (limit + 2) * w >= LIM then
  return {-1}
end
-- k = floor(now / w), exactly: correct the floating quotient by one either way.
local k = math.floor(now / w)
local e = now - k * w
if e < 0 then
  k = k - 1
  e = e + w
elseif e >= w then
  k = k + 1
  e = e - w
end
local raw = redis.call('GET', KEYS[1])
local win, prev, curr = k, 0, 0
if raw then
  local a, b, c = string.match(raw, '^(%d+):(%d+):(%d+)$')
  if not a then
    return redis.error_reply('cutty: malformed rate-limit state')
  end
  local sw, sp, sc = tonumber(a), tonumber(b), tonumber(c)
  if sw >= LIM or (sp + sc + limit + 2) * w >= LIM then
    return {-1}
  end
  if sw == k then
    prev, curr = sp, sc
  elseif sw + 1 == k then
    prev = sc
  elseif sw > k then
    -- A clock behind the stored window: charged to the start of the stored window.
    e = 0
    win, prev, curr = sw, sp, sc
  end
end
-- Admit when prev*(W-e) + curr*W + W <= limit*W (all exact below 2^53).
if prev * (w - e) + curr * w + w > limit * w then
  return {0, raw or false}
end
curr = curr + 1
-- SlidingWindow::ttl_ms: until the end of the window after `win`, at most 2W.
local ttl = math.min((win + 2) * w - now, 2 * w) + grace
if ttl < 1 then
  ttl = 1
end
redis.call('SET', KEYS[1], string.format('%d:%d:%d', win, prev, curr), 'PX', string.format('%d', ttl))
return {1, raw or false}
