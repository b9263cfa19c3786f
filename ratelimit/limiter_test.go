package ratelimit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tenantkit/tenantkit/ratelimit"
	"github.com/tenantkit/tenantkit/tenant"
)

var okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	_, _ = io.WriteString(w, "ok")
})

type harness struct {
	clock   *fakeClock
	store   *ratelimit.Memory
	limiter *ratelimit.Limiter
	h       http.Handler
	logs    *bytes.Buffer
}

func newHarness(t *testing.T, set ratelimit.PlanSet, opts *ratelimit.Options) *harness {
	t.Helper()
	c := newFakeClock(clockEpoch)
	m := ratelimit.NewMemory(&ratelimit.MemoryOptions{Now: c.Now})
	plans, err := ratelimit.NewPlans(set)
	require.NoError(t, err)
	var o ratelimit.Options
	if opts != nil {
		o = *opts
	}
	logs := &bytes.Buffer{}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	}
	if o.Now == nil {
		o.Now = c.Now
	}
	l := ratelimit.New(m, plans, &o)
	return &harness{clock: c, store: m, limiter: l, h: l.Handler(okHandler), logs: logs}
}

func smallPlans() ratelimit.PlanSet {
	s := ratelimit.DefaultPlanSet()
	s.Plans["basic"] = ratelimit.Limit{Name: "basic", Rate: 2, Period: time.Minute}
	return s
}

func tenantReq(id, plan string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/api/meters", nil)
	r.RemoteAddr = "198.51.100.7:41000"
	r.Header.Set("User-Agent", "curl/8.5")
	return r.WithContext(tenant.NewContext(r.Context(), tenant.Tenant{ID: tenant.ID(id), Plan: plan, Status: tenant.StatusActive}))
}

func (h *harness) do(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.h.ServeHTTP(w, r)
	return w
}

// rateHeaders parses and cross-checks the rate-limit headers of a response:
// both structured fields parse strictly as RFC 8941 lists and the legacy
// headers agree with their first items.
func rateHeaders(t *testing.T, w *httptest.ResponseRecorder) (policy, state sfItem) {
	t.Helper()
	pl, err := parseSFList(w.Header().Get("RateLimit-Policy"))
	require.NoError(t, err, "RateLimit-Policy %q", w.Header().Get("RateLimit-Policy"))
	st, err := parseSFList(w.Header().Get("RateLimit"))
	require.NoError(t, err, "RateLimit %q", w.Header().Get("RateLimit"))
	policy, state = pl[0], st[0]
	require.Equal(t, policy.Value, state.Value, "both headers name the same policy")
	q, _ := policy.param("q")
	r, _ := state.param("r")
	tt, _ := state.param("t")
	require.Equal(t, strconv.FormatInt(q.(int64), 10), w.Header().Get("X-RateLimit-Limit"))
	require.Equal(t, strconv.FormatInt(r.(int64), 10), w.Header().Get("X-RateLimit-Remaining"))
	require.Equal(t, strconv.FormatInt(tt.(int64), 10), w.Header().Get("X-RateLimit-Reset"))
	return policy, state
}

func TestHandlerHeadersOnEveryResponse(t *testing.T) {
	h := newHarness(t, smallPlans(), nil)
	w := h.do(tenantReq("acme", "basic"))
	require.Equal(t, http.StatusOK, w.Code)
	require.Equal(t, `"basic";q=2;w=60`, w.Header().Get("RateLimit-Policy"))
	require.Equal(t, `"basic";r=1;t=30`, w.Header().Get("RateLimit"))
	rateHeaders(t, w)

	w = h.do(tenantReq("acme", "basic"))
	require.Equal(t, http.StatusOK, w.Code)
	require.Equal(t, `"basic";r=0;t=60`, w.Header().Get("RateLimit"))
	rateHeaders(t, w)

	w = h.do(tenantReq("acme", "basic"))
	require.Equal(t, http.StatusTooManyRequests, w.Code)
	require.Equal(t, `"basic";q=2;w=60`, w.Header().Get("RateLimit-Policy"))
	require.Equal(t, `"basic";r=0;t=30`, w.Header().Get("RateLimit"))
	require.Equal(t, "30", w.Header().Get("Retry-After"))
	require.Equal(t, "application/json", w.Header().Get("Content-Type"))
	require.JSONEq(t, `{"error":"rate limit exceeded","retry_after":30}`, w.Body.String())
	rateHeaders(t, w)

	// Another tenant on the same plan has its own budget.
	require.Equal(t, http.StatusOK, h.do(tenantReq("globex", "basic")).Code)
}

