package ratelimit_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tenantkit/tenantkit/ratelimit"
	"github.com/tenantkit/tenantkit/tenant"
)

// A denial's RetryAfter is exact for arbitrary limits (whole and fractional
// emission intervals, any burst, N > 1): at now+RetryAfter the same request
// is admitted, one nanosecond earlier it is not.
func TestReviewRetryAfterExactRandomLimits(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	denials := 0
	for range 3000 {
		lim := ratelimit.Limit{Rate: 1 + rng.IntN(70000), Period: time.Duration(1+rng.IntN(5000)) * time.Millisecond, Burst: rng.IntN(20)}
		if lim.Validate() != nil {
			continue
		}
		now := time.Unix(1_700_000_000, rng.Int64N(1e9))
		var tat int64
		for range 1 + rng.IntN(40) {
			n := 1 + rng.IntN(lim.EffectiveBurst())
			next, r, err := ratelimit.Decide(tat, now, lim, n)
			require.NoError(t, err)
			if !r.Allowed {
				denials++
				require.Positive(t, r.RetryAfter)
				_, at, _ := ratelimit.Decide(tat, now.Add(r.RetryAfter), lim, n)
				require.True(t, at.Allowed, "%+v n=%d admitted at +RetryAfter", lim, n)
				_, before, _ := ratelimit.Decide(tat, now.Add(r.RetryAfter-1), lim, n)
				require.False(t, before.Allowed, "%+v n=%d denied 1ns before RetryAfter", lim, n)
			}
			tat = next
			now = now.Add(time.Duration(rng.Int64N(2 * int64(lim.Period) / int64(lim.Rate))))
		}
	}
	require.Greater(t, denials, 1000, "the walk exercises denials")
}

// MemoryOptions.QuotaCapacity is a maximum like Capacity: a small one is not
// multiplied by the shard count.
func TestReviewQuotaCapacityNeverExceeded(t *testing.T) {
	for _, qc := range []int{1, 10, 100, 1000} {
		m := ratelimit.NewMemory(&ratelimit.MemoryOptions{QuotaCapacity: qc})
		lim := ratelimit.Limit{Rate: 100, Period: time.Minute}
		q := []ratelimit.Quota{{Name: "api", Period: ratelimit.Day}}
		for i := range 3000 {
			var d ratelimit.Decision
			require.NoError(t, m.Take(t.Context(), &ratelimit.Request{Key: fmt.Sprint("k", i), Limit: lim, Quotas: q}, &d))
			require.True(t, d.Allowed)
		}
		require.LessOrEqual(t, m.Stats().Quotas, qc, "QuotaCapacity %d", qc)
		require.Positive(t, m.Stats().Quotas)
	}
}

// Where DST skips local midnight, time.Date answers 23:00 of the day
// before; the period bounds must still hold start ≤ t < next, and periods
// must tile time without gaps or overlaps.
func TestReviewPeriodBoundsSkippedMidnight(t *testing.T) {
	for _, tc := range []struct {
		zone string
		day  time.Time // a UTC date whose local midnight is skipped
	}{
		{"America/Santiago", time.Date(2022, 9, 11, 0, 0, 0, 0, time.UTC)},
		{"America/Havana", time.Date(2023, 3, 12, 0, 0, 0, 0, time.UTC)},
		{"Asia/Beirut", time.Date(2023, 3, 26, 0, 0, 0, 0, time.UTC)},
		{"America/Asuncion", time.Date(2023, 10, 1, 0, 0, 0, 0, time.UTC)}, // also a month start
		{"America/Sao_Paulo", time.Date(2018, 11, 4, 0, 0, 0, 0, time.UTC)},
	} {
		loc, err := time.LoadLocation(tc.zone)
		require.NoError(t, err)
		for _, p := range []ratelimit.QuotaPeriod{ratelimit.Day, ratelimit.Month} {
			q := ratelimit.Quota{Period: p, Location: loc}
			from := tc.day.Add(-48 * time.Hour)
			var last time.Time
			for tm := from; tm.Before(from.Add(96 * time.Hour)); tm = tm.Add(time.Minute) {
				s, n := q.PeriodBounds(tm)
				require.False(t, tm.Before(s), "%s %v: start %v after t", tc.zone, tm.In(loc), s.In(loc))
				require.True(t, tm.Before(n), "%s %v: next %v not after t", tc.zone, tm.In(loc), n.In(loc))
				if !last.IsZero() && !s.Equal(last) {
					ps, pn := q.PeriodBounds(tm.Add(-time.Minute))
					require.True(t, pn.Equal(s), "%s: period %v..%v is followed by one starting %v", tc.zone, ps, pn, s)
				}
				last = s
			}
		}
	}
}

