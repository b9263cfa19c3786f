package tenant

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
)

// discardWriter is a ResponseWriter that allocates nothing, so the
// benchmarks measure the middleware and not the recorder.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(int)             {}

var benchSink ID

func BenchmarkMiddleware(b *testing.B) {
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		benchSink = IDFromContext(r.Context())
	})
	dir := NewCache(newFakeDirectory(acme, globx), nil)
	run := func(b *testing.B, h http.Handler, host, target string) {
		r := httptest.NewRequest(http.MethodGet, "http://localhost"+target, nil)
		r.Host = host
		w := &discardWriter{h: http.Header{}}
		h.ServeHTTP(w, r) // warm the cache
		b.ReportAllocs()
		cpu0, ok := processCPU()
		n := 0
		for b.Loop() {
			h.ServeHTTP(w, r)
			n++
		}
		if cpu1, ok1 := processCPU(); ok && ok1 && n > 0 {
			b.ReportMetric(float64(cpu1-cpu0)/float64(n), "cpu-ns/op")
		}
	}
	b.Run("bare", func(b *testing.B) {
		run(b, next, "acme.localhost:8080", "/api/meters")
	})
	b.Run("floor_withvalue", func(b *testing.B) {
		// What any middleware that puts a value in the request context
		// pays: r.WithContext and context.WithValue, nothing resolved.
		run(b, floorMiddleware(next, &acme), "acme.localhost:8080", "/api/meters")
	})
	b.Run("subdomain", func(b *testing.B) {
		m := NewMiddleware(Subdomain("localhost"), dir, nil)
		run(b, m.Handler(next), "acme.localhost:8080", "/api/meters")
	})
	b.Run("chain_subdomain", func(b *testing.B) {
		m := NewMiddleware(Chain(Subdomain("localhost"), PathPrefix("/t/")), dir, nil)
		run(b, m.Handler(next), "acme.localhost:8080", "/api/meters")
	})
	b.Run("chain_path", func(b *testing.B) {
		m := NewMiddleware(Chain(Subdomain("localhost"), PathPrefix("/t/")), dir, nil)
		run(b, m.Handler(next), "localhost:8080", "/t/acme/api/meters")
	})
	b.Run("subdomain_parallel", func(b *testing.B) {
		m := NewMiddleware(Subdomain("localhost"), dir, nil)
		h := m.Handler(next)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			r := httptest.NewRequest(http.MethodGet, "http://localhost/api/meters", nil)
			r.Host = "acme.localhost:8080"
			w := &discardWriter{h: http.Header{}}
			for pb.Next() {
				h.ServeHTTP(w, r)
			}
		})
	})
	b.Run("uncached_directory_func", func(b *testing.B) {
		d := DirectoryFunc(func(_ context.Context, key string) (Tenant, error) { return acme, nil })
		m := NewMiddleware(Subdomain("localhost"), d, nil)
		run(b, m.Handler(next), "acme.localhost:8080", "/api/meters")
	})
}

func BenchmarkCacheLookupParallel(b *testing.B) {
	c := NewCache(newFakeDirectory(acme, globx), nil)
	ctx := context.Background()
	_, _ = c.Lookup(ctx, "acme")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_, _ = c.Lookup(ctx, "acme")
		}
	})
}

// floorMiddleware is the least a context-setting middleware can do. Like
// Middleware it calls next through an interface, so the request copy
// escapes to the heap as it does in production.
//
//go:noinline
func floorMiddleware(next http.Handler, t *Tenant) http.Handler {
	return &floor{next: next, t: &tenantCtx{t: t}}
}

type floor struct {
	next http.Handler
	t    *tenantCtx // what the key ctxKey{} answers
}

func (f *floor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, f.t)))
}
