package ratelimit_test

import (
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"testing"
	"time"
	"unsafe"

	"github.com/tenantkit/tenantkit/ratelimit"
	"github.com/tenantkit/tenantkit/tenant"
)

var benchLimit = ratelimit.Limit{Name: "bench", Rate: 1_000_000_000, Period: time.Second}

func BenchmarkMemoryHotKey(b *testing.B) {
	m := ratelimit.NewMemory(nil)
	req := ratelimit.Request{Key: "tenant-42", Limit: benchLimit}
	var d ratelimit.Decision
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Take(ctx, &req, &d); err != nil {
			b.Fatal(err)
		}
	}
}

func benchKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "tenant-" + strconv.Itoa(i)
	}
	return keys
}

func BenchmarkMemory10kKeys(b *testing.B) {
	m := ratelimit.NewMemory(nil)
	keys := benchKeys(10_000)
	req := ratelimit.Request{Limit: benchLimit}
	var d ratelimit.Decision
	ctx := b.Context()
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		req.Key = keys[i]
		if i++; i == len(keys) {
			i = 0
		}
		if err := m.Take(ctx, &req, &d); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMemoryParallel(b *testing.B) {
	m := ratelimit.NewMemory(nil)
	keys := benchKeys(10_000)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req := ratelimit.Request{Limit: benchLimit}
		var d ratelimit.Decision
		i := 0
		for pb.Next() {
			req.Key = keys[i]
			if i++; i == len(keys) {
				i = 0
			}
			if err := m.Take(b.Context(), &req, &d); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkMemory1MKeys inserts one million distinct keys into a store sized
// for them and reports the time per key and the heap retained per key after
// a GC. Keys are built in one reused buffer (Memory keeps only a hash of
// each key), so the allocations reported are the store's own table growth.
func BenchmarkMemory1MKeys(b *testing.B) {
	const n = 1_000_000
	limit := ratelimit.Limit{Name: "bench", Rate: 1, Period: time.Hour}
	b.ReportAllocs()
	var perKey, nsPerKey float64
	for b.Loop() {
		b.StopTimer()
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		m := ratelimit.NewMemory(&ratelimit.MemoryOptions{Capacity: 1 << 21})
		req := ratelimit.Request{Limit: limit}
		var d ratelimit.Decision
		buf := make([]byte, 0, 24)
		start := time.Now()
		b.StartTimer()
		for i := range n {
			buf = strconv.AppendInt(append(buf[:0], "key-"...), int64(i), 10)
			req.Key = unsafe.String(unsafe.SliceData(buf), len(buf))
			if err := m.Take(b.Context(), &req, &d); err != nil || !d.Allowed {
				b.Fatal("decision failed", err)
			}
		}
		b.StopTimer()
		nsPerKey = float64(time.Since(start).Nanoseconds()) / n
		runtime.GC()
		runtime.ReadMemStats(&after)
		if k := m.Stats().Keys; k != n {
			b.Fatalf("store holds %d keys, want %d", k, n)
		}
		perKey = float64(after.HeapAlloc-before.HeapAlloc) / n
		runtime.KeepAlive(m)
		b.StartTimer()
	}
	b.ReportMetric(perKey, "B/key")
	b.ReportMetric(nsPerKey, "ns/key")
}

// benchWriter is a minimal ResponseWriter whose header map is cleared, not
// reallocated, between requests, so the benchmark sees only the
// middleware's own allocations.
type benchWriter struct{ h http.Header }

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *benchWriter) WriteHeader(int)             {}

func benchServe(b *testing.B, h http.Handler) {
	r := httptest.NewRequest(http.MethodGet, "/api/meters", nil)
	r.RemoteAddr = "198.51.100.7:41000"
	r = r.WithContext(tenant.NewContext(r.Context(), tenant.Tenant{ID: "acme", Plan: "enterprise", Status: tenant.StatusActive}))
	w := &benchWriter{h: make(http.Header, 8)}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, r)
	}
}

var bareHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write([]byte("ok"))
})

// BenchmarkMiddleware measures the full middleware per request (tenant
// from context, plan lookup, decision on the memory store, five headers)
// against the bare handler; the overhead is the difference. quotas adds a
// daily and a monthly enforcing quota to each decision and its headers;
// guest keys by client IP; denied answers 429 to all but the first request
// (logging to the default, discarding logger).
func BenchmarkMiddleware(b *testing.B) {
	// limiter returns a Limiter on the memory store whose enterprise plan
	// and guest limit are lim.
	limiter := func(b *testing.B, lim ratelimit.Limit, opts *ratelimit.Options) *ratelimit.Limiter {
		set := ratelimit.DefaultPlanSet()
		set.Plans["enterprise"], set.Guest = lim, lim
		plans, err := ratelimit.NewPlans(set)
		if err != nil {
			b.Fatal(err)
		}
		return ratelimit.New(ratelimit.NewMemory(nil), plans, opts)
	}
	b.Run("bare", func(b *testing.B) { benchServe(b, bareHandler) })
	b.Run("ratelimit", func(b *testing.B) {
		benchServe(b, limiter(b, benchLimit, nil).Handler(bareHandler))
	})
	b.Run("quotas", func(b *testing.B) {
		quotas := []ratelimit.Quota{
			{Name: "api_calls", Period: ratelimit.Day, Max: 1 << 40},
			{Name: "api_calls", Period: ratelimit.Month, Max: 1 << 45},
		}
		l := limiter(b, benchLimit, &ratelimit.Options{Quotas: func(tenant.Tenant) []ratelimit.Quota { return quotas }})
		benchServe(b, l.Handler(bareHandler))
	})
	b.Run("guest", func(b *testing.B) {
		benchServe(b, limiter(b, benchLimit, &ratelimit.Options{KeyBy: ratelimit.ByClientIP}).Handler(bareHandler))
	})
	b.Run("denied", func(b *testing.B) {
		l := limiter(b, ratelimit.Limit{Name: "enterprise", Rate: 1, Period: time.Hour}, nil)
		benchServe(b, l.Handler(bareHandler))
	})
}