// A Santiago tenant denied by its daily quota at 23:30 on the night
// midnight is skipped is told the real wait (until 01:00, the first instant
// of the next day), not a RetryAfter of zero; the counter resets once, then.
func TestReviewQuotaRetryAfterSkippedMidnight(t *testing.T) {
	scl, err := time.LoadLocation("America/Santiago")
	require.NoError(t, err)
	c := newFakeClock(time.Date(2022, 9, 10, 23, 30, 0, 0, scl))
	m := ratelimit.NewMemory(&ratelimit.MemoryOptions{Now: c.Now})
	req := ratelimit.Request{Key: "acme", Limit: ratelimit.Limit{Rate: 100, Period: time.Second},
		Quotas: []ratelimit.Quota{{Name: "api_calls", Period: ratelimit.Day, Max: 1, Location: scl}}}
	var d ratelimit.Decision
	require.NoError(t, m.Take(t.Context(), &req, &d))
	require.True(t, d.Allowed)
	require.NoError(t, m.Take(t.Context(), &req, &d))
	require.False(t, d.Allowed)
	transition := time.Date(2022, 9, 11, 4, 0, 0, 0, time.UTC) // 00:00 -04 becomes 01:00 -03
	require.True(t, d.Quotas[0].ResetAt.Equal(transition), "ResetAt %v", d.Quotas[0].ResetAt)
	require.Equal(t, 30*time.Minute, d.RetryAfter)

	c.Set(transition.Add(-time.Nanosecond))
	require.NoError(t, m.Take(t.Context(), &req, &d))
	require.False(t, d.Allowed, "still September 10th")
	c.Set(transition)
	require.NoError(t, m.Take(t.Context(), &req, &d))
	require.True(t, d.Allowed, "September 11th began")
	require.EqualValues(t, 1, d.Quotas[0].Used)
}

// Two quotas with the same Name and Period are one counter: listed twice,
// each was checked against the count before the request and then both
// added to it, so an enforcing Max was overrun (Used 4 of Max 3). Such a
// request is invalid, whatever the zones; the same name with another
// period is another counter.
func TestReviewDuplicateQuotaRejected(t *testing.T) {
	m := ratelimit.NewMemory(nil)
	lim := ratelimit.Limit{Rate: 100, Period: time.Second}
	enforce := ratelimit.Quota{Name: "api", Period: ratelimit.Day, Max: 3}
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	require.NoError(t, err)
	for _, second := range []ratelimit.Quota{
		enforce,
		{Name: "api", Period: ratelimit.Day},
		{Name: "api", Period: ratelimit.Day, Location: tokyo},
	} {
		req := ratelimit.Request{Key: "k", Limit: lim, Quotas: []ratelimit.Quota{enforce, second}}
		require.ErrorIs(t, req.Validate(), ratelimit.ErrInvalid)
		var d ratelimit.Decision
		require.ErrorIs(t, m.Take(t.Context(), &req, &d), ratelimit.ErrInvalid)
	}

	req := ratelimit.Request{Key: "k", Limit: lim, Quotas: []ratelimit.Quota{enforce, {Name: "api", Period: ratelimit.Month}}}
	require.NoError(t, req.Validate())
	admitted := 0
	for range 10 {
		var d ratelimit.Decision
		require.NoError(t, m.Take(t.Context(), &req, &d))
		if d.Allowed {
			admitted++
		}
		require.LessOrEqual(t, d.Quotas[0].Used, enforce.Max)
	}
	require.Equal(t, 3, admitted)
}

