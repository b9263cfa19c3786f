package redisstore_test

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tenantkit/tenantkit/internal/testenv"
	"github.com/tenantkit/tenantkit/ratelimit"
	"github.com/tenantkit/tenantkit/ratelimit/redisstore"
)

// TestSameDecisionsAsMemory replays random request sequences against the
// Redis store (miniredis, server clock driven by the test) and the memory
// store on the same clock: every field of every decision must agree. The
// limits have emission intervals of whole microseconds, the resolution of
// Redis TIME, so both are exact and must match to the nanosecond.
func TestSameDecisionsAsMemory(t *testing.T) {
	limits := []ratelimit.Limit{
		{Name: "basic", Rate: 100, Period: time.Minute},
		{Name: "b3", Rate: 10, Period: time.Minute, Burst: 3},
		{Name: "half", Rate: 2, Period: 500 * time.Millisecond},
		{Name: "b7", Rate: 100, Period: time.Second, Burst: 7},
		{Name: "one", Rate: 1000, Period: time.Second, Burst: 1},
		{Name: "big", Rate: 5, Period: time.Second, Burst: 20},
		{Name: "day", Rate: 1000, Period: 24 * time.Hour, Burst: 50},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, lim := range limits {
		t.Run(lim.Name, func(t *testing.T) {
			c, clock := newMini(t)
			rs := redisstore.New(c, &redisstore.Options{Now: clock.Now, Timeout: 5 * time.Second})
			ms := ratelimit.NewMemory(&ratelimit.MemoryOptions{Now: clock.Now})
			interval := lim.Period / time.Duration(lim.Rate)
			burst := lim.EffectiveBurst()
			for i := range 400 {
				// Mostly bursts, sometimes a pause around the interval.
				if rng.IntN(3) == 0 {
					clock.Advance(time.Duration(rng.Int64N(int64(2*interval)/1000+1)) * time.Microsecond)
				}
				n := 1 + rng.IntN(min(burst, 4))
				req := ratelimit.Request{Key: "k", Limit: lim, N: n}
				want := take(t, ms, req)
				got := take(t, rs, req)
				require.Equal(t, want.Result, got.Result, "decision %d (n=%d) at %v", i, n, clock.Now())
			}
		})
	}
}

// TestRefillExact65535 holds the rate exact where Period/Rate is not a
// whole number of nanoseconds, let alone microseconds.
func TestRefillExact65535(t *testing.T) {
	c, clock := newMini(t)
	s := redisstore.New(c, &redisstore.Options{Now: clock.Now, Timeout: 5 * time.Second})
	lim := ratelimit.Limit{Name: "fast", Rate: 65535, Period: time.Second}
	req := func(n int) ratelimit.Request { return ratelimit.Request{Key: "k", Limit: lim, N: n} }

	require.True(t, take(t, s, req(65535)).Allowed, "the whole burst at once")
	require.False(t, take(t, s, req(1)).Allowed)
	for range 10 {
		clock.Advance(time.Second - time.Microsecond)
		d := take(t, s, req(65535))
		require.False(t, d.Allowed, "1 µs short of a second a full burst has not refilled")
		require.Equal(t, 65534, d.Remaining)
		require.Equal(t, time.Microsecond, d.RetryAfter)
		clock.Advance(time.Microsecond)
		require.True(t, take(t, s, req(65535)).Allowed, "after exactly one second it has, every second")
	}

	// One unit at a time, each at its RetryAfter: the k-th admission is at
	// the microsecond ceiling of k × 1s/65535, with no drift.
	start := clock.Now()
	const k = 2000
	for range k {
		d := take(t, s, req(1))
		if !d.Allowed {
			clock.Advance(d.RetryAfter)
			d = take(t, s, req(1))
		}
		require.True(t, d.Allowed, "admitted at its RetryAfter")
	}
	elapsed := clock.Now().Sub(start)
	exact := time.Duration(int64(k-1) * int64(time.Second) / 65535)
	require.GreaterOrEqual(t, elapsed, exact, "never faster than the rate")
	require.Less(t, elapsed-exact, time.Microsecond+time.Second/65535, "no drift: within one µs of the exact schedule")
}

// TestTwoPer500ms is the window-edge case: 2 per 500 ms admits 2 at once and
// never 2 more at a window edge.
func TestTwoPer500ms(t *testing.T) {
	c, clock := newMini(t)
	s := redisstore.New(c, &redisstore.Options{Now: clock.Now, Timeout: 5 * time.Second})
	lim := ratelimit.Limit{Rate: 2, Period: 500 * time.Millisecond}
	r := ratelimit.Request{Key: "k", Limit: lim}
	clock.Advance(499 * time.Millisecond)
	require.True(t, take(t, s, r).Allowed)
	require.True(t, take(t, s, r).Allowed)
	require.False(t, take(t, s, r).Allowed)
	clock.Advance(2 * time.Millisecond) // across a fixed-window edge
	require.False(t, take(t, s, r).Allowed, "no edge burst")
	clock.Advance(247 * time.Millisecond)
	require.False(t, take(t, s, r).Allowed)
	clock.Advance(time.Millisecond) // 250 ms after the burst: one unit
	require.True(t, take(t, s, r).Allowed)
	require.False(t, take(t, s, r).Allowed)
}

// TestCalendarOnRealRedis runs the Tokyo day reset on real servers: the GCRA
// uses the server clock, while the process clock (driven by the test, with
// MaxClockSkew off) picks the calendar period.
func TestCalendarOnRealRedis(t *testing.T) {
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	require.NoError(t, err)
	run := func(t *testing.T, s func(now func() time.Time) ratelimit.Store) {
		for _, loc := range []*time.Location{tokyo, time.UTC} {
			now := time.Date(2026, 12, 31, 23, 30, 0, 0, loc)
			st := s(func() time.Time { return now })
			key := testenv.Name("tenant")
			lim := ratelimit.Limit{Name: "big", Rate: 1_000_000, Period: time.Minute}
			day := ratelimit.Quota{Name: "api_calls", Period: ratelimit.Day, Max: 1000, Location: loc}
			month := ratelimit.Quota{Name: "api_calls", Period: ratelimit.Month, Location: loc}
			d := take(t, st, ratelimit.Request{Key: key, Limit: lim, N: 950, Quotas: []ratelimit.Quota{day, month}})
			require.True(t, d.Allowed)
			require.EqualValues(t, 950, d.Quotas[0].Used)
			d = take(t, st, ratelimit.Request{Key: key, Limit: lim, N: 51, Quotas: []ratelimit.Quota{day, month}})
			require.False(t, d.Allowed, "950 + 51 exceeds the day")
			now = now.Add(time.Hour) // 00:30 on January 1st, local
			for i := range 3 {
				d = take(t, st, ratelimit.Request{Key: key, Limit: lim, Quotas: []ratelimit.Quota{day, month}})
				require.True(t, d.Allowed)
				require.EqualValues(t, i+1, d.Quotas[0].Used, "%v: the day restarted once", loc)
				require.EqualValues(t, i+1, d.Quotas[1].Used, "%v: the month restarted once", loc)
			}
		}
	}
	t.Run("redis", func(t *testing.T) {
		c, prefix := testenv.RedisClient(t)
		run(t, func(now func() time.Time) ratelimit.Store {
			return redisstore.New(c, &redisstore.Options{Prefix: prefix, Timeout: 2 * time.Second, Now: now, MaxClockSkew: -1})
		})
	})
	t.Run("cluster", func(t *testing.T) {
		c, prefix := testenv.RedisClusterClient(t)
		run(t, func(now func() time.Time) ratelimit.Store {
			return redisstore.New(c, &redisstore.Options{Prefix: prefix, Timeout: 2 * time.Second, Now: now, MaxClockSkew: -1})
		})
	})
}

// FuzzTake feeds arbitrary keys, quota names and numbers to Take on
// miniredis: it never panics, rejects what it cannot decide exactly with
// ErrInvalid, and otherwise answers a consistent decision.
func FuzzTake(f *testing.F) {
	f.Add("tenant-42", "api_calls", 100, int64(time.Minute), 0, 1, int64(1000), uint8(1), int64(0))
	f.Add("", "", 1, int64(1), 0, 0, int64(0), uint8(2), int64(1))
	f.Add("a}b{c", "x:d:2026", 65535, int64(time.Second), 3, 3, int64(2), uint8(1), int64(999))
	f.Add("%7B", "q", 1<<62, int64(1<<62), 1, 1, int64(1<<60), uint8(2), int64(1<<40))
	f.Add("\x00\xff\n", "\x00", -5, int64(-1), -1, -1, int64(-1), uint8(9), int64(-3))
	f.Add("k", "q", 1000, int64(24*time.Hour), 1000000, 5, int64(0), uint8(1), int64(5000))
	c, clock := newMini(f)
	s := redisstore.New(c, &redisstore.Options{Now: clock.Now, Timeout: 5 * time.Second, DenyCacheSize: 16})
	f.Fuzz(func(t *testing.T, key, qname string, rate int, period int64, burst, n int, max int64, qp uint8, advanceUS int64) {
		if advanceUS > 0 {
			clock.Advance(time.Duration(advanceUS%(int64(time.Hour)/1000)) * time.Microsecond)
		}
		req := ratelimit.Request{
			Key:    key,
			Limit:  ratelimit.Limit{Name: "f", Rate: rate, Period: time.Duration(period), Burst: burst},
			N:      n,
			Quotas: []ratelimit.Quota{{Name: qname, Period: ratelimit.QuotaPeriod(qp), Max: max}},
		}
		var d ratelimit.Decision
		err := s.Take(t.Context(), &req, &d)
		if err != nil {
			if !errors.Is(err, ratelimit.ErrInvalid) {
				t.Fatalf("Take(%+v): %v (want nil or ErrInvalid)", req, err)
			}
			exactFits := float64(req.Limit.EffectiveBurst()+req.Units())*float64(period/1000+1) < 1<<52
			if req.Validate() == nil && rate <= 1<<43 && max <= 1<<53 && exactFits {
				t.Fatalf("Take(%+v) rejected a plain request: %v", req, err)
			}
			return
		}
		if len(d.Quotas) != 1 {
			t.Fatalf("%d quota results", len(d.Quotas))
		}
		if d.Allowed && (d.RetryAfter != 0 || d.Remaining < 0) || !d.Allowed && d.RetryAfter <= 0 || d.ResetAfter < 0 {
			t.Fatalf("inconsistent decision %+v", d)
		}
	})
}
