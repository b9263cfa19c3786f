package redisstore

import "github.com/redis/go-redis/v9"

// takeScript decides one request: the GCRA limit and every quota, read first,
// then written only when all of them admit (all-or-nothing), in one atomic
// script run with the server's clock.
//
// The script calls TIME before writing, which needs effects replication:
// the default from Redis 5 on (the only mode from Redis 7 on).
//
// Numbers in Redis Lua are doubles, exact for integers below 2^53, so time is
// kept in microseconds (what TIME gives) and the theoretical arrival time (TAT)
// is stored as q:r:rate, meaning q + r/rate microseconds since the Unix epoch:
// the emission interval period/rate is then added exactly, however rate
// divides period. The Go side reduces period/rate to lowest terms and keeps
// (burst+n)*period below 2^53.
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

local nquota = (#ARGV - 4) / 4
-- One MGET reads the limit's state and each quota's counter of the period
-- the server clock is in.
local rkeys, qkey, qlater = {KEYS[1]}, {}, {}
for i = 1, nquota do
  local boundary = tonumber(ARGV[4 + (i - 1) * 4 + 2])
  local idx, later = 2 * i, 0
  if boundary > 0 and now >= boundary then idx = idx + 1; later = 1 end
  qkey[i] = KEYS[idx]; qlater[i] = later
  rkeys[i + 1] = KEYS[idx]
end
-- (MGET, unlike GET, reads a key of another type as absent: such a key
-- under the prefix is replaced by the next admitted decision.)
local vals = redis.call('MGET', unpack(rkeys))

local tq, tr = now, 0
local v = vals[1]
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

local qused, qok, qnew = {}, {}, {}
local admit = limit_ok
for i = 1, nquota do
  local max = tonumber(ARGV[4 + (i - 1) * 4 + 1])
  local raw = vals[i + 1]
  local used = 0
  if raw then
    if not string.match(raw, '^%d+$') then return redis.error_reply('ERR tenantkit: malformed quota counter in ' .. qkey[i]) end
    used = tonumber(raw)
  end
  local ok = 1
  if max > 0 and used + n > max then ok = 0; admit = false end
  qused[i] = used; qok[i] = ok; qnew[i] = not raw
end

local remaining, retry, reset
if admit then
  -- expire no earlier than the TAT (the bucket is then full again); an early
  -- expiry would forget debt and admit extra.
  local ttl = math.ceil(after / (rate * 1000)) + 1
  redis.call('SET', KEYS[1], string.format('%d:%d:%d', tq + aq, ar, rate), 'PX', ttl)
  local now_ms = math.floor(now / 1000)
  -- cur: each counter's value once written. Quotas naming one counter
  -- (listed twice) count it once: each was checked against the same
  -- count, so counting it again could pass its Max.
  local cur = {}
  for i = 1, nquota do
    local k = qkey[i]
    if cur[k] then
      -- already counted by this decision
    elseif qnew[i] then
      -- a new period's counter: created with its expiry in one call
      local expire_at = tonumber(ARGV[4 + (i - 1) * 4 + 3 + qlater[i]])
      redis.call('SET', k, n, 'PX', math.max(expire_at * 1000 - now_ms, 1))
      cur[k] = n
    else
      cur[k] = redis.call('INCRBY', k, n)
    end
    qused[i] = cur[k]
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
