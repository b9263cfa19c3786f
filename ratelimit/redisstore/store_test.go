package redisstore_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/tenantkit/tenantkit/internal/ratelimittest"
	"github.com/tenantkit/tenantkit/internal/testenv"
	"github.com/tenantkit/tenantkit/ratelimit"
	"github.com/tenantkit/tenantkit/ratelimit/redisstore"
	"github.com/tenantkit/tenantkit/tenant"
)

func TestConformanceMiniredis(t *testing.T) {
	clocks := map[ratelimit.Store]*miniClock{}
	ratelimittest.Run(t, func(t *testing.T) ratelimit.Store {
		c, clock := newMini(t)
		s := redisstore.New(c, &redisstore.Options{Now: clock.Now, Timeout: 5 * time.Second})
		clocks[s] = clock
		return s
	}, ratelimittest.WithClock(func(s ratelimit.Store) ratelimittest.Clock { return clocks[s] }),
		ratelimittest.WithPrecision(time.Microsecond))
}

func TestConformanceRedis(t *testing.T) {
	c, prefix := testenv.RedisClient(t)
	conformance(t, func(t *testing.T) ratelimit.Store { return redisstore.New(c, generous(prefix)) })
}

func TestConformanceRedisCluster(t *testing.T) {
	c, prefix := testenv.RedisClusterClient(t)
	conformance(t, func(t *testing.T) ratelimit.Store { return redisstore.New(c, generous(prefix)) })
}

func TestExactAcrossStoresMiniredis(t *testing.T) {
	c, clock := newMini(t)
	exactAcrossStores(t, func() ratelimit.Store {
		return redisstore.New(c, &redisstore.Options{Now: clock.Now, Timeout: 5 * time.Second})
	}, "tenant-a")
}

func TestExactAcrossStoresRedis(t *testing.T) {
	c, prefix := testenv.RedisClient(t)
	addr := c.Options().Addr
	exactAcrossStores(t, func() ratelimit.Store {
		// Each store with its own client: 50 instances sharing one Redis.
		own := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
		t.Cleanup(func() { _ = own.Close() })
		return redisstore.New(own, generous(prefix))
	}, testenv.Name("tenant"))
}

func TestExactAcrossStoresRedisCluster(t *testing.T) {
	c, prefix := testenv.RedisClusterClient(t)
	exactAcrossStores(t, func() ratelimit.Store { return redisstore.New(c, generous(prefix)) }, testenv.Name("tenant"))
}

func TestUniversalClients(t *testing.T) {
	// Every go-redis client shape is accepted by New.
	c, clock := newMini(t)
	addr := c.Options().Addr
	ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": addr}})
	t.Cleanup(func() { _ = ring.Close() })
	uni := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{addr}})
	t.Cleanup(func() { _ = uni.Close() })
	lim := ratelimit.Limit{Rate: 2, Period: time.Minute}
	for name, sc := range map[string]redis.Scripter{"client": c, "ring": ring, "universal": uni} {
		s := redisstore.New(sc, &redisstore.Options{Prefix: name + ":", Now: clock.Now, Timeout: 5 * time.Second})
		require.True(t, take(t, s, ratelimit.Request{Key: "k", Limit: lim}).Allowed, name)
		require.True(t, take(t, s, ratelimit.Request{Key: "k", Limit: lim}).Allowed, name)
		require.False(t, take(t, s, ratelimit.Request{Key: "k", Limit: lim}).Allowed, name)
	}
	var _ redis.Scripter = (*redis.ClusterClient)(nil)
}

