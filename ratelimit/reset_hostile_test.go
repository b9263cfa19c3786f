package ratelimit_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tenantkit/tenantkit/ratelimit"
	"github.com/tenantkit/tenantkit/tenant"
)

// scribbleStore records each request it is asked to decide, then scribbles
// over the caller's Request (N, Quotas) after deciding, as a careless
// store might: a pooled scratch that carried any of
// it into a later decision would show here.
type scribbleStore struct {
	mu   sync.Mutex
	s    ratelimit.Store
	seen []ratelimit.Request
}

func (s *scribbleStore) Take(ctx context.Context, req *ratelimit.Request, d *ratelimit.Decision) error {
	s.mu.Lock()
	s.seen = append(s.seen, ratelimit.Request{Key: req.Key, Limit: req.Limit, N: req.N, Quotas: append([]ratelimit.Quota(nil), req.Quotas...)})
	s.mu.Unlock()
	err := s.s.Take(ctx, req, d)
	req.N = 3
	req.Quotas = append(req.Quotas, ratelimit.Quota{Name: "stale", Period: ratelimit.Day, Max: 1})
	return err
}

// TestPooledScratchCarriesNothing interleaves every path that takes a
// pooled scratch (Allow, Handler with and without quotas, a guest, Charge
// mode charging and refusing) on one Limiter's pool, with a store that
// scribbles on what it is handed: every decision is asked for one unit
// with exactly its own quotas.
func TestPooledScratchCarriesNothing(t *testing.T) {
	c := newFakeClock(clockEpoch)
	st := &scribbleStore{s: ratelimit.NewMemory(&ratelimit.MemoryOptions{Now: c.Now})}
	quota := ratelimit.Quota{Name: "api_calls", Period: ratelimit.Day, Max: 1_000_000}
	opts := ratelimit.Options{
		Now:    c.Now,
		Quotas: func(tenant.Tenant) []ratelimit.Quota { return []ratelimit.Quota{quota} },
	}
	l := ratelimit.New(st, nil, &opts)
	opts.KeyBy = ratelimit.ByClientIP
	opts.Charge = func(status int, _ http.Header) bool { return status == http.StatusUnauthorized }
	guard := ratelimit.New(st, nil, &opts)
	h := l.Handler(okHandler)
	g := guard.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
	}))
	for i := range 200 {
		st.seen = st.seen[:0]
		var want []ratelimit.Quota
		switch i % 4 {
		case 0:
			_, err := l.Allow(context.Background(), "k", ratelimit.Limit{Rate: 1000, Period: time.Second})
			require.NoError(t, err)
		case 1:
			w := httptest.NewRecorder()
			h.ServeHTTP(w, tenantReq("acme", "basic"))
			require.Equal(t, http.StatusOK, w.Code)
			require.Contains(t, w.Header().Get("RateLimit-Policy"), `"api_calls/day"`)
			require.NotContains(t, w.Header().Get("RateLimit-Policy"), "stale")
			want = []ratelimit.Quota{quota}
		case 2:
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			require.NotContains(t, w.Header().Get("RateLimit"), "stale")
		case 3:
			r := httptest.NewRequest(http.MethodGet, "/login", nil)
			w := httptest.NewRecorder()
			g.ServeHTTP(w, r) // charged, or refused once the guest limit is spent
			require.NotContains(t, w.Header().Get("RateLimit"), "stale")
			if w.Code == http.StatusTooManyRequests {
				require.Empty(t, st.seen, "a refusal decides nothing")
				continue
			}
		}
		require.Len(t, st.seen, 1, "step %d", i)
		require.Zero(t, st.seen[0].N, "step %d: one unit", i)
		require.Equal(t, want, st.seen[0].Quotas, "step %d: its own quotas", i)
		c.Advance(time.Second)
	}
}
