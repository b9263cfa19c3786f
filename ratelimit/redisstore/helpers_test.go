package redisstore_test

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/tenantkit/tenantkit/internal/ratelimittest"
	"github.com/tenantkit/tenantkit/ratelimit"
	"github.com/tenantkit/tenantkit/ratelimit/redisstore"
)

// start is the fake clock's starting instant (a Thursday in December 2026).
var start = time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)

// miniClock drives both miniredis (TIME and key expiry) and the store's
// process clock, so timing checks are exact.
type miniClock struct {
	mu sync.Mutex
	t  time.Time
	m  *miniredis.Miniredis
}

func (c *miniClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *miniClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	c.m.SetTime(c.t)
	c.m.FastForward(d)
}

// newMini starts a miniredis with its clock at start and returns a client
// for it (closed when t ends) and the shared clock.
func newMini(t testing.TB) (*redis.Client, *miniClock) {
	t.Helper()
	m := miniredis.RunT(t)
	m.SetTime(start)
	c := redis.NewClient(&redis.Options{Addr: m.Addr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = c.Close() })
	return c, &miniClock{t: start, m: m}
}

// counter is a go-redis hook counting commands sent (each EVALSHA or EVAL is
// one) and dials.
type counter struct {
	cmds  atomic.Int64
	dials atomic.Int64
}

func (h *counter) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		h.dials.Add(1)
		return next(ctx, network, addr)
	}
}

func (h *counter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.cmds.Add(1)
		return next(ctx, cmd)
	}
}

func (h *counter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.cmds.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// take decides one request and requires no error.
func take(t testing.TB, s ratelimit.Store, req ratelimit.Request) ratelimit.Decision {
	t.Helper()
	var d ratelimit.Decision
	require.NoError(t, s.Take(context.Background(), &req, &d))
	return d
}

// exactAcrossStores sends 1,000 requests of a 100/min limit from 50
// goroutines, each with its own Store on the same Redis, and requires
// exactly 100 admitted and no error. Redis's clock runs while the requests
// do, so a run longer than one refill (600 ms) may admit the units that
// refilled meanwhile, and never one more.
func exactAcrossStores(t *testing.T, newStore func() ratelimit.Store, key string) {
	t.Helper()
	lim := ratelimit.Limit{Name: "basic", Rate: 100, Period: time.Minute}
	quotas := []ratelimit.Quota{
		{Name: "api_calls", Period: ratelimit.Day},
		{Name: "api_calls", Period: ratelimit.Month, Max: 1_000_000},
	}
	stores := make([]ratelimit.Store, 50)
	for i := range stores {
		stores[i] = newStore()
	}
	var admitted, errs atomic.Int64
	elapsed := fromFifty(func(i int) {
		var d ratelimit.Decision
		req := ratelimit.Request{Key: key, Limit: lim, Quotas: quotas}
		if err := stores[i].Take(context.Background(), &req, &d); err != nil {
			errs.Add(1)
			return
		}
		if d.Allowed {
			admitted.Add(1)
		}
	})
	require.Zero(t, errs.Load(), "no errors")
	requireBasicLimit(t, admitted.Load(), elapsed, "50 stores")
	d := take(t, stores[0], ratelimit.Request{Key: key, Limit: lim, Quotas: quotas})
	used := admitted.Load()
	if d.Allowed { // a real clock may have refilled a unit meanwhile
		used++
	}
	require.Equal(t, used, d.Quotas[0].Used, "the day counter counted exactly the admitted decisions")
	require.Equal(t, used, d.Quotas[1].Used, "the month counter counted exactly the admitted decisions")
}

// fromFifty calls do(i) 20 times in each of 50 goroutines i = 0..49, all
// released at once (1,000 calls), and returns how long they took.
func fromFifty(do func(i int)) time.Duration {
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i := range 50 {
		wg.Go(func() {
			<-gate
			for range 20 {
				do(i)
			}
		})
	}
	began := time.Now()
	close(gate)
	wg.Wait()
	return time.Since(began)
}

// requireBasicLimit requires that a 100/min limit admitted its whole burst
// of 100 and at most one more unit per refill interval (600 ms) of elapsed:
// Redis's clock runs while the requests do.
func requireBasicLimit(t *testing.T, admitted int64, elapsed time.Duration, across string) {
	t.Helper()
	most := 100 + int64(elapsed/(time.Minute/100))
	require.GreaterOrEqual(t, admitted, int64(100), "the whole burst admitted across %s", across)
	require.LessOrEqual(t, admitted, most, "never more than the limit allows over %v across %s", elapsed, across)
}

// conformance runs the shared suite with a real clock.
func conformance(t *testing.T, newStore func(t *testing.T) ratelimit.Store) {
	ratelimittest.Run(t, newStore)
}

// generous returns options with a timeout for a busy shared test machine:
// the default 25 ms is meant for production latency, not for -race on two
// cores shared with other test suites.
func generous(prefix string) *redisstore.Options {
	return &redisstore.Options{Prefix: prefix, Timeout: 2 * time.Second}
}
