// Package ratelimittest is the conformance suite for ratelimit.Store.
//
// Every Store implementation runs it from its own tests:
//
//	func TestConformance(t *testing.T) {
//		ratelimittest.Run(t, func(t *testing.T) ratelimit.Store { return newStore(t) })
//	}
//
// Run checks admit and deny, burst, exact RetryAfter, N > 1, ResetAfter and
// Remaining, invalid requests, key isolation, daily and monthly quotas that
// count only admitted decisions, enforcing quotas that deny without
// consuming the limit, all-or-nothing decisions, calendar resets in a time
// zone, and exactness under concurrency (Limit 100/min, 1,000 requests from
// 50 goroutines on one key: exactly 100 admitted, zero errors).
//
// Stores on a real clock (Redis server time) run with tiny sleeps and a
// tolerance; stores whose clock a test controls pass WithClock, which makes
// every timing check exact to the nanosecond (or to WithPrecision) and
// enables the calendar tests. Every subtest uses its own key
// (testenv.Name), so stores shared between test runs never collide.
package ratelimittest

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tenantkit/tenantkit/internal/testenv"
	"github.com/tenantkit/tenantkit/ratelimit"
)

// Clock is the time source of a store under test.
type Clock interface {
	// Now returns the store's current time.
	Now() time.Time
	// Advance moves the store's time forward by d (a real clock sleeps).
	Advance(d time.Duration)
}

// Option configures Run.
type Option func(*config)

type config struct {
	clock     func(s ratelimit.Store) Clock
	precision time.Duration
}

// WithClock declares that the stores newStore returns read a clock the test
// controls: clock returns it for a given store. Timing checks become exact
// and the calendar-boundary tests run. Without it, Run uses the real clock,
// sleeps briefly and allows one second of tolerance.
func WithClock(clock func(s ratelimit.Store) Clock) Option {
	return func(c *config) { c.clock = clock }
}

// WithPrecision sets the resolution of a store's clock under WithClock (for
// example a microsecond for Redis TIME). Timing checks allow this much
// error; waiting exactly RetryAfter must still be admitted. Default 0.
func WithPrecision(d time.Duration) Option {
	return func(c *config) { c.precision = d }
}

type realClock struct{}

func (realClock) Now() time.Time          { return time.Now() }
func (realClock) Advance(d time.Duration) { time.Sleep(d) }

// Run runs the conformance suite against stores built by newStore, which is
// called once per subtest.
func Run(t *testing.T, newStore func(t *testing.T) ratelimit.Store, opts ...Option) {
	var c config
	for _, o := range opts {
		o(&c)
	}
	s := &suite{cfg: c, newStore: newStore}
	tests := []struct {
		name string
		fn   func(t *testing.T, e *env)
	}{
		{"AdmitDeny", s.admitDeny},
		{"ZeroNMeansOne", s.zeroN},
		{"Burst", s.burst},
		{"RetryAfterExact", s.retryAfterExact},
		{"Refill", s.refill},
		{"NUnits", s.nUnits},
		{"ResetAfter", s.resetAfter},
		{"Invalid", s.invalid},
		{"KeysIndependent", s.keysIndependent},
		{"QuotaCountsOnlyAdmitted", s.quotaCountsOnlyAdmitted},
		{"QuotaEnforcingKeepsLimit", s.quotaEnforcing},
		{"QuotaAllOrNothing", s.quotaAllOrNothing},
		{"QuotaResetAt", s.quotaResetAt},
		{"QuotaCalendarTokyo", s.quotaCalendarTokyo},
		{"QuotaCalendarUTCMonthEnd", s.quotaCalendarMonthEnd},
		{"ConcurrentExact", s.concurrentExact},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := newStore(t)
			e := &env{t: t, store: st, key: testenv.Name("rl"), clock: realClock{}}
			if c.clock != nil {
				e.clock = c.clock(st)
				e.fake = true
				e.tol = c.precision
			} else {
				e.tol = time.Second
			}
			tc.fn(t, e)
		})
	}
}

type suite struct {
	cfg      config
	newStore func(t *testing.T) ratelimit.Store
}

type env struct {
	t     *testing.T
	store ratelimit.Store
	key   string
	clock Clock
	fake  bool
	tol   time.Duration
}

