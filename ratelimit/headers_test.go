package ratelimit_test

import (
	"bytes"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tenantkit/tenantkit/ratelimit"
	"github.com/tenantkit/tenantkit/tenant"
)

// Tenants of one plan with different quotas each get the RateLimit-Policy
// of their own quotas, in any order of requests, although the value built
// last for a plan is reused while the quotas stay the same.
func TestHandlerQuotaPolicyPerTenant(t *testing.T) {
	quotas := map[tenant.ID][]ratelimit.Quota{
		"acme":    {{Name: "api_calls", Period: ratelimit.Day, Max: 5}},
		"globex":  {{Name: "api_calls", Period: ratelimit.Day, Max: 7}, {Name: "api_calls", Period: ratelimit.Month, Max: 100}},
		"initech": {{Name: "api_calls", Period: ratelimit.Day}}, // counted, not enforced: not shown
		"hooli":   {{Name: "api_calls", Period: ratelimit.Month, Max: 7}},
		"umbrella": {
			{Name: "api_calls", Period: ratelimit.Month}, // count-only quotas are skipped wherever they are
			{Name: "api_calls", Period: ratelimit.Day, Max: 7},
		},
	}
	h := newHarness(t, ratelimit.DefaultPlanSet(), &ratelimit.Options{
		Quotas: func(tt tenant.Tenant) []ratelimit.Quota { return quotas[tt.ID] },
	})
	const plan = `"basic";q=100;w=60`
	want := map[string]struct {
		policy string
		items  []string // names of the RateLimit items
	}{
		"acme":     {plan + `, "api_calls/day";q=5;w=86400`, []string{"basic", "api_calls/day"}},
		"globex":   {plan + `, "api_calls/day";q=7;w=86400, "api_calls/month";q=100;w=2592000`, []string{"basic", "api_calls/day", "api_calls/month"}},
		"initech":  {plan, []string{"basic"}},
		"hooli":    {plan + `, "api_calls/month";q=7;w=2592000`, []string{"basic", "api_calls/month"}},
		"umbrella": {plan + `, "api_calls/day";q=7;w=86400`, []string{"basic", "api_calls/day"}},
	}
	for _, id := range []string{"acme", "acme", "globex", "acme", "initech", "globex", "globex", "hooli", "umbrella", "globex", "acme", "initech", "hooli"} {
		w := h.do(tenantReq(id, "basic"))
		require.Equal(t, http.StatusOK, w.Code, id)
		require.Equal(t, want[id].policy, w.Header().Get("RateLimit-Policy"), id)
		rateHeaders(t, w)
		st, err := parseSFList(w.Header().Get("RateLimit"))
		require.NoError(t, err)
		var names []string
		for _, it := range st {
			names = append(names, it.Value.(string))
		}
		require.Equal(t, want[id].items, names, id)
	}
}

// A quota whose Max changes between requests (Quotas is called for each
// one) is shown with its new Max at once.
func TestHandlerQuotaPolicyFollowsMax(t *testing.T) {
	limit := int64(3)
	h := newHarness(t, ratelimit.DefaultPlanSet(), &ratelimit.Options{
		Quotas: func(tenant.Tenant) []ratelimit.Quota {
			return []ratelimit.Quota{{Name: "api_calls", Period: ratelimit.Day, Max: limit}}
		},
	})
	for _, m := range []int64{3, 3, 9, 9, 4} {
		limit = m
		w := h.do(tenantReq("acme", "basic"))
		require.Equal(t, `"basic";q=100;w=60, "api_calls/day";q=`+strconv.FormatInt(m, 10)+`;w=86400`, w.Header().Get("RateLimit-Policy"))
	}
}

// With ResetUnix and quotas, X-RateLimit-Reset is the limit's reset as a
// Unix time while RateLimit keeps delta seconds for every item, and
// X-RateLimit-Remaining is the limit's, not a quota's.
func TestHandlerResetUnixWithQuotas(t *testing.T) {
	h := newHarness(t, smallPlans(), &ratelimit.Options{
		ResetUnix: true,
		Quotas: func(tenant.Tenant) []ratelimit.Quota {
			return []ratelimit.Quota{{Name: "api_calls", Period: ratelimit.Day, Max: 50}}
		},
	})
	w := h.do(tenantReq("acme", "basic"))
	require.Equal(t, http.StatusOK, w.Code)
	st, err := parseSFList(w.Header().Get("RateLimit"))
	require.NoError(t, err)
	require.Len(t, st, 2)
	r, _ := st[0].param("r")
	tt, _ := st[0].param("t")
	require.EqualValues(t, 1, r)
	require.EqualValues(t, 30, tt)
	qr, _ := st[1].param("r")
	require.EqualValues(t, 49, qr)
	require.Equal(t, "1", w.Header().Get("X-RateLimit-Remaining"))
	require.Equal(t, strconv.FormatInt(clockEpoch.Add(30*time.Second).Unix(), 10), w.Header().Get("X-RateLimit-Reset"))
}

