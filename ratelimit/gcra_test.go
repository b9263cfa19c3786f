package ratelimit_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/tenantkit/tenantkit/ratelimit"
)

// gcraKey is one key's state under the pure decision.
type gcraKey struct {
	t   *testing.T
	lim ratelimit.Limit
	tat int64
}

func (k *gcraKey) allow(now time.Time, n int) ratelimit.Result {
	k.t.Helper()
	tat, r, err := ratelimit.Decide(k.tat, now, k.lim, n)
	require.NoError(k.t, err)
	if r.Allowed {
		k.tat = tat
	} else {
		require.Equal(k.t, k.tat, tat, "a denial leaves the state unchanged")
	}
	return r
}

// peek decides without keeping the new state.
func (k *gcraKey) peek(now time.Time, n int) ratelimit.Result {
	_, r, err := ratelimit.Decide(k.tat, now, k.lim, n)
	require.NoError(k.t, err)
	return r
}

func oracleFor(l ratelimit.Limit) *rate.Limiter {
	return rate.NewLimiter(rate.Limit(float64(l.Rate)/l.Period.Seconds()), l.EffectiveBurst())
}

// TestDecideMatchesXTimeRate drives the GCRA decision and x/time/rate (same
// rate and burst) with the same random arrivals and requires the same
// answers. The only tolerated disagreements are within 3 ns of a refill
// instant, where x/time/rate's float64 tokens and the decision's
// nanosecond grid may round differently; each one is verified to be such a
// boundary and both sides are then re-aligned.
func TestDecideMatchesXTimeRate(t *testing.T) {
	limits := []ratelimit.Limit{
		{Name: "2per500ms", Rate: 2, Period: 500 * time.Millisecond},
		{Name: "65535ps", Rate: 65535, Period: time.Second},
		{Name: "basic", Rate: 100, Period: time.Minute},
		{Name: "burst3", Rate: 10, Period: time.Minute, Burst: 3},
		{Name: "burst20", Rate: 7, Period: time.Second, Burst: 20},
		{Name: "one", Rate: 1, Period: 10 * time.Second, Burst: 1},
		{Name: "thirds", Rate: 3, Period: time.Second},
		{Name: "enterprise", Rate: 2000, Period: time.Minute},
	}
	for _, lim := range limits {
		for seed := range uint64(3) {
			t.Run(fmt.Sprintf("%s/seed%d", lim.Name, seed), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(seed, uint64(lim.Rate)))
				interval := lim.Period / time.Duration(lim.Rate)
				burst := lim.EffectiveBurst()
				k := &gcraKey{t: t, lim: lim}
				oracle := oracleFor(lim)
				now := clockEpoch
				var admits []time.Time // one entry per admitted unit
				boundary := 0
				const steps = 6000
				for range steps {
					switch rng.IntN(6) {
					case 0: // same instant
					case 1:
						now = now.Add(time.Duration(rng.Int64N(int64(interval)) + 1))
					case 2:
						now = now.Add(interval)
					case 3:
						now = now.Add(time.Duration(rng.Int64N(int64(interval) * int64(burst+1))))
					case 4: // straddle a window edge: just past a whole period
						now = now.Add(lim.Period - time.Duration(rng.Int64N(int64(time.Millisecond))))
					case 5:
						now = now.Add(time.Duration(rng.Int64N(1000)))
					}
					n := 1 + rng.IntN(min(burst, 4))
					before := k.tat
					ours := k.allow(now, n)
					theirs := oracle.AllowN(now, n)
					if !ours.Allowed {
						// Exact RetryAfter: 1 ns earlier is still denied, at RetryAfter admitted.
						require.Positive(t, ours.RetryAfter)
						require.False(t, k.peek(now.Add(ours.RetryAfter-1), n).Allowed, "denied 1 ns before RetryAfter")
						require.True(t, k.peek(now.Add(ours.RetryAfter), n).Allowed, "admitted at RetryAfter")
					}
					if ours.Allowed != theirs {
						boundary++
						if ours.Allowed {
							k2 := &gcraKey{t: t, lim: lim, tat: before}
							require.False(t, k2.peek(now.Add(-3), n).Allowed, "disagreement at %v is not at a refill boundary", now)
							now = now.Add(3)
							require.True(t, oracle.AllowN(now, n), "oracle admits 3 ns later")
						} else {
							require.LessOrEqual(t, ours.RetryAfter, 3*time.Nanosecond, "disagreement at %v is not at a refill boundary", now)
							now = now.Add(ours.RetryAfter)
							require.True(t, k.allow(now, n).Allowed)
						}
						ours.Allowed = true
					}
					if ours.Allowed {
						for range n {
							admits = append(admits, now)
						}
					}
				}
				require.LessOrEqual(t, boundary, steps/50, "too many boundary disagreements")
				requireSlidingWindow(t, lim, admits)
			})
		}
	}
}