// The dynamic header values point into a per-request block (unsafe.String).
// Values a caller keeps after the handler returned must never change while
// other requests (allowed, denied, with quotas, with keys that outgrow the
// block, in Charge mode) run concurrently.
func TestReviewHeaderValuesStableAfterReturn(t *testing.T) {
	quotas := func(tenant.Tenant) []ratelimit.Quota {
		return []ratelimit.Quota{{Name: "api_calls", Period: ratelimit.Day, Max: 40}, {Name: "api_calls", Period: ratelimit.Month, Max: 1000}}
	}
	plain := ratelimit.New(ratelimit.NewMemory(nil), nil, &ratelimit.Options{Quotas: quotas, KeyBy: ratelimit.ByTenantAndIP})
	charged := ratelimit.New(ratelimit.NewMemory(nil), nil, &ratelimit.Options{KeyBy: ratelimit.ByClientIP,
		Charge: func(int, http.Header) bool { return true }})
	handlers := []http.Handler{plain.Handler(okHandler), charged.Handler(okHandler)}
	type kept struct {
		h    http.Header
		copy map[string][]string
	}
	var mu sync.Mutex
	var all []kept
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Go(func() {
			for i := range 150 {
				id := fmt.Sprintf("t%d", g%3)
				if g%2 == 1 {
					id = strings.Repeat("long-tenant-id-", 10) + id // the key outgrows the block
				}
				r := tenantReq(id, "basic")
				r.RemoteAddr = fmt.Sprintf("[2001:db8:%x::%x]:443", g, i)
				w := httptest.NewRecorder()
				handlers[g%2].ServeHTTP(w, r)
				c := map[string][]string{}
				for k, v := range w.Header() {
					for _, s := range v {
						c[k] = append(c[k], strings.Clone(s))
					}
				}
				mu.Lock()
				all = append(all, kept{w.Header(), c})
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	denied := 0
	for _, k := range all {
		require.Equal(t, k.copy, map[string][]string(k.h))
		if k.h.Get("Retry-After") != "" {
			denied++
		}
		require.NotEmpty(t, k.h.Get("RateLimit-Policy"))
	}
	require.Positive(t, denied)
}

// degradedStore answers like ratelimit/redisstore while Redis is down:
// failing open (admitted, Degraded, no state) or from a local fallback
// (Degraded with real local state).
type degradedStore struct{ local bool }

func (s degradedStore) Take(_ context.Context, req *ratelimit.Request, d *ratelimit.Decision) error {
	d.Result = ratelimit.Result{Allowed: true, Limit: req.Limit}
	if s.local {
		d.Remaining, d.ResetAfter = 5, 3*time.Second
	}
	d.Quotas = d.Quotas[:0]
	for _, q := range req.Quotas {
		_, next := q.PeriodBounds(time.Now())
		d.Quotas = append(d.Quotas, ratelimit.QuotaResult{Quota: q, Allowed: true, ResetAt: next})
	}
	d.Degraded = true
	return nil
}

// A store failing open used to yield "RateLimit: r=0;t=0" and
// X-RateLimit-Remaining: 0 on every admitted request (and an untouched
// quota): a client told it has nothing left. No state is claimed instead,
// as for the Limiter's own FailOpen; a local fallback's state is sent.
func TestReviewDegradedFailOpenClaimsNoState(t *testing.T) {
	quotas := func(tenant.Tenant) []ratelimit.Quota {
		return []ratelimit.Quota{{Name: "api_calls", Period: ratelimit.Day, Max: 10}}
	}
	for _, charge := range []bool{false, true} {
		o := &ratelimit.Options{Quotas: quotas}
		if charge {
			o = &ratelimit.Options{KeyBy: ratelimit.ByClientIP, Charge: func(int, http.Header) bool { return true }}
		}
		w := httptest.NewRecorder()
		ratelimit.New(degradedStore{}, nil, o).Handler(okHandler).ServeHTTP(w, tenantReq("acme", "basic"))
		require.Equal(t, http.StatusOK, w.Code)
		require.Equal(t, "ok", w.Body.String())
		require.NotEmpty(t, w.Header().Get("RateLimit-Policy"))
		for _, h := range []string{"RateLimit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After"} {
			require.Empty(t, w.Header().Get(h), "charge=%v: %s claims state nobody decided", charge, h)
		}

		w = httptest.NewRecorder()
		ratelimit.New(degradedStore{local: true}, nil, o).Handler(okHandler).ServeHTTP(w, tenantReq("acme", "basic"))
		require.Equal(t, http.StatusOK, w.Code)
		_, st := rateHeaders(t, w)
		r, _ := st.param("r")
		require.EqualValues(t, 5, r, "a local fallback's decision is reported")
	}
}

// A trusted proxy given as an IPv4-mapped IPv6 prefix (as listeners on
// dual-stack sockets print it) was never matched, because addresses are
// compared unmapped: X-Forwarded-For was ignored and every client behind
// the proxy shared the proxy's budget.
func TestReviewTrustedMappedPrefix(t *testing.T) {
	c := ratelimit.NewClientIP(netip.MustParsePrefix("::ffff:10.0.0.0/104"))
	for _, remote := range []string{"10.0.0.1:80", "[::ffff:10.0.0.1]:80"} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = remote
		r.Header.Add("X-Forwarded-For", "6.6.6.6, 9.9.9.9")
		a, ok := c.Addr(r)
		require.True(t, ok)
		require.Equal(t, netip.MustParseAddr("9.9.9.9"), a, remote)
	}
	// An untrusted socket's X-Forwarded-For is still ignored.
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "11.0.0.1:80"
	r.Header.Add("X-Forwarded-For", "9.9.9.9")
	a, _ := c.Addr(r)
	require.Equal(t, netip.MustParseAddr("11.0.0.1"), a)
}

// RFC 8941 integers have at most 15 digits. A quota Max of 1<<50 (an
// "unlimited" sentinel, as examples/bench uses) or a huge limit printed
// more, and the RateLimit fields no longer parsed; values are capped at
// 999,999,999,999,999 and the legacy headers agree.
func TestReviewHeaderIntegersFitRFC8941(t *testing.T) {
	huge := ratelimit.Limit{Name: "huge", Rate: 1 << 53, Period: 1 << 60}
	set := ratelimit.DefaultPlanSet()
	set.Plans["huge"] = huge
	plans, err := ratelimit.NewPlans(set)
	require.NoError(t, err)
	l := ratelimit.New(ratelimit.NewMemory(nil), plans, &ratelimit.Options{
		Quotas: func(tenant.Tenant) []ratelimit.Quota {
			return []ratelimit.Quota{{Name: "api_calls", Period: ratelimit.Month, Max: 1 << 50}}
		},
	})
	w := httptest.NewRecorder()
	l.Handler(okHandler).ServeHTTP(w, tenantReq("acme", "huge"))
	require.Equal(t, http.StatusOK, w.Code)
	p, st := rateHeaders(t, w)
	q, _ := p.param("q")
	require.EqualValues(t, int64(999_999_999_999_999), q)
	r, _ := st.param("r")
	require.EqualValues(t, int64(999_999_999_999_999), r)
	all, err := parseSFList(w.Header().Get("RateLimit"))
	require.NoError(t, err)
	require.Len(t, all, 2)
	all, err = parseSFList(w.Header().Get("RateLimit-Policy"))
	require.NoError(t, err)
	require.Len(t, all, 2)
}

// Capacity and QuotaCapacity hold under concurrent inserts, observed while
// they happen, with the real clock.
func TestReviewCapacityUnderConcurrency(t *testing.T) {
	m := ratelimit.NewMemory(&ratelimit.MemoryOptions{Capacity: 1000, QuotaCapacity: 300})
	lim := ratelimit.Limit{Rate: 1, Period: time.Hour}
	q := []ratelimit.Quota{{Name: "api", Period: ratelimit.Day}, {Name: "api", Period: ratelimit.Month}}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 3000 {
				var d ratelimit.Decision
				if err := m.Take(context.Background(), &ratelimit.Request{Key: fmt.Sprint(g, "/", i), Limit: lim, Quotas: q}, &d); err != nil || !d.Allowed {
					t.Errorf("key %d/%d: %v %v", g, i, err, d.Allowed)
					return
				}
			}
		})
	}
	go func() { wg.Wait(); close(done) }()
	for {
		st := m.Stats()
		require.LessOrEqual(t, st.Keys, 1000)
		require.LessOrEqual(t, st.Quotas, 300)
		select {
		case <-done:
			require.Positive(t, m.Stats().Evicted)
			return
		default:
		}
	}
}

