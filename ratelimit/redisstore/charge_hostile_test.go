package redisstore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tenantkit/tenantkit/ratelimit"
	"github.com/tenantkit/tenantkit/ratelimit/redisstore"
)

// chargeCheck wraps a store and fails the test when a charge is denied: in
// Charge mode every Take follows a request that reached the handler, so a
// denied one is a guess the guard let through although the store denies it.
type chargeCheck struct {
	t *testing.T
	s ratelimit.Store
}

func (c chargeCheck) Take(ctx context.Context, req *ratelimit.Request, d *ratelimit.Decision) error {
	err := c.s.Take(ctx, req, d)
	require.NoError(c.t, err)
	require.True(c.t, d.Allowed, "a guess reached the handler that the store denies (%+v)", d.Result)
	return err
}

// TestChargeOnRedisHostileInstants: a Charge-mode guard on the Redis store
// (whose ResetAfter is in whole microseconds, rounded up) with the
// server's clock equal to the guard's, driven at the instants where a unit
// comes back and just before. A guess that reaches the handler is always
// admitted by its charge (never short), and a refused guess is one that
// the store denies (never long beyond the microsecond of Redis's clock).
func TestChargeOnRedisHostileInstants(t *testing.T) {
	for _, lim := range []ratelimit.Limit{
		{Name: "guest", Rate: 10, Period: time.Minute, Burst: 3},
		{Name: "guest", Rate: 1, Period: time.Minute, Burst: 1},
		{Name: "guest", Rate: 7, Period: time.Second},
		{Name: "guest", Rate: 3, Period: time.Minute, Burst: 5},
	} {
		t.Run(fmt.Sprintf("%d per %v burst %d", lim.Rate, lim.Period, lim.Burst), func(t *testing.T) {
			c, clock := newMini(t)
			store := redisstore.New(c, &redisstore.Options{Now: clock.Now, Timeout: -1})
			set := ratelimit.DefaultPlanSet()
			set.Guest = lim
			plans, err := ratelimit.NewPlans(set)
			require.NoError(t, err)
			l := ratelimit.New(chargeCheck{t, store}, plans, &ratelimit.Options{
				KeyBy:  ratelimit.ByClientIP,
				Now:    clock.Now,
				Charge: func(status int, _ http.Header) bool { return status == http.StatusUnauthorized },
			})
			srv := l.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusUnauthorized)
			}))
			rnd := rand.New(rand.NewPCG(7, uint64(lim.Rate)))
			T := lim.Period / time.Duration(lim.Rate)
			exactUS := lim.Period%(time.Duration(lim.Rate)*time.Microsecond) == 0
			for i := range 400 {
				r := httptest.NewRequest(http.MethodGet, "/login", nil)
				r.RemoteAddr = "192.0.2.9:1"
				w := httptest.NewRecorder()
				srv.ServeHTTP(w, r)
				// Probe the store: a denial consumes nothing.
				probe := ratelimit.Request{Key: "ip:192.0.2.9", Limit: lim}
				var d ratelimit.Decision
				require.NoError(t, store.Take(context.Background(), &probe, &d))
				if w.Code == http.StatusTooManyRequests && exactUS {
					require.False(t, d.Allowed, "guess %d: refused, yet the store admits it", i)
				}
				var step time.Duration
				switch {
				case d.Allowed:
					step = 0 // the probe took a unit: guess again at once
				case rnd.IntN(4) == 0:
					step = time.Duration(rnd.Int64N(int64(2 * T)))
					if exactUS {
						step = step.Truncate(time.Microsecond)
					}
				default:
					step = d.RetryAfter
					if rnd.IntN(2) == 0 {
						step -= time.Microsecond
					}
				}
				clock.Advance(max(step, 0))
			}
		})
	}
}
