package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/bits"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tenantkit/tenantkit/ratelimit"
)

// ErrCircuitOpen is wrapped (with ratelimit.ErrUnavailable) by the error of a
// decision that was not sent to Redis because the circuit breaker is open.
var ErrCircuitOpen = errors.New("redisstore: circuit breaker open")

// FailPolicy says what Take answers when Redis cannot decide (error,
// timeout, or an open circuit breaker).
type FailPolicy uint8

// Fail policies.
const (
	// FailClosed returns an error wrapping ratelimit.ErrUnavailable; the
	// Limiter then applies its own FailPolicy (ratelimit.FailClosed answers
	// 503 with Retry-After). It is the zero value: the store admits nothing
	// that the shared limit did not decide.
	FailClosed FailPolicy = iota
	// FailOpen admits every request and marks the decision Degraded.
	// Quotas are neither counted nor enforced while Redis is away.
	FailOpen
	// FailLocal decides with a per-process store (Options.Fallback) with
	// the limit's rate, its burst and quota Max divided by
	// Options.Instances, and marks the decision Degraded. With Instances
	// set to the number of processes the whole fleet admits at most the
	// shared rate (burst and quota shares are at least 1 each).
	FailLocal
)

// String returns "closed", "open" or "local".
func (p FailPolicy) String() string {
	switch p {
	case FailClosed:
		return "closed"
	case FailOpen:
		return "open"
	case FailLocal:
		return "local"
	}
	return "FailPolicy(" + strconv.Itoa(int(p)) + ")"
}

// Options configures a Store. A nil *Options means all defaults.
type Options struct {
	// Prefix starts every Redis key the store writes. Default "tk:rl:".
	// It must not contain '{': a brace in the prefix would become the
	// hash tag and put every key of the store in one cluster slot (or,
	// with "{}", split one tenant's keys over slots), so Take rejects every
	// request with ratelimit.ErrInvalid.
	Prefix string

	// Timeout bounds each decision's round trip through a context deadline.
	// Default 25 ms; negative means no timeout beyond the caller's context.
	// The client must honour context deadlines: set
	// redis.Options.ContextTimeoutEnabled (and keep MaxRetries low), or the
	// client's own ReadTimeout applies instead.
	Timeout time.Duration

	// FailPolicy is what Take answers when Redis cannot decide. Default
	// FailClosed.
	FailPolicy FailPolicy

	// Fallback is the per-process store FailLocal decides with; ignored
	// by the other policies. Default for FailLocal: a ratelimit.Memory
	// with room for 65,536 keys on the Now clock.
	Fallback ratelimit.Store

	// Instances is the number of processes sharing the Redis limit; under
	// FailLocal each decides with 1/Instances of the rate (exactly: Rate
	// divided when Instances divides it, otherwise Period multiplied, as
	// the decision's Limit shows; at slowest one unit per 100 years), of
	// Burst and of quota Max (rounded down, at least 1). Default 1.
	Instances int

	// BreakerThreshold is the number of consecutive failed decisions that
	// opens the circuit breaker. Default 5; negative disables the breaker.
	BreakerThreshold int

	// BreakerCooldown is how long an open breaker keeps calls away from
	// Redis before one probe call is let through. Default 1 s.
	BreakerCooldown time.Duration

	// DenyCacheSize enables the local deny cache with room for that many
	// keys: a denied key is answered in-process, without a round trip,
	// until the retry time Redis gave it. Default 0 (off).
	DenyCacheSize int

	// MaxClockSkew is how far this process's clock may be from the Redis
	// server's. Within this distance of a quota period boundary the script
	// chooses the period by the server clock. Default 1 minute, at most 1
	// hour; negative means the process clock alone picks the period.
	MaxClockSkew time.Duration

	// Now is the process clock, used for quota periods, the deny cache and
	// the breaker. Default time.Now.
	Now func() time.Time

	// Logger receives circuit breaker transitions. Default: discard.
	Logger *slog.Logger
}

