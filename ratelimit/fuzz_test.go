package ratelimit_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/ratelimit"
	"github.com/tenantkit/tenantkit/tenant"
)

// FuzzClientIP feeds hostile RemoteAddr and X-Forwarded-For values. The
// client address must be either the connection's own address or one of the
// hops, always a clean address (no zone, unmapped), and X-Forwarded-For must
// be ignored from an untrusted connection.
func FuzzClientIP(f *testing.F) {
	seeds := [][3]string{
		{"10.0.0.1:80", "203.0.113.5", ""},
		{"10.0.0.1:80", "198.51.100.1, 203.0.113.5, 10.0.0.2", ""},
		{"10.0.0.1:80", "garbage", "203.0.113.5"},
		{"10.0.0.1:80", "[2001:db8::1]:443, fe80::1%eth0", "::ffff:1.2.3.4"},
		{"198.51.100.9:1", "1.2.3.4", ""},
		{"[fd00::1]:1", ",,,", " , "},
		{"pipe", "1.2.3.4", ""},
		{"10.0.0.1:80", strings.Repeat("1.1.1.1,", 100), "unknown"},
		{"10.0.0.1:80", "1.2.3.4\x00, 5.6.7.8", "[::1"},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1], s[2])
	}
	c := ratelimit.NewClientIP(netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8"))
	f.Fuzz(func(t *testing.T, remote, xff1, xff2 string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = remote
		if xff1 != "" {
			r.Header.Add("X-Forwarded-For", xff1)
		}
		if xff2 != "" {
			r.Header.Add("X-Forwarded-For", xff2)
		}
		a, ok := c.Addr(r)
		if !ok {
			if a.IsValid() {
				t.Fatalf("not ok but returned %v", a)
			}
			return
		}
		if !a.IsValid() || a.Zone() != "" || a.Is4In6() {
			t.Fatalf("unclean address %v", a)
		}
		p, _ := c.Prefix(r)
		if !p.Contains(a) || (a.Is4() && p.Bits() != 32) || (a.Is6() && p.Bits() != 64) {
			t.Fatalf("prefix %v for %v", p, a)
		}
		self, _ := (*ratelimit.ClientIP)(nil).Addr(r)
		trusted := netip.MustParsePrefix("10.0.0.0/8").Contains(self) || netip.MustParsePrefix("fd00::/8").Contains(self)
		if !trusted && a != self {
			t.Fatalf("untrusted connection %v keyed as %v", self, a)
		}
		if a == self {
			return
		}
		all := xff1 + "," + xff2
		found := false
		for _, hop := range strings.Split(all, ",") {
			h := strings.TrimSpace(hop)
			if strings.Contains(h, a.String()) || strings.Contains(strings.ToLower(h), strings.ToLower(a.String())) {
				found = true
			}
			if ap, err := netip.ParseAddrPort(h); err == nil && ap.Addr().Unmap() == a {
				found = true
			}
			if ad, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil && ad.Unmap().WithZone("") == a {
				found = true
			}
		}
		if !found {
			t.Fatalf("address %v is neither the connection nor a hop of %q", a, all)
		}
	})
}