func TestHandlerRetryAfterIsExactCeiling(t *testing.T) {
	set := smallPlans()
	set.Plans["basic"] = ratelimit.Limit{Rate: 3, Period: 10 * time.Second}
	h := newHarness(t, set, nil)
	for range 3 {
		require.Equal(t, http.StatusOK, h.do(tenantReq("acme", "basic")).Code)
	}
	w := h.do(tenantReq("acme", "basic"))
	require.Equal(t, http.StatusTooManyRequests, w.Code)
	require.Equal(t, "4", w.Header().Get("Retry-After"), "3.33 s rounds up")
	h.clock.Advance(3 * time.Second)
	require.Equal(t, http.StatusTooManyRequests, h.do(tenantReq("acme", "basic")).Code, "3 s is too early")
	h.clock.Advance(time.Second) // 4 s after the denial
	w = h.do(tenantReq("acme", "basic"))
	require.Equal(t, http.StatusOK, w.Code, "a client waiting exactly Retry-After is admitted")
}

func TestHandlerGuestByIP(t *testing.T) {
	h := newHarness(t, ratelimit.DefaultPlanSet(), nil)
	guest := func(addr string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/login", nil)
		r.RemoteAddr = addr
		return r
	}
	for i := range 10 {
		w := h.do(guest("203.0.113.9:5000"))
		require.Equal(t, http.StatusOK, w.Code, "guest request %d", i+1)
		require.Equal(t, `"guest";q=10;w=60`, w.Header().Get("RateLimit-Policy"))
	}
	require.Equal(t, http.StatusTooManyRequests, h.do(guest("203.0.113.9:5001")).Code, "another port of the same IP shares the limit")
	require.Equal(t, http.StatusOK, h.do(guest("203.0.113.10:5000")).Code, "another IP has its own limit")

	// IPv6 is grouped by /64.
	for range 10 {
		require.Equal(t, http.StatusOK, h.do(guest("[2001:db8:1:2::1]:443")).Code)
	}
	require.Equal(t, http.StatusTooManyRequests, h.do(guest("[2001:db8:1:2:ffff::9]:443")).Code, "same /64")
	require.Equal(t, http.StatusOK, h.do(guest("[2001:db8:1:3::1]:443")).Code, "another /64")

	// IPv4 clients behind a NAT64 gateway (64:ff9b::/96) are keyed by their
	// IPv4 address: the same budget as over IPv4, one each.
	require.Equal(t, http.StatusTooManyRequests, h.do(guest("[64:ff9b::cb00:7109]:443")).Code, "203.0.113.9 over NAT64")
	for range 10 {
		require.Equal(t, http.StatusOK, h.do(guest("[64:ff9b::cb00:710b]:443")).Code, "203.0.113.11 over NAT64")
	}
	require.Equal(t, http.StatusOK, h.do(guest("[64:ff9b::cb00:710c]:443")).Code, "another IPv4 client of the same gateway")
}

func TestHandlerPlans(t *testing.T) {
	h := newHarness(t, ratelimit.DefaultPlanSet(), nil)
	for plan, want := range map[string]string{
		"basic":        `"basic";q=100;w=60`,
		"professional": `"professional";q=500;w=60`,
		"enterprise":   `"enterprise";q=2000;w=60`,
		"legacy-gold":  `"default";q=60;w=60`,
		"":             `"default";q=60;w=60`,
	} {
		w := h.do(tenantReq("t-"+plan, plan))
		require.Equal(t, want, w.Header().Get("RateLimit-Policy"), "plan %q", plan)
	}

	// Replacing the table takes effect on the next request.
	set := ratelimit.DefaultPlanSet()
	set.Plans["basic"] = ratelimit.Limit{Rate: 1, Period: time.Minute}
	require.NoError(t, h.limiter.Plans().Replace(set))
	w := h.do(tenantReq("fresh", "basic"))
	require.Equal(t, `"basic";q=1;w=60`, w.Header().Get("RateLimit-Policy"))
	require.Equal(t, http.StatusTooManyRequests, h.do(tenantReq("fresh", "basic")).Code)

	bad := ratelimit.DefaultPlanSet()
	bad.Plans["broken"] = ratelimit.Limit{Rate: 0, Period: time.Minute}
	err := h.limiter.Plans().Replace(bad)
	require.ErrorIs(t, err, ratelimit.ErrInvalid)
	require.ErrorContains(t, err, `plan "broken"`)
	require.Equal(t, 1, h.limiter.Plans().Limit("basic").Rate, "a failed Replace leaves the table unchanged")
}