func (e *env) take(key string, lim ratelimit.Limit, n int, quotas ...ratelimit.Quota) ratelimit.Decision {
	e.t.Helper()
	var d ratelimit.Decision
	req := ratelimit.Request{Key: key, Limit: lim, N: n, Quotas: quotas}
	require.NoError(e.t, e.store.Take(e.t.Context(), &req, &d), "Take(%q, %+v, n=%d)", key, lim, n)
	require.Len(e.t, d.Quotas, len(quotas), "one QuotaResult per quota")
	return d
}

// near requires got within e.tol of want (exact under a fake clock), and
// never more than want plus tolerance.
func (e *env) near(want, got time.Duration, what string) {
	e.t.Helper()
	require.InDelta(e.t, float64(want), float64(got), float64(e.tol), "%s: want %v, got %v (tolerance %v)", what, want, got, e.tol)
}

func (s *suite) admitDeny(t *testing.T, e *env) {
	lim := ratelimit.Limit{Name: "basic", Rate: 3, Period: time.Minute}
	for i := range 3 {
		d := e.take(e.key, lim, 1)
		require.True(t, d.Allowed, "request %d of 3 must be admitted", i+1)
		require.Equal(t, 2-i, d.Remaining, "remaining after request %d", i+1)
		require.Zero(t, d.RetryAfter, "RetryAfter is 0 when allowed")
		require.Equal(t, lim, d.Limit, "Result.Limit echoes the request's limit")
	}
	d := e.take(e.key, lim, 1)
	require.False(t, d.Allowed, "the 4th request within a minute is denied")
	require.Zero(t, d.Remaining)
	e.near(20*time.Second, d.RetryAfter, "RetryAfter of 3/min after 3 admits")
	require.Positive(t, d.RetryAfter)
	// Denials consume nothing: another denial answers the same wait.
	d2 := e.take(e.key, lim, 1)
	require.False(t, d2.Allowed)
	require.LessOrEqual(t, d2.RetryAfter, d.RetryAfter, "a denial must not push the retry time out")
}

func (s *suite) zeroN(t *testing.T, e *env) {
	lim := ratelimit.Limit{Name: "z", Rate: 2, Period: time.Minute}
	require.True(t, e.take(e.key, lim, 0).Allowed)
	d := e.take(e.key, lim, 0)
	require.True(t, d.Allowed)
	require.Zero(t, d.Remaining, "N 0 takes one unit")
	require.False(t, e.take(e.key, lim, 0).Allowed)
}

func (s *suite) burst(t *testing.T, e *env) {
	// 10 per minute with a burst of 3: three at once, then one every 6 s.
	lim := ratelimit.Limit{Name: "b", Rate: 10, Period: time.Minute, Burst: 3}
	for i := range 3 {
		d := e.take(e.key, lim, 1)
		require.True(t, d.Allowed, "burst request %d", i+1)
		require.Equal(t, 2-i, d.Remaining)
	}
	d := e.take(e.key, lim, 1)
	require.False(t, d.Allowed, "burst 3 admits exactly 3 at once")
	e.near(6*time.Second, d.RetryAfter, "one emission interval of 10/min")
	e.near(18*time.Second, d.ResetAfter, "three intervals to refill the burst")

	// Burst larger than rate: 2 per second with burst 5 admits 5 at once.
	lim2 := ratelimit.Limit{Name: "b2", Rate: 2, Period: time.Second, Burst: 5}
	k2 := e.key + ":2"
	for i := range 5 {
		require.True(t, e.take(k2, lim2, 1).Allowed, "burst-5 request %d", i+1)
	}
	require.False(t, e.take(k2, lim2, 1).Allowed, "the 6th is denied")
}

func (s *suite) retryAfterExact(t *testing.T, e *env) {
	period := time.Minute
	if !e.fake {
		period = 300 * time.Millisecond
	}
	lim := ratelimit.Limit{Name: "r", Rate: 1, Period: period}
	require.True(t, e.take(e.key, lim, 1).Allowed)
	d := e.take(e.key, lim, 1)
	require.False(t, d.Allowed)
	require.Positive(t, d.RetryAfter)
	require.LessOrEqual(t, d.RetryAfter, period)
	if e.fake {
		// Waiting a little less is still denied; waiting exactly RetryAfter
		// is admitted.
		short := max(time.Millisecond, 2*e.tol)
		e.clock.Advance(d.RetryAfter - short)
		d2 := e.take(e.key, lim, 1)
		require.False(t, d2.Allowed, "denied %v before RetryAfter", short)
		require.LessOrEqual(t, d2.RetryAfter, short+e.tol)
		require.Positive(t, d2.RetryAfter)
		e.clock.Advance(d2.RetryAfter)
	} else {
		e.clock.Advance(d.RetryAfter)
	}
	d3 := e.take(e.key, lim, 1)
	require.True(t, d3.Allowed, "waiting exactly RetryAfter must be admitted")
}