// FuzzHeaders renders the rate-limit headers for arbitrary plan names and
// limits and parses them back with a strict RFC 8941 parser: the policy name,
// q, w, r and t must round-trip, and the legacy headers must agree.
func FuzzHeaders(f *testing.F) {
	f.Add("basic", 100, int64(60_000), 0, uint8(1))
	f.Add(`we"ird\name`, 3, int64(1500), 2, uint8(5))
	f.Add("ünïcode\x00\n", 1, int64(1), 0, uint8(3))
	f.Add("", 65535, int64(1000), 0, uint8(70))
	f.Add("a,b;c=d", 7, int64(86_400_000), 20, uint8(30))
	f.Fuzz(func(t *testing.T, name string, rate int, periodMS int64, burst int, requests uint8) {
		lim := ratelimit.Limit{Name: name, Rate: rate, Period: time.Duration(periodMS) * time.Millisecond, Burst: burst}
		if periodMS <= 0 || periodMS > 1e9 || lim.Validate() != nil || lim.EffectiveBurst() > 1e6 {
			return
		}
		set := ratelimit.DefaultPlanSet()
		set.Plans["p"] = lim
		plans, err := ratelimit.NewPlans(set)
		if err != nil {
			t.Fatal(err)
		}
		c := newFakeClock(clockEpoch)
		l := ratelimit.New(ratelimit.NewMemory(&ratelimit.MemoryOptions{Now: c.Now}), plans, &ratelimit.Options{Now: c.Now})
		h := l.Handler(okHandler)
		wantName := sanitize(lim.Name)
		if name == "" {
			wantName = "p"
		}
		for i := 0; i <= int(requests%8); i++ {
			w := httptest.NewRecorder()
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			h.ServeHTTP(w, r.WithContext(tenant.NewContext(r.Context(), tenant.Tenant{ID: "t", Plan: "p"})))
			pol, err := parseSFList(w.Header().Get("RateLimit-Policy"))
			if err != nil || len(pol) != 1 {
				t.Fatalf("RateLimit-Policy %q: %v", w.Header().Get("RateLimit-Policy"), err)
			}
			st, err := parseSFList(w.Header().Get("RateLimit"))
			if err != nil || len(st) != 1 {
				t.Fatalf("RateLimit %q: %v", w.Header().Get("RateLimit"), err)
			}
			if pol[0].Value != wantName || st[0].Value != wantName {
				t.Fatalf("names %q %q, want %q", pol[0].Value, st[0].Value, wantName)
			}
			q, _ := pol[0].param("q")
			wv, _ := pol[0].param("w")
			rv, _ := st[0].param("r")
			tv, _ := st[0].param("t")
			// q per w whole seconds states Rate per Period exactly when a
			// window of at most a day is a whole number of periods; else
			// Rate per Period rounded up to whole seconds.
			wantQ, wantW := int64(rate), int64(max((lim.Period+time.Second-1)/time.Second, 1))
			for ws := int64(1); ws <= 86_400; ws++ {
				if ws*int64(time.Second)%int64(lim.Period) == 0 {
					if k := ws * int64(time.Second) / int64(lim.Period); int64(rate) <= 999_999_999_999_999/k {
						wantQ, wantW = int64(rate)*k, ws
					}
					break
				}
			}
			if q != wantQ || wv != wantW {
				t.Fatalf("policy q=%v w=%v, want %d %d", q, wv, wantQ, wantW)
			}
			if w.Header().Get("X-RateLimit-Limit") != strconv.FormatInt(wantQ, 10) ||
				w.Header().Get("X-RateLimit-Remaining") != strconv.FormatInt(rv.(int64), 10) ||
				w.Header().Get("X-RateLimit-Reset") != strconv.FormatInt(tv.(int64), 10) {
				t.Fatalf("legacy headers disagree: %v", w.Header())
			}
			if w.Code == http.StatusTooManyRequests && w.Header().Get("Retry-After") != strconv.FormatInt(tv.(int64), 10) {
				t.Fatalf("Retry-After %q, t=%v", w.Header().Get("Retry-After"), tv)
			}
		}
	})
}

func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	return string(b)
}

// FuzzDecide checks the decision's exactness for arbitrary limits, states
// and times: a denial's RetryAfter is the first admitting instant, Remaining
// never exceeds the burst, and an admission never leaves the TAT beyond the
// burst window.
func FuzzDecide(f *testing.F) {
	f.Add(65535, int64(time.Second), 0, int64(0), int64(1e18), 1)
	f.Add(3, int64(time.Second), 0, int64(1e18+5e8), int64(1e18), 1)
	f.Add(1, int64(30*24*time.Hour), 0, int64(1e18+1), int64(1e18), 1)
	f.Add(7, int64(10*time.Second), 20, int64(1e18+7e9), int64(1e18), 5)
	f.Fuzz(func(t *testing.T, rate int, period int64, burst int, tat, now int64, n int) {
		lim := ratelimit.Limit{Name: "f", Rate: rate, Period: time.Duration(period), Burst: burst}
		if lim.Validate() != nil || n < 1 || n > lim.EffectiveBurst() || now < 0 || now > 4e18 || tat < 0 || tat > now+int64(lim.EffectiveBurst())*(period/int64(rate)+1) {
			return
		}
		at := time.Unix(0, now)
		next, r, err := ratelimit.Decide(tat, at, lim, n)
		if err != nil {
			t.Fatal(err)
		}
		if r.Remaining < 0 || r.Remaining > lim.EffectiveBurst() {
			t.Fatalf("remaining %d outside 0..%d", r.Remaining, lim.EffectiveBurst())
		}
		if r.Allowed {
			if r.RetryAfter != 0 || next < now || r.ResetAfter < 0 {
				t.Fatalf("allowed: %+v next=%d", r, next)
			}
			return
		}
		if next != tat || r.RetryAfter <= 0 {
			t.Fatalf("denied: %+v next=%d tat=%d", r, next, tat)
		}
		if _, r2, _ := ratelimit.Decide(tat, at.Add(r.RetryAfter), lim, n); !r2.Allowed {
			t.Fatalf("not admitted at RetryAfter %v", r.RetryAfter)
		}
		if _, r3, _ := ratelimit.Decide(tat, at.Add(r.RetryAfter-1), lim, n); r3.Allowed {
			t.Fatalf("admitted 1 ns before RetryAfter %v", r.RetryAfter)
		}
	})
}