func TestPlansZeroValueHoldsDefaults(t *testing.T) {
	var p ratelimit.Plans
	require.Equal(t, 100, p.Limit("basic").Rate)
	require.Equal(t, 500, p.Limit("professional").Rate)
	require.Equal(t, 2000, p.Limit("enterprise").Rate)
	require.Equal(t, 60, p.Limit("nope").Rate)
	require.Equal(t, 10, p.Guest().Rate)
	require.Equal(t, time.Minute, p.Guest().Period)
	require.Len(t, p.Set().Plans, 3)
}

// TestHandlerForgedXFFOneSocket sends 50 requests over one client
// connection, each with a different forged X-Forwarded-For: without a
// trusted proxy the header is ignored and only the guest limit is admitted.
func TestHandlerForgedXFFOneSocket(t *testing.T) {
	h := newHarness(t, ratelimit.DefaultPlanSet(), nil)
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(h.h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1}}
	admitted := 0
	for i := range 50 {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/login", nil)
		require.NoError(t, err)
		req.Header.Set("X-Forwarded-For", fmt.Sprintf("10.%d.%d.1", i, i))
		resp, err := client.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			admitted++
		}
	}
	require.Equal(t, 10, admitted, "only the guest limit of 10 is admitted")
	require.EqualValues(t, 1, conns.Load(), "all requests used one socket")
}

func TestHandlerTrustedProxyRightmostUntrusted(t *testing.T) {
	proxies := ratelimit.NewClientIP(netip.MustParsePrefix("10.0.0.0/8"))
	h := newHarness(t, ratelimit.DefaultPlanSet(), &ratelimit.Options{ClientIP: proxies})
	viaProxy := func(xff string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/login", nil)
		r.RemoteAddr = "10.1.2.3:80"
		r.Header.Set("X-Forwarded-For", xff)
		return r
	}
	admitted := 0
	for i := range 50 {
		// The client forges the left part; the proxy appended the real address.
		if h.do(viaProxy(fmt.Sprintf("192.0.2.%d, 203.0.113.50, 10.9.9.9", i))).Code == http.StatusOK {
			admitted++
		}
	}
	require.Equal(t, 10, admitted, "the right-most untrusted hop is the key")
	require.Equal(t, http.StatusOK, h.do(viaProxy("203.0.113.51")).Code, "another client behind the proxy")

	// A connection that is not a trusted proxy is keyed by itself, XFF ignored.
	r := httptest.NewRequest(http.MethodGet, "/login", nil)
	r.RemoteAddr = "198.51.100.1:9"
	r.Header.Set("X-Forwarded-For", "203.0.113.51")
	a, ok := proxies.Addr(r)
	require.True(t, ok)
	require.Equal(t, "198.51.100.1", a.String())
}