func (s *suite) refill(t *testing.T, e *env) {
	period := time.Minute
	if !e.fake {
		period = 600 * time.Millisecond
	}
	lim := ratelimit.Limit{Name: "f", Rate: 3, Period: period}
	for range 3 {
		require.True(t, e.take(e.key, lim, 1).Allowed)
	}
	require.False(t, e.take(e.key, lim, 1).Allowed)
	e.clock.Advance(period / 3)
	require.True(t, e.take(e.key, lim, 1).Allowed, "one unit refills after Period/Rate")
	if e.fake {
		require.False(t, e.take(e.key, lim, 1).Allowed, "and only one")
		e.clock.Advance(10 * period)
		for range 3 {
			require.True(t, e.take(e.key, lim, 1).Allowed, "an idle key has its full burst")
		}
		require.False(t, e.take(e.key, lim, 1).Allowed, "and never more than the burst")
	}
}

func (s *suite) nUnits(t *testing.T, e *env) {
	lim := ratelimit.Limit{Name: "n", Rate: 10, Period: time.Minute}
	d := e.take(e.key, lim, 4)
	require.True(t, d.Allowed)
	require.Equal(t, 6, d.Remaining)
	d = e.take(e.key, lim, 7)
	require.False(t, d.Allowed, "7 more than the 6 left is denied")
	require.Equal(t, 6, d.Remaining, "a denied N consumes nothing")
	e.near(6*time.Second, d.RetryAfter, "one more unit needed: one interval")
	d = e.take(e.key, lim, 6)
	require.True(t, d.Allowed, "all-or-nothing: the 6 left are still there")
	require.Zero(t, d.Remaining)
}

func (s *suite) resetAfter(t *testing.T, e *env) {
	lim := ratelimit.Limit{Name: "ra", Rate: 10, Period: time.Minute}
	d := e.take(e.key, lim, 1)
	e.near(6*time.Second, d.ResetAfter, "one unit taken of 10/min")
	d = e.take(e.key, lim, 9)
	require.True(t, d.Allowed)
	e.near(time.Minute, d.ResetAfter, "all taken: a full period to reset")
}

func (s *suite) invalid(t *testing.T, e *env) {
	good := ratelimit.Limit{Name: "i", Rate: 5, Period: time.Minute}
	cases := []struct {
		name string
		req  ratelimit.Request
	}{
		{"zero rate", ratelimit.Request{Key: e.key, Limit: ratelimit.Limit{Rate: 0, Period: time.Minute}}},
		{"negative rate", ratelimit.Request{Key: e.key, Limit: ratelimit.Limit{Rate: -1, Period: time.Minute}}},
		{"zero period", ratelimit.Request{Key: e.key, Limit: ratelimit.Limit{Rate: 1}}},
		{"negative burst", ratelimit.Request{Key: e.key, Limit: ratelimit.Limit{Rate: 1, Period: time.Minute, Burst: -1}}},
		{"negative n", ratelimit.Request{Key: e.key, Limit: good, N: -1}},
		{"n over burst", ratelimit.Request{Key: e.key, Limit: good, N: 6}},
		{"bad quota period", ratelimit.Request{Key: e.key, Limit: good, Quotas: []ratelimit.Quota{{Name: "q", Period: 9}}}},
		{"negative quota max", ratelimit.Request{Key: e.key, Limit: good, Quotas: []ratelimit.Quota{{Name: "q", Period: ratelimit.Day, Max: -1}}}},
		{"n over quota max", ratelimit.Request{Key: e.key, Limit: good, N: 3, Quotas: []ratelimit.Quota{{Name: "q", Period: ratelimit.Day, Max: 2}}}},
	}
	for _, tc := range cases {
		var d ratelimit.Decision
		err := e.store.Take(t.Context(), &tc.req, &d)
		require.ErrorIs(t, err, ratelimit.ErrInvalid, tc.name)
	}
	// Nothing was consumed by the invalid requests.
	d := e.take(e.key, good, 5)
	require.True(t, d.Allowed, "invalid requests consume nothing")
}

