package tenant

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Hostile hosts against the one-pass label scan, through Middleware.
func TestHostileHosts(t *testing.T) {
	m, _ := newTestMiddleware(t, Subdomain("localhost", "example.com"), nil)
	h := m.Handler(echo)
	for _, tc := range []struct {
		host   string
		status int
		tenant string
	}{
		{"acme.localhost", 200, "1"},
		{"ACME.LocalHost", 200, "1"},
		{"acme.localhost.", 200, "1"},
		{"acme.localhost.:8080", 200, "1"},
		{"acme.localhost:8080", 200, "1"},
		{"acme.localhost..", 404, ""},
		{"acme.localhost:80:80", 404, ""},
		{"acme.localhost:abc", 404, ""},
		{"acme.evil-localhost", 404, ""},
		{"acme.localhost.evil.com", 404, ""},
		{"acme.example.com.evil", 404, ""},
		{"a.acme.localhost", 404, ""},
		{"acme..localhost", 404, ""},
		{".localhost", 400, ""},
		{"localhost", 404, ""},
		{"xn--bcher-kva.localhost", 404, ""}, // a valid label the directory does not know
		{"bücher.localhost", 400, ""},
		{"ac%6De.localhost", 400, ""},
		{"[::1]:8080", 404, ""},
		{"::1", 404, ""},
		{"[acme.localhost]", 404, ""},
		{"127.0.0.1", 404, ""},
		{"127.0.0.1.localhost", 404, ""}, // "127.0.0.1" is deeper than one label
		{"1.localhost", 404, ""},         // valid label, unknown tenant
		{strings.Repeat("a", 64) + ".localhost", 400, ""},
		{strings.Repeat("a.", 130) + "localhost", 404, ""},
		{"acme.LOCALHOST\u212a", 404, ""},
		{"acme.localhost\x00", 404, ""},
		{"ac\u212ame.localhost", 400, ""},
	} {
		rec := serve(h, tc.host, "/x", nil)
		require.Equal(t, tc.status, rec.Code, "%q: %s", tc.host, rec.Body)
		if tc.status == 200 {
			require.Contains(t, rec.Body.String(), `"tenant":"`+tc.tenant+`"`, tc.host)
		} else {
			require.Equal(t, "application/json; charset=utf-8", rec.Header().Get("Content-Type"))
		}
	}
}

// Hostile paths against the literal prefix match and the strip into the
// context allocation.
func TestHostilePaths(t *testing.T) {
	m, _ := newTestMiddleware(t, PathPrefix("/t/"), nil)
	h := m.Handler(echo)
	for _, tc := range []struct {
		target        string
		status        int
		path, rawPath string
	}{
		{"/t/acme", 200, "/", ""},
		{"/t/acme/", 200, "/", ""},
		{"/t/acme//x", 200, "//x", ""},
		{"/t/acmex/y", 404, "", ""},
		{"/t/acme/../globex/y", 200, "/../globex/y", ""},
		{"/t/../globex/y", 400, "", ""},
		{"/t/%2e%2e/globex/y", 400, "", ""},
		{"/t/acme%2Fglobex/y", 400, "", ""},
		{"/t/acme%2fx", 400, "", ""},
		{"/t/%61cme/a%2Fb", 200, "/a/b", "/a%2Fb"},
		{"/t/%61cme", 200, "/", "/"}, // RawPath "/" is a valid encoding of Path
		{"/%74/acme/x", 200, "/x", "/x"},
		{"/t%2Facme/x", 404, "", ""},
		{"//t/acme/x", 404, "", ""},
		{"/T/acme/x", 404, "", ""},
		{"/t/ACME/x", 404, "", ""},
		{"/t//acme/x", 400, "", ""},
		{"/t", 404, "", ""},
		{"/t/", 400, "", ""},
		{"/t/acme%00/x", 400, "", ""},
		{"/t/" + strings.Repeat("a", MaxKeyLen+1) + "/x", 400, "", ""},
	} {
		rec := serve(h, "localhost", tc.target, nil)
		require.Equal(t, tc.status, rec.Code, "%q: %s", tc.target, rec.Body)
		if tc.status == 200 {
			require.Contains(t, rec.Body.String(), `"path":"`+tc.path+`"`, tc.target)
			require.Contains(t, rec.Body.String(), `"raw_path":"`+tc.rawPath+`"`, tc.target)
		}
	}
}