// Header values a plan shares between responses are not changed through
// one response: a handler adding to them gets its own copy.
func TestHandlerSharedHeaderValuesUnchangedByAdd(t *testing.T) {
	set := smallPlans()
	plans, err := ratelimit.NewPlans(set)
	require.NoError(t, err)
	for _, quotas := range []bool{false, true} {
		opts := &ratelimit.Options{}
		if quotas {
			opts.Quotas = func(tenant.Tenant) []ratelimit.Quota {
				return []ratelimit.Quota{{Name: "api_calls", Period: ratelimit.Day, Max: 50}}
			}
		}
		l := ratelimit.New(ratelimit.NewMemory(nil), plans, opts)
		n := 0
		h := l.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n++
			for _, k := range []string{"RateLimit-Policy", "RateLimit", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} {
				w.Header().Add(k, "added-"+strconv.Itoa(n))
			}
		}))
		var first http.Header
		for i := range 2 {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, tenantReq("acme", "basic"))
			if i == 0 {
				first = w.Header()
			}
		}
		require.Len(t, first, 5)
		for k, v := range first {
			require.Len(t, v, 2, k)
			require.Equal(t, "added-1", v[1], "%s: the first response's values after the second", k)
		}
		require.Equal(t, "2", first.Get("X-RateLimit-Limit"))
		require.Equal(t, "1", first.Get("X-RateLimit-Remaining"))
	}
}

// A denial's Retry-After and body are built in the request's block when
// they fit and in arrays of their own when not (long keys, problem+json);
// either way they are exact, and the constant headers a Limiter shares
// between denials are not changed through one response.
func TestHandlerDenialBodyAndHeaders(t *testing.T) {
	for _, tc := range []struct {
		name    string
		problem bool
		id      string
	}{
		{"json", false, "acme"},
		{"json long key", false, strings.Repeat("long-tenant-id-", 8)},
		{"problem", true, "acme"},
		{"problem long key", true, strings.Repeat("long-tenant-id-", 8)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set := ratelimit.DefaultPlanSet()
			set.Plans["basic"] = ratelimit.Limit{Name: "basic", Rate: 1, Period: 2 * time.Hour}
			h := newHarness(t, set, &ratelimit.Options{ProblemJSON: tc.problem})
			require.Equal(t, http.StatusOK, h.do(tenantReq(tc.id, "basic")).Code)
			var first http.Header
			for i, wait := range []string{"7200", "7199"} {
				w := h.do(tenantReq(tc.id, "basic"))
				require.Equal(t, http.StatusTooManyRequests, w.Code)
				require.Equal(t, wait, w.Header().Get("Retry-After"))
				require.Equal(t, "no-store", w.Header().Get("Cache-Control"))
				require.Equal(t, "nosniff", w.Header().Get("X-Content-Type-Options"))
				rateHeaders(t, w)
				if tc.problem {
					require.Equal(t, "application/problem+json", w.Header().Get("Content-Type"))
					require.Equal(t, `{"type":"about:blank","title":"Too Many Requests","status":429,"detail":"rate limit exceeded","retry_after":`+wait+"}\n", w.Body.String())
				} else {
					require.Equal(t, "application/json", w.Header().Get("Content-Type"))
					require.Equal(t, `{"error":"rate limit exceeded","retry_after":`+wait+"}\n", w.Body.String())
				}
				for _, k := range []string{"Retry-After", "Cache-Control", "X-Content-Type-Options", "Content-Type"} {
					w.Header().Add(k, "added-"+strconv.Itoa(i))
				}
				if i == 0 {
					first = w.Header()
				}
				h.clock.Advance(time.Second)
			}
			// The first denial's headers after the second.
			require.Equal(t, []string{"7200", "added-0"}, first.Values("Retry-After"))
			require.Equal(t, []string{"no-store", "added-0"}, first.Values("Cache-Control"))
			require.Equal(t, []string{"nosniff", "added-0"}, first.Values("X-Content-Type-Options"))
			require.Len(t, first.Values("Content-Type"), 2)
			require.Equal(t, "added-0", first.Values("Content-Type")[1])
		})
	}
}

// With the logger's Warn level disabled a denial is answered the same and
// nothing is logged.
func TestHandlerDenialLoggerDisabled(t *testing.T) {
	logs := &bytes.Buffer{}
	h := newHarness(t, smallPlans(), &ratelimit.Options{
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelError})),
	})
	for range 2 {
		require.Equal(t, http.StatusOK, h.do(tenantReq("acme", "basic")).Code)
	}
	w := h.do(tenantReq("acme", "basic"))
	require.Equal(t, http.StatusTooManyRequests, w.Code)
	require.Equal(t, "30", w.Header().Get("Retry-After"))
	require.Zero(t, logs.Len())
}

// Seconds in the headers are rounded up without overflowing, also for the
// longest Period a Limit can have: the window is ⌈MaxInt64 ns⌉ seconds, not
// a wrapped 1, and the denial's Retry-After is the emission interval rounded
// up.
func TestHandlerHeadersLongestPeriod(t *testing.T) {
	set := ratelimit.DefaultPlanSet()
	set.Plans["slow"] = ratelimit.Limit{Name: "slow", Rate: 7, Period: math.MaxInt64, Burst: 1}
	h := newHarness(t, set, nil)
	w := h.do(tenantReq("acme", "slow"))
	require.Equal(t, http.StatusOK, w.Code)
	require.Equal(t, `"slow";q=7;w=9223372037`, w.Header().Get("RateLimit-Policy"))
	rateHeaders(t, w)
	w = h.do(tenantReq("acme", "slow"))
	require.Equal(t, http.StatusTooManyRequests, w.Code)
	interval := time.Duration(math.MaxInt64 / 7)
	want := int64(interval / time.Second)
	if interval%time.Second != 0 {
		want++
	}
	require.Equal(t, strconv.FormatInt(want, 10), w.Header().Get("Retry-After"))
}