func (s *suite) keysIndependent(t *testing.T, e *env) {
	lim := ratelimit.Limit{Name: "k", Rate: 1, Period: time.Minute}
	for i := range 20 {
		k := testenv.Name("rlk")
		require.True(t, e.take(k, lim, 1).Allowed, "key %d", i)
		require.False(t, e.take(k, lim, 1).Allowed, "key %d", i)
	}
}

func dayCount(name string, loc *time.Location) ratelimit.Quota {
	return ratelimit.Quota{Name: name, Period: ratelimit.Day, Location: loc}
}

func (s *suite) quotaCountsOnlyAdmitted(t *testing.T, e *env) {
	lim := ratelimit.Limit{Name: "q", Rate: 2, Period: time.Minute}
	day := dayCount("api_calls", nil)
	month := ratelimit.Quota{Name: "api_calls", Period: ratelimit.Month}
	d := e.take(e.key, lim, 1, day, month)
	require.True(t, d.Allowed)
	require.EqualValues(t, 1, d.Quotas[0].Used)
	require.EqualValues(t, 1, d.Quotas[1].Used)
	require.True(t, d.Quotas[0].Allowed)
	require.Equal(t, day, d.Quotas[0].Quota, "QuotaResult.Quota echoes the request's quota")
	require.Equal(t, month, d.Quotas[1].Quota)
	d = e.take(e.key, lim, 1, day, month)
	require.EqualValues(t, 2, d.Quotas[0].Used)
	d = e.take(e.key, lim, 1, day, month)
	require.False(t, d.Allowed, "the limit denies")
	require.EqualValues(t, 2, d.Quotas[0].Used, "a denied decision is not counted")
	require.EqualValues(t, 2, d.Quotas[1].Used, "a denied decision is not counted")
	require.True(t, d.Quotas[0].Allowed, "a count-only quota never denies")

	// Quotas of different names on the same key are separate counters.
	other := dayCount("exports", nil)
	d = e.take(e.key+":o", lim, 1, other)
	require.EqualValues(t, 1, d.Quotas[0].Used)
}

func (s *suite) quotaEnforcing(t *testing.T, e *env) {
	lim := ratelimit.Limit{Name: "qe", Rate: 10, Period: time.Minute}
	q := ratelimit.Quota{Name: "api_calls", Period: ratelimit.Day, Max: 2}
	for i := range 2 {
		d := e.take(e.key, lim, 1, q)
		require.True(t, d.Allowed, "call %d within quota", i+1)
		require.EqualValues(t, i+1, d.Quotas[0].Used)
	}
	now := e.clock.Now()
	d := e.take(e.key, lim, 1, q)
	require.False(t, d.Allowed, "the 3rd call exceeds the daily max of 2")
	require.False(t, d.Quotas[0].Allowed)
	require.EqualValues(t, 2, d.Quotas[0].Used)
	require.Equal(t, 8, d.Remaining, "a quota denial does not consume the limit")
	_, next := q.PeriodBounds(now)
	require.True(t, d.Quotas[0].ResetAt.Equal(next), "ResetAt %v is the next UTC midnight %v", d.Quotas[0].ResetAt, next)
	e.near(next.Sub(now), d.RetryAfter, "RetryAfter of a quota denial runs to ResetAt")

	// The limit still has its 8 units for requests without the quota.
	d = e.take(e.key, lim, 8)
	require.True(t, d.Allowed)
}

func (s *suite) quotaAllOrNothing(t *testing.T, e *env) {
	lim := ratelimit.Limit{Name: "qa", Rate: 100, Period: time.Minute}
	day := ratelimit.Quota{Name: "api_calls", Period: ratelimit.Day, Max: 100}
	month := ratelimit.Quota{Name: "api_calls", Period: ratelimit.Month, Max: 3}
	d := e.take(e.key, lim, 2, day, month)
	require.True(t, d.Allowed)
	d = e.take(e.key, lim, 2, day, month)
	require.False(t, d.Allowed, "2 more exceed the monthly max of 3")
	require.True(t, d.Quotas[0].Allowed, "the day quota alone would admit")
	require.False(t, d.Quotas[1].Allowed)
	require.EqualValues(t, 2, d.Quotas[0].Used, "the day counter is untouched by a denial")
	require.EqualValues(t, 2, d.Quotas[1].Used)
	require.Equal(t, 98, d.Remaining, "the limit is untouched by a denial")
	d = e.take(e.key, lim, 1, day, month)
	require.True(t, d.Allowed, "1 more fits the month")
	require.EqualValues(t, 3, d.Quotas[0].Used)
	require.EqualValues(t, 3, d.Quotas[1].Used)
	require.Equal(t, 97, d.Remaining)
}