// The next handler owns the URL it gets: mutating it changes neither the
// incoming request nor any other request, under concurrency.
func TestStrippedURLIsPrivatePerRequest(t *testing.T) {
	m, _ := newTestMiddleware(t, PathPrefix("/t/"), nil)
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		want := "/" + r.Header.Get("X-N")
		if r.URL.Path != want || r.URL.RawPath != "" {
			t.Errorf("got %q %q, want %q", r.URL.Path, r.URL.RawPath, want)
		}
		r.URL.Path = "/mutated"
		r.URL.RawPath = "/mutated"
		r.URL.RawQuery = "mutated"
	}))
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Go(func() {
			for j := range 50 {
				n := string(rune('a'+i%26)) + string(rune('a'+j%26))
				target := "/t/" + []string{"acme", "globex"}[i%2] + "/" + n
				r := httptest.NewRequest(http.MethodGet, "http://localhost"+target+"?q=1", nil)
				r.Header.Set("X-N", n)
				h.ServeHTTP(httptest.NewRecorder(), r)
				if r.URL.Path != target || r.URL.RawQuery != "q=1" || r.RequestURI != "http://localhost"+target+"?q=1" {
					t.Errorf("incoming request changed: %q %q %q", r.URL.Path, r.URL.RawQuery, r.RequestURI)
				}
			}
		})
	}
	wg.Wait()
}

// keySpy is a context that records the keys it is asked for: any code can
// build one, so a key that a context hands to Value is not secret.
type keySpy struct {
	context.Context
	keys []any
}

func (s *keySpy) Value(k any) any {
	s.keys = append(s.keys, k)
	return s.Context.Value(k)
}

// The Tenant a Cache shares between requests cannot be reached for writing
// through the context, even with the context key in hand: one request must
// never change the tenant of another.
func TestCachedTenantCannotBeMutatedThroughContext(t *testing.T) {
	spy := &keySpy{Context: context.Background()}
	FromContext(spy)
	require.NotEmpty(t, spy.keys)

	m, _ := newTestMiddleware(t, Subdomain("localhost"), nil)
	var seen []Tenant
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ := FromContext(r.Context())
		seen = append(seen, got)
		for _, k := range spy.keys {
			if p, ok := r.Context().Value(k).(*Tenant); ok {
				p.ID, p.Status = "2", StatusSuspended // a hostile or buggy handler
			}
		}
	}))
	serve(h, "acme.localhost", "/", nil)
	serve(h, "acme.localhost", "/", nil)
	require.Equal(t, []Tenant{acme, acme}, seen)
}

// The tenant context passes every other key, deadline, cancellation and
// cause through, and Detach keeps the tenant.
func TestTenantContextPassThrough(t *testing.T) {
	type k struct{}
	cause := errors.New("the cause")
	parent, cancel := context.WithCancelCause(context.WithValue(context.Background(), k{}, "v"))
	parent, stop := context.WithDeadline(parent, time.Now().Add(time.Hour))
	defer stop()

	m, _ := newTestMiddleware(t, Chain(Subdomain("localhost"), PathPrefix("/t/")), nil)
	for _, target := range []string{"/x", "/t/acme/x"} {
		var ctx context.Context
		h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { ctx = r.Context() }))
		r := httptest.NewRequest(http.MethodGet, "http://localhost"+target, nil).WithContext(parent)
		r.Host = "acme.localhost"
		h.ServeHTTP(httptest.NewRecorder(), r)
		require.NotNil(t, ctx, target)
		require.Equal(t, "v", ctx.Value(k{}))
		dl, ok := ctx.Deadline()
		pdl, _ := parent.Deadline()
		require.True(t, ok)
		require.Equal(t, pdl, dl)
		require.NoError(t, ctx.Err())
		for _, c := range []context.Context{ctx, Detach(ctx), context.WithoutCancel(ctx), context.WithValue(ctx, k{}, "w")} {
			got, ok := FromContext(c)
			require.True(t, ok)
			require.Equal(t, acme, got)
		}
		child, childCancel := context.WithCancel(ctx)
		defer childCancel()
		_ = child
	}
	var ctx context.Context
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { ctx = r.Context() }))
	r := httptest.NewRequest(http.MethodGet, "http://localhost/t/acme/x", nil).WithContext(parent)
	h.ServeHTTP(httptest.NewRecorder(), r)
	child, childCancel := context.WithCancel(ctx)
	defer childCancel()
	cancel(cause)
	<-ctx.Done()
	<-child.Done()
	require.ErrorIs(t, ctx.Err(), context.Canceled)
	require.Equal(t, cause, context.Cause(ctx))
	require.Equal(t, cause, context.Cause(child))
	d := Detach(ctx)
	require.NoError(t, d.Err())
	require.Nil(t, d.Done())
	got, ok := FromContext(d)
	require.True(t, ok)
	require.Equal(t, acme, got)
}

