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
// The script is kept lean because its server time is most of what a decision
// costs beyond the bare round trip: one TIME, one MGET for every value it
// reads, one write per key it changes, no table beyond what the quota loop
// needs, few calls into Lua's libraries (conversions by arithmetic, integer
// division by remainder), and a reply of one string. (Redis turns a Lua
// table into an array reply through a deferred length, in a reply buffer of
// its own; a single bulk string goes out as it is.)
//
// Keys and arguments:
//   - KEYS[1]: the GCRA state.
//   - KEYS[2i], KEYS[2i+1]: quota i's counter of the earlier and of the later
//     candidate period (the same key when not near a period boundary).
//   - ARGV[1..4]: rate, period_us, burst, n.
//   - ARGV[4i+1 .. 4i+4]: quota i's max (0 counts only), boundary_us (0, or
//     the Unix microsecond at which the later key takes over), and the Unix
//     second at which each candidate key expires.
//
// Reply: one string of space-separated integers, "flags remaining retry_us
// reset_us now_us" followed by "used qflags" per quota, where flags is
// admitted (1) + limit admits (2) and qflags is the quota admits (1) + its
// later key counted (2). Used is the counter after the decision.
const takeSource = `
local t = redis.call('TIME')
local now = t[1] * 1000000 + t[2]
-- (x + 0 converts a numeric string as tonumber does, without a call)
local rate = ARGV[1] + 0
local period = ARGV[2] + 0
local burst = ARGV[3] + 0
local n = ARGV[4] + 0
local nq = (#ARGV - 4) / 4

-- One MGET reads the limit's state and each quota's counter of the period
-- the server clock is in: qk[i] is the index in KEYS of quota i's counter,
-- 2i (earlier period) or 2i+1 (later). MGET, unlike GET, reads a key of
-- another type as absent: such a key under the prefix is replaced by the
-- next admitted decision.
local vals, qk
if nq == 0 then
  vals = redis.call('MGET', KEYS[1])
else
  local rk = {KEYS[1]}
  qk = {}
  for i = 1, nq do
    local j = 2 * i
    local boundary = ARGV[4 * i + 2] + 0
    if boundary > 0 and now >= boundary then j = j + 1 end
    qk[i] = j
    rk[i + 1] = KEYS[j]
  end
  vals = redis.call('MGET', unpack(rk))
end

local tq, tr = now, 0
local v = vals[1]
if v then
  local a, b, c = string.match(v, '^(%d+):(%d+):(%d+)$')
  if not a then return redis.error_reply('ERR tenantkit: malformed rate limit state in ' .. KEYS[1]) end
  a = a + 0; b = b + 0
  if b > 0 and c + 0 ~= rate then
    -- stored under another rate: round the fraction up to a whole
    -- microsecond (stricter, never looser)
    a = a + 1; b = 0
  end
  if a > now or (a == now and b > 0) then tq = a; tr = b end
end

local cap = burst * period
local before = (tq - now) * rate + tr
local after = before + n * period
local limit_ok = after <= cap
local admit = limit_ok

-- out: the reply's numbers; each quota's are used and qflags.
local out
if nq > 0 then
  out = {0, 0, 0, 0, now}
  for i = 1, nq do
    local raw = vals[i + 1]
    local used = 0
    if raw then
      if not string.match(raw, '^%d+$') then return redis.error_reply('ERR tenantkit: malformed quota counter in ' .. KEYS[qk[i]]) end
      used = raw + 0
    end
    local max = ARGV[4 * i + 1] + 0
    local qflags = 2 * (qk[i] - 2 * i) + 1
    if max > 0 and used + n > max then qflags = qflags - 1; admit = false end
    out[2 * i + 4] = used
    out[2 * i + 5] = qflags
  end
end

if admit then
  -- Admitted, every number here is a whole number below 2^53, so x % y and
  -- (x - x % y) / y are exact: integer remainder and quotient without a
  -- call to math.floor or math.ceil.
  local s = tr + n * period
  local ar = s % rate
  -- Expire no earlier than the TAT (the bucket is then full again): an
  -- early expiry would forget debt and admit extra. ttl is
  -- ceil(after / (rate * 1000)) + 1 milliseconds.
  local d = rate * 1000
  local m = after % d
  local ttl = (after - m) / d + 1
  if m > 0 then ttl = ttl + 1 end
  -- (ARGV[1] is rate in decimal: a string argument spares Redis converting
  -- a Lua number, which it does with snprintf.)
  redis.call('SET', KEYS[1], string.format('%d:%d:%s', tq + (s - ar) / rate, ar, ARGV[1]), 'PX', ttl)
  local x = cap - after
  local remaining = (x - x % period) / period
  m = after % rate
  local reset = (after - m) / rate
  if m > 0 then reset = reset + 1 end
  if nq == 0 then
    return string.format('3 %d 0 %d %d', remaining, reset, now)
  end
  local now_ms = (now - now % 1000) / 1000
  for i = 1, nq do
    local j = qk[i]
    local k = KEYS[j]
    -- Quotas naming one counter count it once: each was checked against
    -- the same count, so counting it again could pass its Max.
    local c
    for p = 1, i - 1 do
      if KEYS[qk[p]] == k then c = out[2 * p + 4] end
    end
    if not c then
      if vals[i + 1] then
        c = redis.call('INCRBY', k, ARGV[4])
      else
        -- a new period's counter: created with its expiry in one call
        c = n
        local px = ARGV[2 * i + 3 + j] * 1000 - now_ms
        if px < 1 then px = 1 end
        redis.call('SET', k, ARGV[4], 'PX', px)
      end
    end
    out[2 * i + 4] = c
  end
  out[1] = 3; out[2] = remaining; out[4] = reset
  return string.format(string.rep(' %d', 5 + 2 * nq), unpack(out))
end

-- Denied: before may exceed 2^53 when the key's state was written under
-- another limit, so the division is left to math.floor and math.ceil.
local flags, remaining, retry, reset = 0, 0, 0, 0
if limit_ok then flags = 2 else retry = math.ceil((after - cap) / rate) end
if cap > before then remaining = math.floor((cap - before) / period) end
if before > 0 then reset = math.ceil(before / rate) end
if nq == 0 then
  return string.format('%d %d %d %d %d', flags, remaining, retry, reset, now)
end
out[1] = flags; out[2] = remaining; out[3] = retry; out[4] = reset
return string.format(string.rep(' %d', 5 + 2 * nq), unpack(out))
`

// takeScript carries the script's SHA-1, computed locally: Run sends EVALSHA
// and falls back to EVAL (which also loads the script) on NOSCRIPT.
var takeScript = redis.NewScript(takeSource)
