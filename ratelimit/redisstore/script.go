package redisstore

import "github.com/redis/go-redis/v9"

// takeScript decides one request: the GCRA limit and every quota, read first,
// then written only when all of them admit (all-or-nothing), in one atomic
// script run with the server's clock.
//
// Numbers in Redis Lua are doubles, exact for integers below 2^53, so time is
// kept in microseconds (what TIME gives) and the theoretical arrival time (TAT)
// is stored as q:r:rate, meaning q + r/rate microseconds since the Unix epoch:
// the emission interval period/rate is then added exactly, however rate
// divides period. The Go side keeps (burst+n)*period below 2^53.
//
// Keys and arguments:
//   - KEYS[1]: the GCRA state.
//   - KEYS[2i], KEYS[2i+1]: quota i's counter of the earlier and of the later
//     candidate period (the same key when not near a period boundary).
//   - ARGV[1..4]: rate, period_us, burst, n.
//   - ARGV[4+4(i-1)+1 .. +4]: quota i's max (0 counts only), boundary_us (0,
//     or the Unix microsecond at which the later key takes over), and the
//     Unix second at which each candidate key expires.
//
// Reply: {admit, limit_ok, remaining, retry_us, reset_us, now_us, then per
// quota: used, allowed, later}.
const takeSource = `
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local rate = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local n = tonumber(ARGV[4])

local function divmod(a, b)
  local q = math.floor(a / b)
  local r = a - q * b
  if r < 0 then q = q - 1; r = r + b elseif r >= b then q = q + 1; r = r - b end
  return q, r
end

local tq, tr = now, 0
local v = redis.call('GET', KEYS[1])
if v then
  local a, b, c = string.match(v, '^(%d+):(%d+):(%d+)$')
  if not a then return redis.error_reply('ERR tenantkit: malformed rate limit state in ' .. KEYS[1]) end
  a = tonumber(a); b = tonumber(b); c = tonumber(c)
  if c ~= rate and b > 0 then
    -- stored under another rate: round the fraction up to a whole
    -- microsecond (stricter, never looser)
    a = a + 1; b = 0
  end
  if a > now or (a == now and b > 0) then tq = a; tr = b end
end

local cap = burst * period
local before = (tq - now) * rate + tr
local after = before + n * period
local aq, ar = divmod(tr + n * period, rate)
local limit_ok = after <= cap

local nquota = (#ARGV - 4) / 4
local qidx, qused, qok, qlater = {}, {}, {}, {}
local admit = limit_ok
for i = 1, nquota do
  local base = 4 + (i - 1) * 4
  local max = tonumber(ARGV[base + 1])
  local boundary = tonumber(ARGV[base + 2])
  local idx, later = 2 * i, 0
  if boundary > 0 and now >= boundary then idx = idx + 1; later = 1 end
  local raw = redis.call('GET', KEYS[idx])
  local used = 0
  if raw then
    if not string.match(raw, '^%d+$') then return redis.error_reply('ERR tenantkit: malformed quota counter in ' .. KEYS[idx]) end
    used = tonumber(raw)
  end
  local ok = 1
  if max > 0 and used + n > max then ok = 0; admit = false end
  qidx[i] = idx; qused[i] = used; qok[i] = ok; qlater[i] = later
end

local remaining, retry, reset
if admit then
  -- expire no earlier than the TAT (the bucket is then full again); an early
  -- expiry would forget debt and admit extra.
  local ttl = math.ceil(after / (rate * 1000)) + 1
  redis.call('SET', KEYS[1], string.format('%d:%d:%d', tq + aq, ar, rate), 'PX', ttl)
  for i = 1, nquota do
    local base = 4 + (i - 1) * 4
    redis.call('INCRBY', KEYS[qidx[i]], n)
    redis.call('EXPIREAT', KEYS[qidx[i]], ARGV[base + 3 + qlater[i]])
    qused[i] = qused[i] + n
  end
  remaining = math.floor((cap - after) / period)
  retry = 0
  reset = math.ceil(after / rate)
else
  remaining = 0
  if cap > before then remaining = math.floor((cap - before) / period) end
  retry = 0
  if not limit_ok then retry = math.ceil((after - cap) / rate) end
  reset = 0
  if before > 0 then reset = math.ceil(before / rate) end
end

local out = {admit and 1 or 0, limit_ok and 1 or 0, remaining, retry, reset, now}
for i = 1, nquota do
  out[#out + 1] = qused[i]
  out[#out + 1] = qok[i]
  out[#out + 1] = qlater[i]
end
return out
`

// takeScript carries the script's SHA-1, computed locally: Run sends EVALSHA
// and falls back to EVAL (which also loads the script) on NOSCRIPT.
var takeScript = redis.NewScript(takeSource)