func TestClientIPAddr(t *testing.T) {
	c := ratelimit.NewClientIP(netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8"))
	cases := []struct {
		remote string
		xff    []string
		want   string
		ok     bool
	}{
		{"198.51.100.1:1", nil, "198.51.100.1", true},
		{"198.51.100.1:1", []string{"1.2.3.4"}, "198.51.100.1", true},
		{"10.0.0.1:1", nil, "10.0.0.1", true},
		{"10.0.0.1:1", []string{"1.2.3.4"}, "1.2.3.4", true},
		{"10.0.0.1:1", []string{"1.2.3.4, 5.6.7.8"}, "5.6.7.8", true},
		{"10.0.0.1:1", []string{"1.2.3.4, 10.0.0.2"}, "1.2.3.4", true},
		{"10.0.0.1:1", []string{"1.2.3.4", "10.0.0.2"}, "1.2.3.4", true},
		{"10.0.0.1:1", []string{"10.0.0.3, 10.0.0.2"}, "10.0.0.3", true},
		{"10.0.0.1:1", []string{"1.2.3.4, garbage"}, "10.0.0.1", true},
		{"10.0.0.1:1", []string{"garbage, 10.0.0.2"}, "10.0.0.2", true},
		{"10.0.0.1:1", []string{"1.2.3.4,,10.0.0.2"}, "10.0.0.2", true},
		{"10.0.0.1:1", []string{"[2001:db8::1]:443"}, "2001:db8::1", true},
		{"10.0.0.1:1", []string{"::ffff:192.0.2.1"}, "192.0.2.1", true},
		{"10.0.0.1:1", []string{"fe80::1%eth0"}, "fe80::1", true},
		{"10.0.0.1:1", []string{"unknown"}, "10.0.0.1", true},
		{"[fd00::1]:1", []string{"2001:db8::7"}, "2001:db8::7", true},
		{"[::ffff:10.0.0.1]:1", []string{"2001:db8::7"}, "2001:db8::7", true},
		{"pipe", []string{"1.2.3.4"}, "", false},
		{"", nil, "", false},
	}
	for _, tc := range cases {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = tc.remote
		for _, v := range tc.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		a, ok := c.Addr(r)
		require.Equal(t, tc.ok, ok, "%s %q", tc.remote, tc.xff)
		if ok {
			require.Equal(t, tc.want, a.String(), "%s %q", tc.remote, tc.xff)
		}
	}
	var zero *ratelimit.ClientIP
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "10.0.0.1:1"
	r.Header.Set("X-Forwarded-For", "1.2.3.4")
	p, ok := zero.Prefix(r)
	require.True(t, ok)
	require.Equal(t, "10.0.0.1/32", p.String(), "nil ClientIP trusts no proxy")
	r.RemoteAddr = "[2001:db8:aa:bb:cc::1]:1"
	p, _ = zero.Prefix(r)
	require.Equal(t, "2001:db8:aa:bb::/64", p.String())
	// NAT64 (well-known prefix): the embedded IPv4 client, as if over IPv4.
	r.RemoteAddr = "[64:ff9b::c633:6407]:1"
	p, _ = zero.Prefix(r)
	require.Equal(t, "198.51.100.7/32", p.String())
	r.RemoteAddr = "[64:ff9b::c633:6408]:1"
	p, _ = zero.Prefix(r)
	require.Equal(t, "198.51.100.8/32", p.String(), "two IPv4 clients behind one NAT64 gateway are two keys")
	r.RemoteAddr = "[64:ff9b:1::c633:6407]:1" // an operator's prefix: grouped by /64
	p, _ = zero.Prefix(r)
	require.Equal(t, "64:ff9b:1::/64", p.String())
}

func TestHandlerQuotas(t *testing.T) {
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	require.NoError(t, err)
	h := newHarness(t, ratelimit.DefaultPlanSet(), &ratelimit.Options{
		Quotas: func(tt tenant.Tenant) []ratelimit.Quota {
			return []ratelimit.Quota{
				{Name: "api_calls", Period: ratelimit.Day, Max: 3, Location: tokyo},
				{Name: "api_calls", Period: ratelimit.Month, Location: tokyo},
			}
		},
	})
	// 23:00 in Tokyo.
	h.clock.Set(time.Date(2026, 3, 14, 23, 0, 0, 0, tokyo))
	for range 3 {
		w := h.do(tenantReq("acme", "basic"))
		require.Equal(t, http.StatusOK, w.Code)
		rateHeaders(t, w)
	}
	w := h.do(tenantReq("acme", "basic"))
	require.Equal(t, http.StatusTooManyRequests, w.Code, "the daily quota of 3 is used up")
	require.Equal(t, "3600", w.Header().Get("Retry-After"), "until midnight in Tokyo")
	pol, err := parseSFList(w.Header().Get("RateLimit-Policy"))
	require.NoError(t, err)
	require.Len(t, pol, 2, "the enforcing quota is a second policy; the count-only one is not shown")
	require.Equal(t, "api_calls/day", pol[1].Value)
	st, err := parseSFList(w.Header().Get("RateLimit"))
	require.NoError(t, err)
	r, _ := st[1].param("r")
	require.EqualValues(t, 0, r)
	require.Equal(t, "97", w.Header().Get("X-RateLimit-Remaining"), "the denial did not consume the rate limit")

	d, err := h.limiter.AllowQuotas(t.Context(), "tenant:acme", h.limiter.Plans().Limit("basic"),
		ratelimit.Quota{Name: "api_calls", Period: ratelimit.Month, Location: tokyo})
	require.NoError(t, err)
	require.EqualValues(t, 4, d.Quotas[0].Used, "the month counted the 3 admitted requests and this one")

	h.clock.Advance(time.Hour)
	require.Equal(t, http.StatusOK, h.do(tenantReq("acme", "basic")).Code, "a new day in Tokyo")
}

type failingStore struct{ calls atomic.Int64 }

func (f *failingStore) Take(context.Context, *ratelimit.Request, *ratelimit.Decision) error {
	f.calls.Add(1)
	return fmt.Errorf("test: redis down: %w", ratelimit.ErrUnavailable)
}

func TestHandlerFailPolicy(t *testing.T) {
	for _, tc := range []struct {
		policy ratelimit.FailPolicy
		code   int
	}{{ratelimit.FailOpen, http.StatusOK}, {ratelimit.FailClosed, http.StatusServiceUnavailable}} {
		t.Run(tc.policy.String(), func(t *testing.T) {
			var seen []error
			var mu sync.Mutex
			l := ratelimit.New(&failingStore{}, nil, &ratelimit.Options{
				FailPolicy: tc.policy,
				OnError: func(_ context.Context, key string, err error) {
					mu.Lock()
					seen = append(seen, err)
					mu.Unlock()
				},
			})
			w := httptest.NewRecorder()
			l.Handler(okHandler).ServeHTTP(w, tenantReq("acme", "basic"))
			require.Equal(t, tc.code, w.Code)
			require.Equal(t, `"basic";q=100;w=60`, w.Header().Get("RateLimit-Policy"))
			require.Len(t, seen, 1)
			require.ErrorIs(t, seen[0], ratelimit.ErrUnavailable)
			if tc.policy == ratelimit.FailClosed {
				require.Equal(t, "1", w.Header().Get("Retry-After"))
				require.Equal(t, "", w.Header().Get("RateLimit"), "no state is claimed when nothing was decided")
			} else {
				require.Equal(t, "ok", w.Body.String())
			}
		})
	}
}

func TestHandlerLogsEachDenialOnce(t *testing.T) {
	h := newHarness(t, smallPlans(), nil)
	for range 2 {
		h.do(tenantReq("acme", "basic"))
	}
	require.Zero(t, h.logs.Len(), "admitted requests are not logged")
	h.do(tenantReq("acme", "basic"))
	h.do(tenantReq("acme", "basic"))
	lines := strings.Split(strings.TrimSpace(h.logs.String()), "\n")
	require.Len(t, lines, 2, "one line per denial")
	var rec map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &rec))
	require.Equal(t, "WARN", rec["level"])
	require.Equal(t, "rate limit exceeded", rec["msg"])
	require.Equal(t, "acme", rec["tenant_id"])
	require.Equal(t, "198.51.100.7", rec["ip"])
	require.Equal(t, "curl/8.5", rec["user_agent"])
	require.EqualValues(t, 3, rec["attempts"])
	require.Equal(t, "/api/meters", rec["endpoint"])
	require.Equal(t, "GET", rec["method"])
}

