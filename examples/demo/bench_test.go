package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/tenant"
)

// benchDir holds the medium database shared by the benchmarks: seeded once
// per process (a benchmark function runs several times while b.N is
// calibrated), removed by TestMain.
var benchDir struct {
	once sync.Once
	path string
	err  error
}

func benchDB(b *testing.B) string {
	benchDir.once.Do(func() {
		dir, err := os.MkdirTemp("", "tenantkit-bench")
		if err != nil {
			benchDir.err = err
			return
		}
		benchDir.path = filepath.Join(dir, "bench.db")
		var a *App
		a, benchDir.err = Open(context.Background(), Config{DB: benchDir.path, Size: "medium"})
		if benchDir.err == nil {
			benchDir.err = a.Close()
		}
	})
	if benchDir.err != nil {
		b.Fatal(benchDir.err)
	}
	return benchDir.path
}

func TestMain(m *testing.M) {
	code := m.Run()
	if benchDir.path != "" {
		os.RemoveAll(filepath.Dir(benchDir.path))
	}
	os.Exit(code)
}

// benchDataPath opens the benchmark database and returns the demo's data
// path: tenant resolution in front of the routes, without the token check,
// rate limits and monitor of compose. The App closes when b ends.
func benchDataPath(b *testing.B) http.Handler {
	a, err := Open(b.Context(), Config{DB: benchDB(b)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { a.Close() })
	return tenant.NewMiddleware(a.resolver(), a.Directory, nil).Handler(a.routes())
}

// BenchmarkGetPropertiesPage measures GET /t/acme/api/properties (one page
// of 25 with its total) on a medium SQLite seed, in-process, from parallel
// clients: tenant resolution (cached directory), the tenant-scoped
// transaction and the two queries. The token check, rate limits and monitor
// of compose are left out: the plan limit would turn a benchmark into 429s,
// and each part has its own benchmarks in its package.
func BenchmarkGetPropertiesPage(b *testing.B) {
	h := benchDataPath(b)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://localhost/t/acme/api/properties", nil))
			if rec.Code != http.StatusOK {
				b.Errorf("status %d: %s", rec.Code, rec.Body)
				return
			}
		}
	})
}

// BenchmarkPropertiesPageLoopback is the request of
// BenchmarkGetPropertiesPage through a real net/http server on loopback,
// from 16 keep-alive clients in a closed loop (8 per GOMAXPROCS on two
// processors; 8·GOMAXPROCS in general). ns/op is wall time per request over
// all clients; reported beside it: req/s, and p50-ms and p99-ms, the
// latency one client saw.
func BenchmarkPropertiesPageLoopback(b *testing.B) {
	srv := httptest.NewServer(benchDataPath(b))
	defer srv.Close()
	const perProc = 8
	clients := perProc * runtime.GOMAXPROCS(0)
	tr := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	url := srv.URL + "/t/acme/api/properties"
	var mu sync.Mutex
	var lat []time.Duration
	b.SetParallelism(perProc)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		own := make([]time.Duration, 0, 1024)
		for pb.Next() {
			t0 := time.Now()
			resp, err := client.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK {
				b.Errorf("status %d, body error %v", resp.StatusCode, err)
				return
			}
			own = append(own, time.Since(t0))
		}
		mu.Lock()
		lat = append(lat, own...)
		mu.Unlock()
	})
	b.StopTimer()
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	q := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))]) / float64(time.Millisecond)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
}