func TestOneRoundTripPerDecision(t *testing.T) {
	run := func(t *testing.T, c redis.UniversalClient, opts *redisstore.Options, key string) {
		h := &counter{}
		c.AddHook(h)
		s := redisstore.New(c, opts)
		lim := ratelimit.Limit{Name: "basic", Rate: 5, Period: time.Minute}
		quotas := []ratelimit.Quota{
			{Name: "api_calls", Period: ratelimit.Day, Max: 1000},
			{Name: "api_calls", Period: ratelimit.Month, Max: 30000},
		}
		// The first decision on a server may load the script (EVALSHA,
		// NOSCRIPT, EVAL); every decision after it is exactly one command.
		take(t, s, ratelimit.Request{Key: key, Limit: lim, Quotas: quotas})
		for i := range 10 {
			before := h.cmds.Load()
			d := take(t, s, ratelimit.Request{Key: key, Limit: lim, Quotas: quotas})
			require.EqualValues(t, 1, h.cmds.Load()-before, "decision %d: one round trip with the limit and both quotas", i)
			require.Len(t, d.Quotas, 2)
		}
	}
	t.Run("miniredis", func(t *testing.T) {
		c, clock := newMini(t)
		run(t, c, &redisstore.Options{Now: clock.Now, Timeout: 5 * time.Second}, "k")
	})
	t.Run("redis", func(t *testing.T) {
		c, prefix := testenv.RedisClient(t)
		run(t, c, generous(prefix), "k")
	})
	t.Run("redis deny cache", func(t *testing.T) {
		c, prefix := testenv.RedisClient(t)
		h := &counter{}
		c.AddHook(h)
		opts := generous(prefix)
		opts.DenyCacheSize = 10
		s := redisstore.New(c, opts)
		req := ratelimit.Request{Key: "k", Limit: ratelimit.Limit{Rate: 1, Period: time.Hour},
			Quotas: []ratelimit.Quota{{Name: "api_calls", Period: ratelimit.Day}}}
		require.True(t, take(t, s, req).Allowed)
		require.False(t, take(t, s, req).Allowed)
		before := h.cmds.Load()
		for range 50 {
			require.False(t, take(t, s, req).Allowed)
		}
		require.Zero(t, h.cmds.Load()-before, "a denied key costs no round trip")
	})
	t.Run("cluster", func(t *testing.T) {
		c, prefix := testenv.RedisClusterClient(t)
		run(t, c, generous(prefix), "k")
	})
}

func TestDenyCacheZeroRoundTrips(t *testing.T) {
	c, clock := newMini(t)
	h := &counter{}
	c.AddHook(h)
	s := redisstore.New(c, &redisstore.Options{Now: clock.Now, Timeout: 5 * time.Second, DenyCacheSize: 100})
	lim := ratelimit.Limit{Name: "basic", Rate: 2, Period: time.Minute}
	q := []ratelimit.Quota{{Name: "api_calls", Period: ratelimit.Day}}
	req := ratelimit.Request{Key: "t1", Limit: lim, Quotas: q}
	require.True(t, take(t, s, req).Allowed)
	require.True(t, take(t, s, req).Allowed)
	first := take(t, s, req)
	require.False(t, first.Allowed)
	require.Equal(t, 30*time.Second, first.RetryAfter)

	before := h.cmds.Load()
	for range 100 {
		d := take(t, s, req)
		require.False(t, d.Allowed)
		require.Equal(t, 30*time.Second, d.RetryAfter)
		require.EqualValues(t, 2, d.Quotas[0].Used)
	}
	require.Zero(t, h.cmds.Load()-before, "a denied key costs no round trip")

	// The cached denial counts down with the process clock.
	clock.Advance(10 * time.Second)
	d := take(t, s, req)
	require.False(t, d.Allowed)
	require.Equal(t, 20*time.Second, d.RetryAfter)
	require.Zero(t, h.cmds.Load()-before)

	// Another key is asked from Redis.
	take(t, s, ratelimit.Request{Key: "t2", Limit: lim})
	require.EqualValues(t, 1, h.cmds.Load()-before)

	// At the retry time the cache lets the request through to Redis,
	// which admits it.
	clock.Advance(20 * time.Second)
	d = take(t, s, req)
	require.True(t, d.Allowed, "admitted at exactly the retry time")
	require.EqualValues(t, 2, h.cmds.Load()-before)

	// Denied again and cached; a request under another plan is not
	// answered from the cache. (GCRA keeps debt as time: 60 s of debt
	// under 2/min is a full burst under 500/min too, so Redis denies it.)
	require.False(t, take(t, s, req).Allowed)
	require.False(t, take(t, s, req).Allowed)
	require.EqualValues(t, 3, h.cmds.Load()-before)
	take(t, s, ratelimit.Request{Key: "t1", Limit: ratelimit.Limit{Name: "pro", Rate: 500, Period: time.Minute}, Quotas: q})
	require.EqualValues(t, 4, h.cmds.Load()-before)
}

func TestDenyCacheNeverAdmitsExtra(t *testing.T) {
	// Two stores share Redis; one has a deny cache. Whatever the
	// interleaving, the pair admits exactly the limit.
	c, clock := newMini(t)
	cached := redisstore.New(c, &redisstore.Options{Now: clock.Now, Timeout: 5 * time.Second, DenyCacheSize: 10})
	plain := redisstore.New(c, &redisstore.Options{Now: clock.Now, Timeout: 5 * time.Second})
	lim := ratelimit.Limit{Rate: 10, Period: time.Second}
	admitted := 0
	for i := range 400 {
		s := ratelimit.Store(plain)
		if i%3 != 0 {
			s = cached
		}
		if take(t, s, ratelimit.Request{Key: "k", Limit: lim}).Allowed {
			admitted++
		}
		clock.Advance(5 * time.Millisecond) // 2 s in all
	}
	// 10 at once, then one per 100 ms over 1,995 ms: 19 more.
	require.Equal(t, 10+19, admitted)
}