// Store is a ratelimit.Store on Redis: one script call per decision, run
// atomically on the server with the server's clock. It is safe for
// concurrent use, by any number of Stores in any number of processes sharing
// one Redis. Create it with New; the zero value is not usable.
type Store struct {
	c         redis.Scripter
	prefix    string
	timeout   time.Duration
	policy    FailPolicy
	fallback  ratelimit.Store
	instances int
	skew      time.Duration
	now       func() time.Time
	breaker   *breaker
	deny      *denyCache
	logger    *slog.Logger
	braced    bool      // prefix contains '{': every Take is invalid
	bufs      sync.Pool // of *callBuf
}

var _ ratelimit.Store = (*Store)(nil)

// New returns a Store deciding on c, which may be a *redis.Client,
// *redis.ClusterClient, *redis.Ring or any redis.UniversalClient. New does no
// I/O: the script is loaded by the first decision on each server, so a Redis
// that is down at start only fails decisions (as the FailPolicy says) until
// it is up.
func New(c redis.Scripter, opts *Options) *Store {
	var o Options
	if opts != nil {
		o = *opts
	}
	s := &Store{
		c:         c,
		prefix:    o.Prefix,
		timeout:   o.Timeout,
		policy:    o.FailPolicy,
		fallback:  o.Fallback,
		instances: o.Instances,
		skew:      o.MaxClockSkew,
		now:       o.Now,
		logger:    o.Logger,
	}
	if s.prefix == "" {
		s.prefix = "tk:rl:"
	}
	s.braced = strings.Contains(s.prefix, "{")
	if s.timeout == 0 {
		s.timeout = 25 * time.Millisecond
	}
	if s.instances < 1 {
		s.instances = 1
	}
	switch {
	case s.skew == 0:
		s.skew = time.Minute
	case s.skew > time.Hour:
		s.skew = time.Hour
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	threshold, cooldown := o.BreakerThreshold, o.BreakerCooldown
	if threshold == 0 {
		threshold = 5
	}
	if cooldown <= 0 {
		cooldown = time.Second
	}
	s.breaker = newBreaker(threshold, cooldown)
	if s.policy == FailLocal && s.fallback == nil {
		s.fallback = ratelimit.NewMemory(&ratelimit.MemoryOptions{Capacity: 1 << 16, Now: o.Now})
	}
	if o.DenyCacheSize > 0 {
		s.deny = newDenyCache(o.DenyCacheSize)
	}
	return s
}

// Bounds that keep every number of the script exact: Redis Lua numbers are
// doubles, exact for integers up to 2^53.
const (
	maxExact = 1 << 53
	maxRate  = 1 << 43 // rate × 1000 and rate + state stay below 2^53
)

// Take decides req with one EVALSHA (EVAL the first time a server lacks the
// script) and fills d. It returns an error wrapping ratelimit.ErrInvalid for
// an invalid request (also for a limit whose Burst × Period, in
// microseconds and divided by the greatest common divisor of that Period
// and Rate, exceeds 2^53) and for every request when Options.Prefix
// contains '{', and, under FailClosed, an error wrapping
// ratelimit.ErrUnavailable when Redis cannot decide.
func (s *Store) Take(ctx context.Context, req *ratelimit.Request, d *ratelimit.Decision) error {
	if s.braced {
		// The prefix's brace would be every key's hash tag: all tenants
		// in one slot, or (with "{}") each key hashed whole and CROSSSLOT.
		return fmt.Errorf("%w: redisstore: prefix %q contains '{'", ratelimit.ErrInvalid, s.prefix)
	}
	if err := req.Validate(); err != nil {
		return err
	}
	n := req.Units()
	burst := req.Limit.EffectiveBurst()
	// Redis TIME has microsecond resolution: a period is rounded up to a
	// whole microsecond, which can only make the limit stricter.
	periodUS := int64((req.Limit.Period + time.Microsecond - 1) / time.Microsecond)
	// Only the emission interval periodUS/rate matters: reduced to lowest
	// terms, the script's numbers (burst × period) stay small for long
	// periods (10,000 per 30 days is 10,000 × 259,200,000, not × 2.6e12).
	rate := int64(req.Limit.Rate)
	if g := gcd(periodUS, rate); g > 1 {
		periodUS, rate = periodUS/g, rate/g
	}
	if lim := int64(maxExact) / periodUS; int64(burst) > lim-int64(n) || rate > maxRate {
		return fmt.Errorf("%w: key %q: limit %q: %d per %v with burst %d is too large for the Redis store (in lowest terms of period in µs over rate: rate at most 2^43, burst × period below 2^53)",
			ratelimit.ErrInvalid, req.Key, req.Limit.Name, req.Limit.Rate, req.Limit.Period, burst)
	}
	for _, q := range req.Quotas {
		if q.Max > maxExact {
			return fmt.Errorf("%w: key %q: quota %q: max %d is too large for the Redis store (at most 2^53)", ratelimit.ErrInvalid, req.Key, q.Name, q.Max)
		}
	}
	now := s.now()
	if s.deny != nil && s.deny.lookup(req, n, now, d) {
		return nil
	}
	ok, probe, wait := s.breaker.allow(now)
	if !ok {
		return s.fail(ctx, req, d, now, fmt.Errorf("%w (retry in %v)", ErrCircuitOpen, wait))
	}
	err := s.eval(ctx, req, n, burst, rate, periodUS, now, d)
	if err == nil {
		if s.breaker.success() {
			s.logger.LogAttrs(ctx, slog.LevelInfo, "redis rate limit store recovered")
		}
		if s.deny != nil && !d.Allowed {
			s.deny.store(req, n, now, d)
		}
		return nil
	}
	if ctx.Err() != nil {
		// The caller gave up: that says nothing about Redis.
		s.breaker.abort(probe)
		return fmt.Errorf("redisstore: take %q: %w: %w", req.Key, ratelimit.ErrUnavailable, err)
	}
	if countsAsOutage(err) && s.breaker.failure(s.now(), probe) {
		s.logger.LogAttrs(ctx, slog.LevelWarn, "redis rate limit store circuit open",
			slog.String("error", err.Error()), slog.String("policy", s.policy.String()))
	} else if probe {
		s.breaker.abort(probe)
	}
	return s.fail(ctx, req, d, now, err)
}

// gcd is the greatest common divisor of a, b > 0.
func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// countsAsOutage reports whether err says Redis is unavailable (network,
// timeout, cluster down, loading) rather than that one key is unusable (a
// malformed value or WRONGTYPE) or that one cluster slot is moving (MOVED,
// ASK or TRYAGAIN left after the client's redirections), which must not open
// the breaker for all.
func countsAsOutage(err error) bool {
	var re redis.Error
	if !errors.As(err, &re) {
		return true
	}
	msg := re.Error()
	for _, p := range [...]string{"MOVED ", "ASK ", "TRYAGAIN"} {
		if strings.HasPrefix(msg, p) {
			return false
		}
	}
	return !strings.Contains(msg, "WRONGTYPE") && !strings.Contains(msg, "tenantkit:")
}

// callBuf is the reusable scratch of one script call: the bytes of its keys,
// its KEYS and ARGV slices. go-redis copies KEYS and ARGV into its own
// command, so a callBuf goes back to the Store's pool when the call returns.
type callBuf struct {
	key  []byte
	keys []string
	args []any
}

// maxPooledKeyBytes bounds the key bytes a pooled callBuf keeps, so one
// request with a great many quotas does not pin its buffer.
const maxPooledKeyBytes = 4 << 10

// replyInts is the reply's numbers for a decision without quotas; each quota
// adds two.
const replyInts = 5

// eval runs the script and fills d from its reply.
func (s *Store) eval(ctx context.Context, req *ratelimit.Request, n, burst int, rate, periodUS int64, now time.Time, d *ratelimit.Decision) error {
	nq := len(req.Quotas)
	var spanBuf [2]quotaSpan
	spans := spanBuf[:0]
	for i := range req.Quotas {
		spans = append(spans, spanFor(&req.Quotas[i], now, s.skew))
	}
	b, _ := s.bufs.Get().(*callBuf)
	if b == nil {
		b = new(callBuf)
	}
	defer s.putBuf(b)
	var keys []string
	b.key, keys = callKeys(b.key, b.keys, s.prefix, req.Key, req.Quotas, spans)
	b.keys = keys
	args := append(b.args[:0], rate, periodUS, burst, n)
	keep := quotaRetention + max(s.skew, 0)
	for i := range req.Quotas {
		sp := &spans[i]
		var boundary int64
		expires := any(sp.earlierEnd.Add(keep).Unix())
		laterExpires := expires
		if !sp.boundary.IsZero() {
			boundary = sp.boundary.UnixMicro()
			laterExpires = sp.laterEnd.Add(keep).Unix()
		}
		args = append(args, req.Quotas[i].Max, boundary, expires, laterExpires)
	}
	b.args = args
	callCtx := ctx
	if s.timeout > 0 {
		var cancel context.CancelFunc
		callCtx, cancel = context.WithTimeout(ctx, s.timeout)
		defer cancel()
	}
	reply, err := takeScript.Run(callCtx, s.c, keys, args...).Text()
	if err != nil {
		if dl, ok := callCtx.Deadline(); ok && ctx.Err() == nil && !time.Now().Before(dl) {
			// The store's own deadline ended the call. The client may
			// report it as a socket timeout, possibly before the
			// context's timer has marked the context done.
			return fmt.Errorf("redisstore: take %q: %w: no answer within %v: %w", req.Key, ratelimit.ErrUnavailable, s.timeout, context.DeadlineExceeded)
		}
		return fmt.Errorf("redisstore: take %q: %w: %w", req.Key, ratelimit.ErrUnavailable, err)
	}
	var intBuf [replyInts + 2*2]int64
	v, ok := parseInts(reply, intBuf[:0])
	if !ok || len(v) != replyInts+2*nq {
		return fmt.Errorf("redisstore: take %q: %w: script reply %q is not %d integers", req.Key, ratelimit.ErrUnavailable, reply, replyInts+2*nq)
	}
	flags := v[0]
	d.Allowed = flags&1 != 0
	d.Limit = req.Limit
	d.Remaining = int(v[1])
	d.RetryAfter = 0
	if !d.Allowed && flags&2 == 0 {
		d.RetryAfter = time.Duration(v[2]) * time.Microsecond
	}
	d.ResetAfter = time.Duration(v[3]) * time.Microsecond
	d.Degraded = false
	serverNow := time.UnixMicro(v[4])
	d.Quotas = d.Quotas[:0]
	for i, q := range req.Quotas {
		used, qflags := v[replyInts+2*i], v[replyInts+2*i+1]
		resetAt := spans[i].earlierEnd
		if qflags&2 != 0 {
			resetAt = spans[i].laterEnd
		}
		qr := ratelimit.QuotaResult{Quota: q, Used: used, Allowed: qflags&1 != 0, ResetAt: resetAt}
		if !d.Allowed && !qr.Allowed {
			d.RetryAfter = max(d.RetryAfter, resetAt.Sub(serverNow))
		}
		d.Quotas = append(d.Quotas, qr)
	}
	return nil
}

// putBuf returns b to the pool, without references to the call's values.
func (s *Store) putBuf(b *callBuf) {
	if cap(b.key) > maxPooledKeyBytes {
		return
	}
	clear(b.keys)
	clear(b.args)
	s.bufs.Put(b)
}

// parseInts appends to dst the space-separated decimal integers of s and
// reports whether s held nothing else.
func parseInts(s string, dst []int64) ([]int64, bool) {
	for len(s) > 0 {
		if s[0] == ' ' {
			s = s[1:]
			continue
		}
		end := strings.IndexByte(s, ' ')
		if end < 0 {
			end = len(s)
		}
		x, err := strconv.ParseInt(s[:end], 10, 64)
		if err != nil {
			return dst, false
		}
		dst = append(dst, x)
		s = s[end:]
	}
	return dst, true
}

// fail answers req by the store's FailPolicy after Redis could not decide.
func (s *Store) fail(ctx context.Context, req *ratelimit.Request, d *ratelimit.Decision, now time.Time, cause error) error {
	if !errors.Is(cause, ratelimit.ErrUnavailable) {
		cause = fmt.Errorf("redisstore: take %q: %w: %w", req.Key, ratelimit.ErrUnavailable, cause)
	}
	switch s.policy {
	case FailOpen:
		d.Result = ratelimit.Result{Allowed: true, Limit: req.Limit}
		d.Quotas = d.Quotas[:0]
		for _, q := range req.Quotas {
			_, next := q.PeriodBounds(now)
			d.Quotas = append(d.Quotas, ratelimit.QuotaResult{Quota: q, Allowed: true, ResetAt: next})
		}
		d.Degraded = true
		return nil
	case FailLocal:
		local := s.share(req)
		if err := s.fallback.Take(ctx, &local, d); err != nil {
			// %v: the fallback's reason (such as ErrInvalid for more units
			// than the local share's burst) must not read as the request's.
			return fmt.Errorf("%w (local fallback: %v)", cause, err)
		}
		d.Degraded = true
		return nil
	}
	return cause
}

// maxShareWindow is the longest burst window a ratelimit.Limit may have
// (Limit.Validate): a local share slower than one unit per maxShareWindow
// is one unit per maxShareWindow.
const maxShareWindow = 100 * 365 * 24 * time.Hour

// share returns req with its limit, burst and enforcing quota Max divided
// by the number of instances n. The rate share is exact: Rate/n per Period
// when n divides Rate, otherwise Rate per n·Period (1 per minute over 3
// instances is 1 per 3 minutes each), so the fleet never admits more than
// the limit's rate and loses no fraction of it; when n·Period overflows an
// int64, 1 per ⌈n·Period/Rate⌉ (under a nanosecond per unit slower). Burst
// and quota Max are rounded down with at least 1 unit each, so with fewer
// units than instances the fleet may admit up to one unit per instance. A
// share slower than one unit per 100 years (the longest burst window a
// Limit may have, possible only with a Burst below n) is one unit per 100
// years, so every valid limit has a valid share. A request for more units
// than the share's burst is rejected by the fallback, and Take then
// returns the ErrUnavailable error.
func (s *Store) share(req *ratelimit.Request) ratelimit.Request {
	local := *req
	n := s.instances
	if n <= 1 {
		return local
	}
	lim := &local.Limit
	lim.Burst = max(1, req.Limit.EffectiveBurst()/n)
	switch {
	case req.Limit.Rate%n == 0:
		lim.Rate = req.Limit.Rate / n
	case req.Limit.Period <= math.MaxInt64/time.Duration(n):
		lim.Period = req.Limit.Period * time.Duration(n)
	default: // n·Period overflows: one unit per ⌈n·Period/Rate⌉
		hi, lo := bits.Mul64(uint64(n), uint64(req.Limit.Period))
		lo, carry := bits.Add64(lo, uint64(req.Limit.Rate-1), 0)
		hi += carry
		lim.Rate, lim.Period = 1, maxShareWindow+1 // past the window: clamped below
		if hi < uint64(req.Limit.Rate) {
			if q, _ := bits.Div64(hi, lo, uint64(req.Limit.Rate)); q <= math.MaxInt64 {
				lim.Period = time.Duration(q)
			}
		}
	}
	if lim.Validate() != nil {
		// Only a burst window past 100 years: Rate, Period and Burst are
		// positive and the emission interval is not shorter than the
		// shared limit's.
		lim.Rate, lim.Period, lim.Burst = 1, maxShareWindow, 1
	}
	if len(req.Quotas) > 0 {
		local.Quotas = make([]ratelimit.Quota, len(req.Quotas))
		for i, q := range req.Quotas {
			if q.Max > 0 {
				q.Max = max(1, q.Max/int64(s.instances))
			}
			local.Quotas[i] = q
		}
	}
	return local
}