func (s *suite) quotaResetAt(t *testing.T, e *env) {
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	require.NoError(t, err)
	lim := ratelimit.Limit{Name: "qr", Rate: 10, Period: time.Minute}
	qs := []ratelimit.Quota{
		dayCount("api_calls", tokyo),
		{Name: "api_calls", Period: ratelimit.Month, Location: tokyo},
		dayCount("api_calls_utc", nil), // one name per period: a name is one counter
	}
	before := e.clock.Now()
	d := e.take(e.key, lim, 1, qs...)
	after := e.clock.Now()
	for i, qr := range d.Quotas {
		_, n1 := qs[i].PeriodBounds(before)
		_, n2 := qs[i].PeriodBounds(after)
		require.True(t, qr.ResetAt.Equal(n1) || qr.ResetAt.Equal(n2),
			"quota %d: ResetAt %v is the start of the next period (%v)", i, qr.ResetAt, n1)
		lt := qr.ResetAt.UTC()
		if qs[i].Location != nil {
			lt = qr.ResetAt.In(qs[i].Location)
		}
		require.Zero(t, lt.Hour()*3600+lt.Minute()*60+lt.Second()+lt.Nanosecond(), "quota %d resets at local midnight, got %v", i, lt)
	}
}

// toLocal advances the fake clock to the next instant that reads hh:mm in
// loc (the test must run with WithClock).
func (e *env) toLocal(loc *time.Location, day func(time.Time) time.Time, hh, mm int) time.Time {
	e.t.Helper()
	now := e.clock.Now()
	target := day(now.In(loc))
	target = time.Date(target.Year(), target.Month(), target.Day(), hh, mm, 0, 0, loc)
	for !target.After(now) {
		target = target.AddDate(0, 0, 1)
	}
	e.clock.Advance(target.Sub(now))
	require.True(e.t, e.clock.Now().Equal(target), "clock at %v after advancing, want %v", e.clock.Now(), target)
	return target
}

func (s *suite) quotaCalendarTokyo(t *testing.T, e *env) {
	if !e.fake {
		t.Skip("calendar boundaries need WithClock")
	}
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	require.NoError(t, err)
	for _, loc := range []*time.Location{tokyo, time.UTC} {
		key := testenv.Name("rlq")
		lim := ratelimit.Limit{Name: "big", Rate: 1_000_000, Period: time.Minute}
		q := ratelimit.Quota{Name: "api_calls", Period: ratelimit.Day, Max: 1000, Location: loc}
		at := e.toLocal(loc, func(t time.Time) time.Time { return t }, 23, 30)
		d := e.take(key, lim, 950, q)
		require.True(t, d.Allowed)
		require.EqualValues(t, 950, d.Quotas[0].Used)
		midnight := time.Date(at.Year(), at.Month(), at.Day()+1, 0, 0, 0, 0, loc)
		require.True(t, d.Quotas[0].ResetAt.Equal(midnight), "%v: ResetAt %v, want local midnight %v", loc, d.Quotas[0].ResetAt, midnight)
		d = e.take(key, lim, 51, q)
		require.False(t, d.Allowed, "%v: 950+51 exceeds 1000", loc)
		e.near(30*time.Minute, d.RetryAfter, "quota denial waits until local midnight")
		require.True(t, e.take(key, lim, 50, q).Allowed, "%v: 1000 exactly fits", loc)

		// Just before midnight the day is still full; at midnight it resets.
		e.clock.Advance(midnight.Sub(e.clock.Now()) - time.Millisecond)
		require.False(t, e.take(key, lim, 1, q).Allowed, "%v: 1 ms before local midnight the quota is exhausted", loc)
		e.clock.Advance(time.Millisecond)
		d = e.take(key, lim, 1, q)
		require.True(t, d.Allowed, "%v: admitted at local midnight", loc)
		require.EqualValues(t, 1, d.Quotas[0].Used, "%v: the day counter restarted", loc)

		e.clock.Advance(30 * time.Minute) // 00:30 local
		d = e.take(key, lim, 1, q)
		require.EqualValues(t, 2, d.Quotas[0].Used, "%v: reset exactly once", loc)
		require.True(t, d.Quotas[0].ResetAt.Equal(midnight.AddDate(0, 0, 1)))
	}
}