// Every pair of disagreeing sources is a 400 conflict in every order, with
// the built-in resolvers read directly or wrapped in a custom Resolver.
func TestChainDisagreementEveryOrder(t *testing.T) {
	wrap := func(r Resolver) Resolver { return ResolverFunc(r.Resolve) }
	claimKey := func(ctx context.Context) (string, bool) { return "acme", true }
	sources := map[string]func() Resolver{
		"host":   func() Resolver { return Subdomain("localhost") },   // globex
		"path":   func() Resolver { return PathPrefix("/t/") },        // acme
		"header": func() Resolver { return Header("X-Tenant", true) }, // initech
		"claim":  func() Resolver { return Claim(claimKey) },          // acme
	}
	names := []string{"host", "path", "header", "claim"}
	perm := func(f func([]string)) {
		var rec func(prefix, rest []string)
		rec = func(prefix, rest []string) {
			if len(prefix) >= 2 {
				f(prefix)
			}
			for i := range rest {
				next := append(append([]string(nil), rest[:i]...), rest[i+1:]...)
				rec(append(append([]string(nil), prefix...), rest[i]), next)
			}
		}
		rec(nil, names)
	}
	keyOf := map[string]string{"host": "globex", "path": "acme", "header": "initech", "claim": "acme"}
	perm(func(order []string) {
		for _, wrapped := range []bool{false, true} {
			var rs []Resolver
			disagree := false
			for _, n := range order {
				r := sources[n]()
				if wrapped {
					r = wrap(r)
				}
				rs = append(rs, r)
				if keyOf[n] != keyOf[order[0]] {
					disagree = true
				}
			}
			m, _ := newTestMiddleware(t, Chain(rs...), nil)
			rec := serve(m.Handler(echo), "globex.localhost", "/t/acme/x", http.Header{"X-Tenant": {"initech"}})
			if disagree {
				require.Equal(t, http.StatusBadRequest, rec.Code, "%v wrapped=%v", order, wrapped)
				require.Contains(t, rec.Body.String(), CodeTenantConflict)
			} else {
				require.Equal(t, http.StatusOK, rec.Code, "%v wrapped=%v", order, wrapped)
				require.Contains(t, rec.Body.String(), `"path":"/x"`)
			}
		}
	})
}

// An injected clock read far before its first reading (Time.Sub saturates)
// never serves an entry past its TTL.
func TestCacheSaturatedClockNeverServesPastTTL(t *testing.T) {
	clk := newFakeClock()
	d := newFakeDirectory(acme)
	c := NewCache(d, &CacheOptions{TTL: time.Minute, Now: clk.Now})
	clk.Advance(-200 * 365 * 24 * time.Hour)
	clk.Advance(-200 * 365 * 24 * time.Hour)
	_, _ = c.Lookup(t.Context(), "acme")
	clk.Advance(time.Minute)
	_, _ = c.Lookup(t.Context(), "acme")
	clk.Advance(time.Hour)
	_, _ = c.Lookup(t.Context(), "acme")
	require.EqualValues(t, 3, d.calls.Load(), "an entry is never served once its TTL has passed")
}
