package redisstore_test

import (
	"context"
	"math"
	"math/big"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/tenantkit/tenantkit/ratelimit"
	"github.com/tenantkit/tenantkit/ratelimit/redisstore"
)

const year = 365 * 24 * time.Hour

// downStore is a FailLocal store of instances processes whose Redis is
// unreachable, on the clock *now.
func downStore(t *testing.T, instances int, now *time.Time) *redisstore.Store {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true, MaxRetries: -1})
	t.Cleanup(func() { _ = c.Close() })
	return redisstore.New(c, &redisstore.Options{
		FailPolicy: redisstore.FailLocal, Instances: instances,
		Now:              func() time.Time { return *now },
		BreakerThreshold: -1,
	})
}

// TestFailLocalShareHostile holds the local share of hostile limits to
// FailLocal's promise: every valid shared limit is decided locally (a
// share the fallback rejects fails the request, which the Limiter's
// default FailOpen turns into unlimited traffic), each instance admits at
// most 1/Instances of the shared rate over time plus its burst share, and
// the decision's Limit is valid and states what the instance applies.
func TestFailLocalShareHostile(t *testing.T) {
	for _, tc := range []struct {
		name      string
		lim       ratelimit.Limit
		instances int
		horizon   time.Duration // how long to drive one instance
	}{
		// 1 per year over 200 instances: 1 per 200 years each is past
		// the 100-year burst window a Limit may have.
		{"share window past 100 years", ratelimit.Limit{Name: "trial", Rate: 1, Period: year, Burst: 1}, 200, 20 * year},
		{"1 per 60 years over 2", ratelimit.Limit{Name: "l", Rate: 1, Period: 60 * year, Burst: 1}, 2, 100 * year},
		// Instances·Period overflows int64: the rate must not be
		// rounded up to one per Period each (1000 instances of 7 per
		// 115 days would admit 1000 per 115 days).
		{"n·Period overflows, rate below n", ratelimit.Limit{Name: "l", Rate: 7, Period: 1e16, Burst: 1}, 1000, 10 * 1e16},
		{"n·Period overflows, rate above n", ratelimit.Limit{Name: "l", Rate: 1001, Period: 1e16, Burst: 500}, 1000, 10 * 1e16},
		{"huge instances", ratelimit.Limit{Name: "l", Rate: 3, Period: time.Hour}, math.MaxInt32, 24 * time.Hour},
		{"burst 0 means rate", ratelimit.Limit{Name: "l", Rate: 9, Period: time.Minute}, 4, time.Hour},
		{"burst above rate", ratelimit.Limit{Name: "l", Rate: 3, Period: time.Minute, Burst: 40}, 7, time.Hour},
		{"1 ns per unit", ratelimit.Limit{Name: "l", Rate: 1000, Period: time.Microsecond}, 3, time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, tc.lim.Validate())
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			s := downStore(t, tc.instances, &now)
			take := func() ratelimit.Decision {
				req := ratelimit.Request{Key: "acme", Limit: tc.lim}
				var d ratelimit.Decision
				require.NoError(t, s.Take(context.Background(), &req, &d), "a valid shared limit is decided locally")
				require.True(t, d.Degraded)
				require.NoError(t, d.Limit.Validate(), "the local share is a valid limit: %+v", d.Limit)
				require.Equal(t, tc.lim.Name, d.Limit.Name)
				return d
			}
			d := take()
			require.True(t, d.Allowed, "the first request of an idle key is admitted")
			// The share's rate is at most 1/instances of the shared
			// rate: d.Limit.Rate/d.Limit.Period ≤ Rate/(n·Period),
			// unless it is the slowest a limit can be.
			l := d.Limit
			slowest := l.Rate == 1 && l.EffectiveBurst() == 1 && l.Period >= 100*year
			if !slowest {
				lhs := new(big.Int).Mul(big.NewInt(int64(l.Rate)), big.NewInt(int64(tc.lim.Period)))
				lhs.Mul(lhs, big.NewInt(int64(tc.instances)))
				rhs := new(big.Int).Mul(big.NewInt(int64(tc.lim.Rate)), big.NewInt(int64(l.Period)))
				require.LessOrEqual(t, lhs.Cmp(rhs), 0, "share %+v of %+v over %d is faster than 1/n of the rate", l, tc.lim, tc.instances)
				require.LessOrEqual(t, l.EffectiveBurst(), max(1, tc.lim.EffectiveBurst()/tc.instances))
			}
			// Drive the instance at 64 evenly spaced instants over the
			// horizon: it admits no more than its share and burst.
			admitted := 1
			step := tc.horizon / 64
			for range 64 {
				now = now.Add(step)
				if take().Allowed {
					admitted++
				}
			}
			share := float64(tc.lim.Rate) * float64(tc.horizon) / float64(tc.lim.Period) / float64(tc.instances)
			if slowest {
				share = float64(tc.horizon) / float64(100*year)
			}
			require.LessOrEqual(t, float64(admitted), share+float64(max(1, tc.lim.EffectiveBurst()/tc.instances)), "admitted by one instance over %v", tc.horizon)
		})
	}
}
