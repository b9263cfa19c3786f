package monitor

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/tenant"
)

type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *nopWriter) WriteHeader(int)             {}

// BenchmarkRecorderHandler measures the middleware around a handler that
// does nothing: the whole per-request cost of recording.
func BenchmarkRecorderHandler(b *testing.B) {
	rec := NewRecorder(nil)
	h := rec.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) }))
	req := withTenant(httptest.NewRequest("GET", "/", nil), "tenant-1")
	w := &nopWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, req)
	}
}

func BenchmarkRecorderHandlerParallel(b *testing.B) {
	rec := NewRecorder(nil)
	h := rec.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) }))
	reqs := make([]*http.Request, 64)
	for i := range reqs {
		reqs[i] = withTenant(httptest.NewRequest("GET", "/", nil), tenant.ID(fmt.Sprintf("tenant-%d", i)))
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		w := &nopWriter{h: http.Header{}}
		i := 0
		for pb.Next() {
			h.ServeHTTP(w, reqs[i%len(reqs)])
			i++
		}
	})
}

func BenchmarkRecorderRecord(b *testing.B) {
	rec := NewRecorder(nil)
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		rec.Record("tenant-1", now, 3*time.Millisecond, false)
	}
}

// BenchmarkRecorderMemoryPerTenant reports the heap bytes per tracked tenant.
func BenchmarkRecorderMemoryPerTenant(b *testing.B) {
	const n = 10000
	ids := make([]tenant.ID, n)
	for i := range ids {
		ids[i] = tenant.ID(fmt.Sprintf("3f2c9a1e-7b4d-4e8a-9c1f-%012d", i))
	}
	now := time.Now()
	var perTenant float64
	b.ReportAllocs()
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		rec := NewRecorder(&RecorderOptions{MaxTenants: n})
		for _, id := range ids {
			rec.Record(id, now, time.Millisecond, false)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perTenant = float64(after.HeapAlloc-before.HeapAlloc) / n
		runtime.KeepAlive(rec)
	}
	b.ReportMetric(perTenant, "B/tenant")
}