// RateLimit-Policy can only state whole-second windows. 2 per 500 ms was
// shown as q=2;w=1, half the real rate; it is now the same rate over a
// whole-second window, and the legacy limit agrees.
func TestReviewPolicySubSecondPeriod(t *testing.T) {
	for _, tc := range []struct {
		lim  ratelimit.Limit
		want string
	}{
		{ratelimit.Limit{Name: "fast", Rate: 2, Period: 500 * time.Millisecond}, `"fast";q=4;w=1`},
		{ratelimit.Limit{Name: "fast", Rate: 3, Period: 1500 * time.Millisecond}, `"fast";q=6;w=3`},
		{ratelimit.Limit{Name: "fast", Rate: 100, Period: time.Minute}, `"fast";q=100;w=60`},
		{ratelimit.Limit{Name: "fast", Rate: 1, Period: time.Second + time.Nanosecond}, `"fast";q=1;w=2`}, // no window within a day: rounded up
	} {
		set := ratelimit.DefaultPlanSet()
		set.Plans["fast"] = tc.lim
		plans, err := ratelimit.NewPlans(set)
		require.NoError(t, err)
		w := httptest.NewRecorder()
		ratelimit.New(ratelimit.NewMemory(nil), plans, nil).Handler(okHandler).ServeHTTP(w, tenantReq("acme", "fast"))
		require.Equal(t, tc.want, w.Header().Get("RateLimit-Policy"))
		rateHeaders(t, w)
	}
}