func TestKeysShareOneSlot(t *testing.T) {
	// On the cluster, a tenant's limit, day and month keys are written in
	// one call, for tenants whose slot lands on each master.
	c, prefix := testenv.RedisClusterClient(t)
	ctx := t.Context()
	h := &counter{}
	c.AddHook(h)
	s := redisstore.New(c, generous(prefix))

	// ForEachMaster calls back concurrently.
	var mu sync.Mutex
	masters := map[string]bool{}
	err := c.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		mu.Lock()
		defer mu.Unlock()
		masters[m.Options().Addr] = false
		return nil
	})
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(masters), 3, "a 3-master cluster")

	tokyo, err := time.LoadLocation("Asia/Tokyo")
	require.NoError(t, err)
	quotas := []ratelimit.Quota{
		{Name: "api_calls", Period: ratelimit.Day, Max: 1000, Location: tokyo},
		{Name: "api_calls", Period: ratelimit.Month, Max: 30000, Location: tokyo},
	}
	lim := ratelimit.Limit{Name: "basic", Rate: 100, Period: time.Minute}
	for i := 0; i < 200; i++ {
		key := fmt.Sprintf("tenant-%d", i)
		d := take(t, s, ratelimit.Request{Key: key, Limit: lim, Quotas: quotas})
		require.True(t, d.Allowed)
		require.EqualValues(t, 1, d.Quotas[0].Used)
		require.EqualValues(t, 1, d.Quotas[1].Used)

		// Find the master holding the tenant's keys: all three are there.
		var found string
		err := c.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
			keys, err := m.Keys(ctx, prefix+"{"+key+"}:*").Result()
			if err != nil {
				return err
			}
			if len(keys) > 0 {
				mu.Lock()
				defer mu.Unlock()
				if len(keys) != 3 {
					return fmt.Errorf("master %s holds %d of the 3 keys of %s: %v", m.Options().Addr, len(keys), key, keys)
				}
				found = m.Options().Addr
			}
			return nil
		})
		require.NoError(t, err)
		require.NotEmpty(t, found, "keys of %s are on some master", key)
		masters[found] = true
		all := true
		for _, hit := range masters {
			all = all && hit
		}
		if all && i >= 10 {
			break
		}
	}
	for addr, hit := range masters {
		require.True(t, hit, "some tenant's keys landed on master %s", addr)
	}
}

func TestExactAcrossStoresWithDenyCache(t *testing.T) {
	// Half of the 50 stores cache denials: still exactly the limit.
	c, prefix := testenv.RedisClient(t)
	i := 0
	exactAcrossStores(t, func() ratelimit.Store {
		opts := generous(prefix)
		if i++; i%2 == 0 {
			opts.DenyCacheSize = 100
		}
		return redisstore.New(c, opts)
	}, testenv.Name("tenant"))
}

// 50 separate Limiters, each over its own Store and client, share one
// Redis: 1,000 requests of one basic-plan tenant (100/min) from 50
// goroutines through their Handlers get exactly the limit's 200s (plus a
// unit per refill interval the run lasted), the rest 429, and no error.
func TestExactAcross50LimitersRedis(t *testing.T) {
	c, prefix := testenv.RedisClient(t)
	addr := c.Options().Addr
	id := tenant.ID(testenv.Name("tenant"))
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	handlers := make([]http.Handler, 50)
	for i := range handlers {
		own := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
		t.Cleanup(func() { _ = own.Close() })
		l := ratelimit.New(redisstore.New(own, generous(prefix)), nil, &ratelimit.Options{
			FailPolicy: ratelimit.FailClosed, Logger: slog.New(slog.DiscardHandler),
		})
		handlers[i] = l.Handler(ok)
	}
	var codes [600]atomic.Int64
	elapsed := fromFifty(func(i int) {
		r := httptest.NewRequest(http.MethodGet, "/api/meters", nil)
		r = r.WithContext(tenant.NewContext(r.Context(), tenant.Tenant{ID: id, Plan: "basic", Status: tenant.StatusActive}))
		w := httptest.NewRecorder()
		handlers[i].ServeHTTP(w, r)
		if w.Code < len(codes) {
			codes[w.Code].Add(1)
		}
	})
	admitted, denied := codes[http.StatusOK].Load(), codes[http.StatusTooManyRequests].Load()
	require.Equal(t, int64(1000), admitted+denied, "every answer is 200 or 429 (503s: %d)", codes[http.StatusServiceUnavailable].Load())
	requireBasicLimit(t, admitted, elapsed, "50 limiters")
}
