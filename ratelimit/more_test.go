package ratelimit_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tenantkit/tenantkit/ratelimit"
	"github.com/tenantkit/tenantkit/tenant"
)

// TestMemoryMatchesDecide drives the memory store and the pure decision
// (one TAT per key in a map) with the same random requests over a few keys
// and limits: every Result must be identical.
func TestMemoryMatchesDecide(t *testing.T) {
	c := newFakeClock(clockEpoch)
	m := ratelimit.NewMemory(&ratelimit.MemoryOptions{Now: c.Now, Shards: 4, Capacity: 1024})
	limits := []ratelimit.Limit{
		{Name: "a", Rate: 3, Period: time.Second},
		{Name: "b", Rate: 65535, Period: time.Second},
		{Name: "c", Rate: 10, Period: time.Minute, Burst: 4},
	}
	tats := map[string]int64{}
	rng := rand.New(rand.NewPCG(7, 11))
	for range 20_000 {
		c.Advance(time.Duration(rng.Int64N(int64(50 * time.Millisecond))))
		lim := limits[rng.IntN(len(limits))]
		key := fmt.Sprintf("%s-%d", lim.Name, rng.IntN(5))
		n := 1 + rng.IntN(min(lim.EffectiveBurst(), 3))
		next, want, err := ratelimit.Decide(tats[key], c.Now(), lim, n)
		require.NoError(t, err)
		tats[key] = next
		var d ratelimit.Decision
		req := ratelimit.Request{Key: key, Limit: lim, N: n}
		require.NoError(t, m.Take(t.Context(), &req, &d))
		require.Equal(t, want, d.Result, "key %s at %v", key, c.Now())
	}
}

func TestPlansReplaceWhileServing(t *testing.T) {
	h := newHarness(t, ratelimit.DefaultPlanSet(), nil)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				w := h.do(tenantReq(fmt.Sprintf("t%d", i), "basic"))
				if w.Code != http.StatusOK && w.Code != http.StatusTooManyRequests {
					t.Errorf("status %d", w.Code)
					return
				}
			}
		})
	}
	for i := range 200 {
		set := ratelimit.DefaultPlanSet()
		set.Plans["basic"] = ratelimit.Limit{Rate: 50 + i, Period: time.Minute}
		require.NoError(t, h.limiter.Plans().Replace(set))
	}
	close(stop)
	wg.Wait()
	w := h.do(tenantReq("fresh", "basic"))
	require.Equal(t, `"basic";q=249;w=60`, w.Header().Get("RateLimit-Policy"), "the last table is in force")
}

// TestHandlerInvalidQuotaIsAConfigurationError: an invalid quota (Max < 0)
// is answered 500 (see Options.FailPolicy), and OnError still sees it.
func TestHandlerInvalidQuotaIsAConfigurationError(t *testing.T) {
	var got error
	l := ratelimit.New(ratelimit.NewMemory(nil), nil, &ratelimit.Options{
		FailPolicy: ratelimit.FailClosed,
		Quotas: func(tenant.Tenant) []ratelimit.Quota {
			return []ratelimit.Quota{{Name: "api_calls", Period: ratelimit.Day, Max: -1}}
		},
		OnError: func(_ context.Context, _ string, err error) { got = err },
	})
	w := httptest.NewRecorder()
	l.Handler(okHandler).ServeHTTP(w, tenantReq("acme", "basic"))
	require.Equal(t, http.StatusInternalServerError, w.Code)
	require.ErrorIs(t, got, ratelimit.ErrInvalid)
	require.ErrorContains(t, got, `quota "api_calls"`)
}

func TestHandlerManyQuotas(t *testing.T) {
	qs := make([]ratelimit.Quota, 0, 6)
	for i := range 6 {
		qs = append(qs, ratelimit.Quota{Name: fmt.Sprintf("q%d", i), Period: ratelimit.Day, Max: int64(10 + i)})
	}
	h := newHarness(t, ratelimit.DefaultPlanSet(), &ratelimit.Options{Quotas: func(tenant.Tenant) []ratelimit.Quota { return qs }})
	w := h.do(tenantReq("acme", "basic"))
	require.Equal(t, http.StatusOK, w.Code)
	st, err := parseSFList(w.Header().Get("RateLimit"))
	require.NoError(t, err)
	require.Len(t, st, 7, "the limit and six enforcing quotas")
	r, _ := st[6].param("r")
	require.EqualValues(t, 14, r)
}