func TestHandlerProblemJSONAndResetUnix(t *testing.T) {
	h := newHarness(t, smallPlans(), &ratelimit.Options{ProblemJSON: true, ResetUnix: true})
	w := h.do(tenantReq("acme", "basic"))
	require.Equal(t, strconv.FormatInt(clockEpoch.Add(30*time.Second).Unix(), 10), w.Header().Get("X-RateLimit-Reset"))
	h.do(tenantReq("acme", "basic"))
	w = h.do(tenantReq("acme", "basic"))
	require.Equal(t, http.StatusTooManyRequests, w.Code)
	require.Equal(t, "application/problem+json", w.Header().Get("Content-Type"))
	var body map[string]any
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
	require.EqualValues(t, 429, body["status"])
	require.EqualValues(t, 30, body["retry_after"])
	require.Equal(t, "Too Many Requests", body["title"])
}

func TestHandlerKeyStrategies(t *testing.T) {
	withIP := func(r *http.Request, addr string) *http.Request { r.RemoteAddr = addr; return r }
	withTok := func(r *http.Request, tok string) *http.Request {
		r.Header.Set("Authorization", "Bearer "+tok)
		return r
	}

	t.Run("tenant", func(t *testing.T) {
		h := newHarness(t, smallPlans(), nil)
		h.do(withIP(tenantReq("acme", "basic"), "192.0.2.1:1"))
		h.do(withIP(tenantReq("acme", "basic"), "192.0.2.2:1"))
		require.Equal(t, 429, h.do(withIP(tenantReq("acme", "basic"), "192.0.2.3:1")).Code, "one budget per tenant")
	})
	t.Run("tenant+ip", func(t *testing.T) {
		h := newHarness(t, smallPlans(), &ratelimit.Options{KeyBy: ratelimit.ByTenantAndIP})
		for range 2 {
			require.Equal(t, 200, h.do(withIP(tenantReq("acme", "basic"), "192.0.2.1:1")).Code)
		}
		require.Equal(t, 429, h.do(withIP(tenantReq("acme", "basic"), "192.0.2.1:1")).Code)
		require.Equal(t, 200, h.do(withIP(tenantReq("acme", "basic"), "192.0.2.2:1")).Code, "each address has its own budget")
	})
	t.Run("token", func(t *testing.T) {
		h := newHarness(t, smallPlans(), &ratelimit.Options{KeyBy: ratelimit.ByToken})
		for range 2 {
			require.Equal(t, 200, h.do(withTok(tenantReq("acme", "basic"), "tok-a")).Code)
		}
		require.Equal(t, 429, h.do(withTok(tenantReq("acme", "basic"), "tok-a")).Code)
		require.Equal(t, 200, h.do(withTok(tenantReq("acme", "basic"), "tok-b")).Code, "each token has its own budget")
	})
	t.Run("custom", func(t *testing.T) {
		h := newHarness(t, smallPlans(), &ratelimit.Options{Key: func(r *http.Request) string { return "custom:" + r.Header.Get("X-Device") }})
		r := tenantReq("acme", "basic")
		r.Header.Set("X-Device", "d1")
		h.do(r)
		h.do(r)
		require.Equal(t, 429, h.do(r).Code)
		r2 := tenantReq("acme", "basic")
		r2.Header.Set("X-Device", "d2")
		require.Equal(t, 200, h.do(r2).Code)
	})
}

