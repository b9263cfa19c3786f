package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

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

// BenchmarkGetPropertiesPage measures GET /t/acme/api/properties (one page
// of 25 with its total) on a medium SQLite seed, in-process, from parallel
// clients: tenant resolution (cached directory), the tenant-scoped
// transaction and the two queries. The token check, rate limits and monitor
// of compose are left out: the plan limit would turn a benchmark into 429s,
// and each part has its own benchmarks in its package.
func BenchmarkGetPropertiesPage(b *testing.B) {
	a, err := Open(b.Context(), Config{DB: benchDB(b)})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	h := tenant.NewMiddleware(a.resolver(), a.Directory, nil).Handler(a.routes())
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
