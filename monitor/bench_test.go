package monitor

import (
	"context"
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

// handlerImpls returns next alone ("bare") and wrapped by a Recorder
// ("recorder"): the Recorder's own cost per request is the difference of the
// two rows, the same convention as the middleware rows of BENCHMARKS.md.
func handlerImpls(next http.Handler) []struct {
	name string
	h    http.Handler
} {
	return []struct {
		name string
		h    http.Handler
	}{
		{"impl=bare", next},
		{"impl=recorder", NewRecorder(nil).Handler(next)},
	}
}

// BenchmarkRecorderHandler measures one request of a tracked tenant through
// a handler that only writes its status, with and without the Recorder.
func BenchmarkRecorderHandler(b *testing.B) {
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })
	req := withTenant(httptest.NewRequest("GET", "/", nil), "tenant-1")
	for _, impl := range handlerImpls(next) {
		b.Run(impl.name, func(b *testing.B) {
			w := &nopWriter{h: http.Header{}}
			b.ReportAllocs()
			cpu0 := processCPU()
			for b.Loop() {
				impl.h.ServeHTTP(w, req)
			}
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// BenchmarkRecorderHandlerParallel is BenchmarkRecorderHandler from every
// proc over 64 tenants.
func BenchmarkRecorderHandlerParallel(b *testing.B) {
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })
	reqs := make([]*http.Request, 64)
	for i := range reqs {
		reqs[i] = withTenant(httptest.NewRequest("GET", "/", nil), tenant.ID(fmt.Sprintf("tenant-%d", i)))
	}
	for _, impl := range handlerImpls(next) {
		b.Run(impl.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				w := &nopWriter{h: http.Header{}}
				i := 0
				for pb.Next() {
					impl.h.ServeHTTP(w, reqs[i%len(reqs)])
					i++
				}
			})
		})
	}
}

func BenchmarkRecorderRecord(b *testing.B) {
	rec := NewRecorder(nil)
	now := time.Now()
	b.ReportAllocs()
	cpu0 := processCPU()
	for b.Loop() {
		rec.Record("tenant-1", now, 3*time.Millisecond, false)
	}
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
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

// BenchmarkScore100kTenants scores 100,000 snapshots with the default table:
// one op is the whole population.
func BenchmarkScore100kTenants(b *testing.B) {
	sc, _ := NewScorer(nil, nil)
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	snaps := make([]Snapshot, 100000)
	for i := range snaps {
		u := activeUsage(now)
		u.StorageBytes = int64(i % 1000)
		u.Subscription.Active = i%7 != 0
		s := NewSnapshot(tenant.Tenant{ID: tenant.ID(fmt.Sprintf("t%d", i))}, u, nil, now, time.UTC)
		s.Requests = uint64(i % 200)
		s.Errors = uint64(i % 13)
		s.Latency.Counts[5] = s.Requests
		if s.Requests > 0 {
			s.ErrorPercent = Some(float64(s.Errors) / float64(s.Requests) * 100)
		}
		snaps[i] = s
	}
	b.ReportAllocs()
	cpu0 := processCPU()
	for b.Loop() {
		for i := range snaps {
			_ = sc.Score(&snaps[i])
		}
	}
	// CPU time per op next to wall time: on a loaded machine wall time
	// includes waiting for a core.
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N)/1e6, "cpu-ms/op")
}

type benchSource struct {
	ts []tenant.Tenant
	u  Usage
}

func (s *benchSource) Tenants(context.Context) ([]tenant.Tenant, error) { return s.ts, nil }
func (s *benchSource) Usage(context.Context, tenant.ID) (Usage, error)  { return s.u, nil }

// BenchmarkMonitorRefresh100kTenants is a full evaluation: snapshot from the
// Source and the Recorder, score, cache, sort, for 100,000 tenants.
func BenchmarkMonitorRefresh100kTenants(b *testing.B) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	rec := NewRecorder(&RecorderOptions{Now: func() time.Time { return now }, MaxTenants: 100000})
	src := &benchSource{u: activeUsage(now)}
	for i := range 100000 {
		id := tenant.ID(fmt.Sprintf("t%d", i))
		src.ts = append(src.ts, tenant.Tenant{ID: id, Name: string(id)})
		rec.Record(id, now, time.Millisecond, false)
	}
	m := New(src, rec, nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Refresh(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}