// requireSlidingWindow checks the GCRA guarantee directly: in every window
// of length L ending at an admission, at most Burst + ⌊L·Rate/Period⌋ units
// were admitted. There are no window-edge bursts.
func requireSlidingWindow(t *testing.T, lim ratelimit.Limit, admits []time.Time) {
	t.Helper()
	for _, l := range []time.Duration{lim.Period / time.Duration(lim.Rate), lim.Period / 2, lim.Period, 3 * lim.Period} {
		allowed := lim.EffectiveBurst() + int(int64(l)*int64(lim.Rate)/int64(lim.Period))
		lo := 0
		for hi := range admits {
			for admits[hi].Sub(admits[lo]) >= l {
				lo++
			}
			require.LessOrEqual(t, hi-lo+1, allowed, "window %v ending %v holds %d units, limit allows %d", l, admits[hi], hi-lo+1, allowed)
		}
	}
}

func TestDecideTwoPer500ms(t *testing.T) {
	lim := ratelimit.Limit{Name: "p", Rate: 2, Period: 500 * time.Millisecond}
	k := &gcraKey{t: t, lim: lim}
	t0 := clockEpoch
	require.True(t, k.allow(t0, 1).Allowed)
	require.True(t, k.allow(t0, 1).Allowed)
	r := k.allow(t0, 1)
	require.False(t, r.Allowed, "2 per 500 ms admits 2 at once, not more")
	require.Equal(t, 250*time.Millisecond, r.RetryAfter)
	require.Equal(t, 500*time.Millisecond, r.ResetAfter)
	// Hammering every millisecond for 10 s admits one per 250 ms.
	admitted := 0
	for ms := 1; ms <= 10_000; ms++ {
		if k.allow(t0.Add(time.Duration(ms)*time.Millisecond), 1).Allowed {
			admitted++
		}
	}
	require.Equal(t, 40, admitted)
}

func TestDecide65535PerSecondRefillsExactly(t *testing.T) {
	lim := ratelimit.Limit{Name: "p", Rate: 65535, Period: time.Second}
	k := &gcraKey{t: t, lim: lim}
	t0 := clockEpoch
	for i := range 65535 {
		require.True(t, k.allow(t0, 1).Allowed, "burst unit %d", i)
	}
	require.False(t, k.allow(t0, 1).Allowed, "the burst is 65,535")
	// Exactly one second later the whole burst is back, one unit at a time.
	t1 := t0.Add(time.Second)
	for i := range 65535 {
		require.True(t, k.allow(t1, 1).Allowed, "refilled unit %d", i)
	}
	r := k.allow(t1, 1)
	require.False(t, r.Allowed)
	require.LessOrEqual(t, r.RetryAfter, 15260*time.Nanosecond)

	// Saturated for 3 s in 10 µs steps (shorter than the 15.26 µs interval):
	// exactly 3 × 65,535 admitted, no drift.
	admitted := 0
	for us := 10; us <= 3_000_000; us += 10 {
		if k.allow(t1.Add(time.Duration(us)*time.Microsecond), 1).Allowed {
			admitted++
		}
	}
	require.Equal(t, 3*65535, admitted)
}

func TestDecideWindowEdge(t *testing.T) {
	// A fixed one-minute window would admit 100 at 59.999 s and 100 more at
	// 60.001 s. GCRA admits the burst once, then the rate.
	lim := ratelimit.Limit{Name: "basic", Rate: 100, Period: time.Minute}
	k := &gcraKey{t: t, lim: lim}
	oracle := oracleFor(lim)
	edge := time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC)
	before := edge.Add(-time.Millisecond)
	for range 100 {
		require.True(t, k.allow(before, 1).Allowed)
		require.True(t, oracle.AllowN(before, 1))
	}
	after := edge.Add(time.Millisecond)
	require.False(t, k.allow(after, 1).Allowed, "no second burst after the minute edge")
	require.False(t, oracle.AllowN(after, 1))
	r := k.allow(after, 1)
	require.Equal(t, 600*time.Millisecond-2*time.Millisecond, r.RetryAfter)
}

func TestDecideInvalid(t *testing.T) {
	_, _, err := ratelimit.Decide(0, clockEpoch, ratelimit.Limit{Rate: 1}, 1)
	require.ErrorIs(t, err, ratelimit.ErrInvalid)
	_, _, err = ratelimit.Decide(0, clockEpoch, ratelimit.Limit{Rate: 2, Period: time.Nanosecond}, 1)
	require.ErrorIs(t, err, ratelimit.ErrInvalid, "faster than one per nanosecond")
	_, _, err = ratelimit.Decide(0, clockEpoch, ratelimit.Limit{Rate: 1, Period: time.Hour, Burst: 1 << 40}, 1)
	require.ErrorIs(t, err, ratelimit.ErrInvalid, "burst window beyond 100 years")
	_, _, err = ratelimit.Decide(0, clockEpoch, ratelimit.Limit{Rate: 1, Period: time.Hour}, 2)
	require.ErrorIs(t, err, ratelimit.ErrInvalid, "n over burst")
}