func (s *suite) quotaCalendarMonthEnd(t *testing.T, e *env) {
	if !e.fake {
		t.Skip("calendar boundaries need WithClock")
	}
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	require.NoError(t, err)
	for _, loc := range []*time.Location{time.UTC, tokyo} {
		key := testenv.Name("rlm")
		lim := ratelimit.Limit{Name: "big", Rate: 1_000_000, Period: time.Minute}
		day := ratelimit.Quota{Name: "api_calls", Period: ratelimit.Day, Location: loc}
		month := ratelimit.Quota{Name: "api_calls", Period: ratelimit.Month, Max: 1000, Location: loc}
		// 23:30 on the last day of the current month.
		lastDay := func(t time.Time) time.Time { return time.Date(t.Year(), t.Month()+1, 0, 0, 0, 0, 0, loc) }
		at := e.toLocal(loc, lastDay, 23, 30)
		require.Equal(t, 1, at.AddDate(0, 0, 1).Day(), "%v: %v is the last day of its month", loc, at)
		d := e.take(key, lim, 950, day, month)
		require.True(t, d.Allowed)
		first := time.Date(at.Year(), at.Month()+1, 1, 0, 0, 0, 0, loc)
		require.True(t, d.Quotas[1].ResetAt.Equal(first), "%v: month ResetAt %v, want %v", loc, d.Quotas[1].ResetAt, first)
		require.False(t, e.take(key, lim, 51, day, month).Allowed)

		e.clock.Advance(time.Hour) // 00:30 on the 1st
		d = e.take(key, lim, 1, day, month)
		require.True(t, d.Allowed, "%v: the new month admits", loc)
		require.EqualValues(t, 1, d.Quotas[0].Used, "%v: day restarted", loc)
		require.EqualValues(t, 1, d.Quotas[1].Used, "%v: month restarted", loc)
		d = e.take(key, lim, 1, day, month)
		require.EqualValues(t, 2, d.Quotas[1].Used, "%v: month reset exactly once", loc)
	}
}

func (s *suite) concurrentExact(t *testing.T, e *env) {
	lim := ratelimit.Limit{Name: "basic", Rate: 100, Period: time.Minute}
	day := dayCount("api_calls", nil)
	var admitted, denied, errs atomic.Int64
	var wg sync.WaitGroup
	const workers, perWorker = 50, 20
	start := make(chan struct{})
	for range workers {
		wg.Go(func() {
			<-start
			for range perWorker {
				var d ratelimit.Decision
				req := ratelimit.Request{Key: e.key, Limit: lim, Quotas: []ratelimit.Quota{day}}
				if err := e.store.Take(t.Context(), &req, &d); err != nil {
					errs.Add(1)
					continue
				}
				if d.Allowed {
					admitted.Add(1)
				} else {
					denied.Add(1)
				}
			}
		})
	}
	began := time.Now()
	close(start)
	wg.Wait()
	elapsed := time.Since(began)
	require.Zero(t, errs.Load(), "no errors under concurrency")
	// Exactly the limit: 100 at once, plus under a real clock the units that
	// refilled while the run lasted (one per 600 ms; none under a fake clock
	// or a run shorter than 600 ms). Never one more than that.
	most := int64(100)
	if !e.fake {
		most += int64(elapsed / (lim.Period / time.Duration(lim.Rate)))
	}
	require.GreaterOrEqual(t, admitted.Load(), int64(100), "the whole burst is admitted")
	require.LessOrEqual(t, admitted.Load(), most, "never more than the limit allows over %v", elapsed)
	require.EqualValues(t, 1000, admitted.Load()+denied.Load())
	d := e.take(e.key, lim, 1, day)
	want := admitted.Load()
	if d.Allowed { // a real clock may have refilled a unit meanwhile
		want++
	}
	require.Equal(t, want, d.Quotas[0].Used, "the day quota counted exactly the admitted decisions")
}