func TestHandlerConcurrentExact(t *testing.T) {
	h := newHarness(t, ratelimit.DefaultPlanSet(), nil)
	var ok, denied atomic.Int64
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			for range 20 {
				switch h.do(tenantReq("acme", "basic")).Code {
				case http.StatusOK:
					ok.Add(1)
				case http.StatusTooManyRequests:
					denied.Add(1)
				}
			}
		})
	}
	wg.Wait()
	require.EqualValues(t, 100, ok.Load(), "basic is 100/min: exactly 100 admitted")
	require.EqualValues(t, 900, denied.Load())
}

func TestHandlerDoesNotMutateRequest(t *testing.T) {
	h := newHarness(t, smallPlans(), nil)
	r := tenantReq("acme", "basic")
	ctx := r.Context()
	hdr := r.Header.Clone()
	h.do(r)
	require.Equal(t, ctx, r.Context())
	require.Equal(t, hdr, r.Header)
}

func TestAllowRequiresValidLimit(t *testing.T) {
	l := ratelimit.New(ratelimit.NewMemory(nil), nil, nil)
	_, err := l.Allow(t.Context(), "k", ratelimit.Limit{Rate: 1})
	require.ErrorIs(t, err, ratelimit.ErrInvalid)
	r, err := l.Allow(t.Context(), "k", ratelimit.Limit{Name: "x", Rate: 1, Period: time.Hour})
	require.NoError(t, err)
	require.True(t, r.Allowed)
	r, err = l.Allow(t.Context(), "k", ratelimit.Limit{Name: "x", Rate: 1, Period: time.Hour})
	require.NoError(t, err)
	require.False(t, r.Allowed)
}
