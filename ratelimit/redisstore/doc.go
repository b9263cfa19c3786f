// Package redisstore is a ratelimit.Store on Redis, for limits and quotas
// shared by every instance of a service: single node, Redis Cluster or a
// go-redis Ring.
//
// # One call per decision
//
// It needs Redis 5 or later (or a server speaking its scripting protocol,
// such as Valkey); the client is any go-redis v9 client.
//
// Take sends one EVALSHA (EVAL the first time a server lacks the script; the
// SHA-1 is computed locally and nothing is loaded at construction). The
// script reads the server clock (TIME), decides the GCRA limit and every
// quota of the request, and only when all of them admit it advances the
// limit and increments the quota counters: all-or-nothing, atomically, in
// one round trip. Stores in any number of processes sharing one Redis are
// exact together: a limit of 100 per minute admits 100, whoever asks.
//
// The decision follows ratelimit's semantics exactly (the package's tests
// replay random request sequences against ratelimit.Memory and require the
// same Result to the nanosecond): a limit of Rate per Period with Burst
// admits Burst units at once and then one every Period/Rate, with no
// window-edge bursts; a denial consumes nothing; RetryAfter is the exact
// wait after which the same request is admitted.
//
// # Time and precision
//
// The limit runs on the Redis server's clock, so instance clocks do not
// matter for it. TIME has microsecond resolution: RetryAfter and ResetAfter
// are microsecond ceilings, and a Period that is not a whole number of
// microseconds is rounded up (stricter, never looser). Redis Lua numbers are
// doubles, so the script keeps the theoretical arrival time as a whole
// microsecond plus a fraction in 1/Rate units and adds Period/Rate exactly,
// whatever Rate: 65,535 per second refills exactly 65,535 per second. Period
// (in microseconds) and Rate are first divided by their greatest common
// divisor, which leaves Period/Rate unchanged. To stay exact, Take then
// rejects with ratelimit.ErrInvalid a Rate above 2^43, a Burst × Period of
// 2^53 or more, and a quota Max above 2^53; common limits, 10,000 per 30
// days or 1,000,000 per year included, stay far below. When a key's Limit changes, its state carries over as time, rounded
// up to a whole microsecond.
//
// Calendar quotas (daily, monthly, in the quota's time zone) are counted in
// one Redis key per period, named from the process clock in that zone. Near
// a period boundary (within Options.MaxClockSkew, default one minute) the
// process passes both candidate periods and the script picks one by the
// server clock, so every instance moves to the new day at the same instant
// and a counter resets exactly once. The clock-skew edge: an instance whose
// clock is off by more than MaxClockSkew counts into the period its own
// clock names while it is near a boundary, so around midnight its requests
// may land in the other day's counter (each counter still never exceeds its
// Max); keep hosts on NTP. ResetAt is the start of the next period in the
// quota's zone; quota keys expire one hour plus MaxClockSkew after their
// period ends, and the limit's key expires when it has fully replenished.
//
// # Keys and Redis Cluster
//
// Keys are
//
//	<prefix>{<key>}:gcra
//	<prefix>{<key>}:q:<quota>:d:2026-12-03
//	<prefix>{<key>}:q:<quota>:m:2026-12
//
// with the default prefix "tk:rl:", and the UTC offset of the period's
// start appended outside UTC (":d:2026-12-03+09:00" in Tokyo), so one quota
// name in two zones is two counters, as in the memory store. The braces are a hash tag: all keys of
// one limiter key (one tenant) hash to the same slot, so the script's keys
// are always in one slot on a cluster (no CROSSSLOT) and a ClusterClient
// routes the call to that slot's master; a Ring places them on one shard.
// Different tenants spread over all masters. '%', '{', '}' and ':' in a key
// or quota name are percent-encoded (the empty key is "%"), so a key chosen
// by a client can neither break out of its hash tag nor collide with
// another key's counters. The prefix must not contain '{' (Take rejects
// every request with ratelimit.ErrInvalid if it does).
//
// # Failures
//
// Each call has a deadline (Options.Timeout, default 25 ms). The client must
// honour context deadlines: create it with ContextTimeoutEnabled, and keep
// MaxRetries low, or go-redis waits for its own read timeout and retries.
// After Options.BreakerThreshold consecutive failures (default 5) a circuit
// breaker opens: for Options.BreakerCooldown (default 1 s) no call is sent to
// Redis, then one probe call is; when it succeeds the breaker closes. An
// error that concerns one key (a malformed value under the prefix) or one
// cluster slot (MOVED, ASK or TRYAGAIN left over while a slot migrates: a
// Lua call on several keys fails while they are split between two masters)
// fails that decision but does not count toward the breaker, and a caller's own
// cancellation counts for nothing. (A key of another type under the prefix
// reads as absent and is overwritten by the next admitted decision.) A
// failed decision writes nothing: the script reads and checks everything
// before its first write.
//
// When Redis cannot decide (error, timeout or open breaker) the FailPolicy
// answers:
//
//   - FailClosed (the zero value): Take returns an error wrapping
//     ratelimit.ErrUnavailable (and ErrCircuitOpen or
//     context.DeadlineExceeded when those are the cause). The store admits
//     nothing the shared limit did not decide; the ratelimit Limiter then
//     applies its own FailPolicy: ratelimit.FailClosed answers 503 with
//     Retry-After, ratelimit.FailOpen (the Limiter's default) lets the
//     request through. Choose both together: a store-level FailOpen or
//     FailLocal answers before the Limiter sees any error.
//   - FailOpen: every request is admitted with Decision.Degraded set;
//     quotas are neither counted nor enforced meanwhile.
//   - FailLocal: a per-process store (a ratelimit.Memory by default)
//     decides with the rate, Burst and quota Max divided by
//     Options.Instances, with Decision.Degraded set and Result.Limit
//     showing the local share. The rate share is exact: Rate/Instances per
//     Period when Instances divides Rate, otherwise Rate per
//     Instances·Period (1/min over 2 instances is 1 per 2 minutes each),
//     or 1 per ⌈Instances·Period/Rate⌉ when Instances·Period overflows.
//     Burst and quota Max shares are rounded down to at least 1, and a
//     share slower than one unit per 100 years (the longest burst window
//     of a Limit) is one unit per 100 years, so every valid limit has a
//     local share and FailLocal never fails a request for its limit. With
//     Instances equal to the number of instances, the fleet admits the
//     shared rate while Redis is away, plus at most one unit per instance
//     when Burst or a quota is smaller than Instances. Local counts are not
//     merged back into Redis.
//
// Take never panics on any key, quota name or number (a fuzz target holds
// this): invalid input is an error wrapping ratelimit.ErrInvalid.
//
// # Deny cache
//
// With Options.DenyCacheSize > 0, a denial is remembered in-process until the
// retry time Redis gave, and repeated requests for that key (same Limit,
// same quotas, same N) are denied without a round trip. It only ever denies,
// so it never admits more than Redis would, and it forgets a denial no later
// than Redis would admit the request: the retry time is counted from before
// the round trip, so a cached RetryAfter may be shorter than Redis's by up to
// that round trip's time, never longer. The Used of the quotas it reports is
// the value at the remembered denial. The cache holds at most DenyCacheSize
// keys.
//
// # Composition
//
// A Store is what ratelimit's Limiter takes: build the Limiter with a Store
// from New instead of the memory store, and its HTTP middleware, headers and
// plans work unchanged across instances. Redis holds only counters and
// times, no secrets. A script runs its commands under the caller's ACL, so a
// Redis ACL user for the limiter needs EVAL and EVALSHA, the commands the
// script calls (TIME, MGET, SET, INCRBY) and the keys under the prefix:
//
//	ACL SETUSER limiter on >secret ~tk:rl:* -@all +eval +evalsha +time +mget +set +incrby
package redisstore
