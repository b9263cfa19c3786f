package ratelimit_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tenantkit/tenantkit/ratelimit"
	"github.com/tenantkit/tenantkit/tenant"
)

// Two limiters in a row and an inner handler that Sets, Adds and Dels the
// shared headers, served concurrently by a real net/http server (HTTP/1.1
// and HTTP/2): every response shows exactly its own values, and the
// shared slices are never written through.
func TestReviewSharedHeadersUnderRealServer(t *testing.T) {
	store := ratelimit.NewMemory(nil)
	set := ratelimit.DefaultPlanSet()
	set.Plans["basic"] = ratelimit.Limit{Name: "basic", Rate: 1000, Period: time.Minute}
	set.Guest = ratelimit.Limit{Name: "guest", Rate: 1000, Period: time.Minute}
	plans, err := ratelimit.NewPlans(set)
	require.NoError(t, err)
	outer := ratelimit.New(store, plans, &ratelimit.Options{KeyBy: ratelimit.ByClientIP})
	inner := ratelimit.New(store, plans, &ratelimit.Options{Quotas: func(tenant.Tenant) []ratelimit.Quota {
		return []ratelimit.Quota{{Name: "calls", Period: ratelimit.Day, Max: 1_000_000}}
	}})
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		switch r.URL.Query().Get("m") {
		case "add":
			h.Add("Ratelimit-Policy", "x")
			h.Add("X-Ratelimit-Limit", "x")
			h.Add("Ratelimit", "x")
		case "set":
			h.Set("Ratelimit-Policy", "y")
			h.Set("X-Ratelimit-Limit", "y")
		case "del":
			h.Del("Ratelimit-Policy")
			h.Del("X-Ratelimit-Limit")
		}
		_, _ = io.WriteString(w, "ok")
	})
	withTenant := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if id := r.URL.Query().Get("t"); id != "" {
				r = r.WithContext(tenant.NewContext(r.Context(), tenant.Tenant{ID: tenant.ID(id), Plan: "basic"}))
			}
			next.ServeHTTP(w, r)
		})
	}
	h := outer.Handler(withTenant(inner.Handler(api)))
	for _, h2 := range []bool{false, true} {
		srv := httptest.NewUnstartedServer(h)
		if h2 {
			srv.EnableHTTP2 = true
			srv.StartTLS()
		} else {
			srv.Start()
		}
		c := srv.Client()
		var wg sync.WaitGroup
		for g := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 60 {
					m := []string{"", "add", "set", "del"}[(g+i)%4]
					resp, err := c.Get(srv.URL + "/?m=" + m + "&t=acme" + strconv.Itoa(g))
					if !assertNoErr(t, err) {
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					pol := resp.Header.Values("Ratelimit-Policy")
					lim := resp.Header.Values("X-Ratelimit-Limit")
					switch m {
					case "":
						require.Equal(t, []string{`"basic";q=1000;w=60, "calls/day";q=1000000;w=86400`}, pol)
						require.Equal(t, []string{"1000"}, lim)
					case "add":
						require.Equal(t, []string{`"basic";q=1000;w=60, "calls/day";q=1000000;w=86400`, "x"}, pol)
						require.Equal(t, []string{"1000", "x"}, lim)
					case "set":
						require.Equal(t, []string{"y"}, pol)
						require.Equal(t, []string{"y"}, lim)
					case "del":
						require.Empty(t, pol)
						require.Empty(t, lim)
					}
				}
			}()
		}
		wg.Wait()
		srv.Close()
	}
}

func assertNoErr(t *testing.T, err error) bool {
	t.Helper()
	if err != nil {
		t.Error(err)
		return false
	}
	return true
}
