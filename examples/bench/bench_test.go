package bench

import (
	"context"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"

	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/tenant"
)

// BenchmarkHotKey: every decision on one key.
func BenchmarkHotKey(b *testing.B) {
	for _, im := range memoryImpls {
		b.Run("impl="+im.name, func(b *testing.B) {
			d := im.new(1, admitAll)
			defer d.close()
			ctx := context.Background()
			b.ReportAllocs()
			denied := 0
			for b.Loop() {
				if !d.allow(ctx, "tenant-42") {
					denied++
				}
			}
			reportDenied(b, denied)
		})
	}
}

// BenchmarkKeys10k: 10,000 keys in round robin.
func BenchmarkKeys10k(b *testing.B) {
	ks := keys(10_000)
	for _, im := range memoryImpls {
		b.Run("impl="+im.name, func(b *testing.B) {
			d := im.new(len(ks), admitAll)
			defer d.close()
			for _, k := range ks { // warm: every key exists
				d.allow(context.Background(), k)
			}
			ctx := context.Background()
			i, denied := 0, 0
			b.ReportAllocs()
			for b.Loop() {
				if !d.allow(ctx, ks[i]) {
					denied++
				}
				if i++; i == len(ks) {
					i = 0
				}
			}
			reportDenied(b, denied)
		})
	}
}

// BenchmarkKeys1M: one op is one million decisions on distinct, freshly
// made keys (as a server sees them: each request brings its own string)
// into a fresh limiter of 100 per hour, so every key is admitted and its
// state stays live (not yet replenished) to the end. Reported:
// ns/decision, and B/key, the heap the limiter retains per key after a GC.
func BenchmarkKeys1M(b *testing.B) {
	const n = 1_000_000
	for _, im := range memoryImpls {
		b.Run("impl="+im.name, func(b *testing.B) {
			ctx := context.Background()
			var perKey float64
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				var before, after runtime.MemStats
				settleHeap()
				runtime.ReadMemStats(&before)
				d := im.new(n, spec{100, time.Hour})
				b.StartTimer()
				var buf [24]byte
				for i := range n {
					key := string(strconv.AppendInt(append(buf[:0], "tenant-"...), int64(i), 10))
					if !d.allow(ctx, key) {
						b.Fatal("denied")
					}
				}
				b.StopTimer()
				settleHeap()
				runtime.ReadMemStats(&after)
				perKey = (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / n
				runtime.KeepAlive(d)
				d.close()
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/decision")
			b.ReportMetric(perKey, "B/key")
		})
	}
}

// settleHeap collects garbage until the heap stops shrinking, so that a
// limiter of an earlier iteration whose memory outlives it until a
// finalizer runs (ulule's store keeps its cache reachable from a cleaner
// goroutine that a finalizer stops) is gone before the heap is read: one
// GC left it in the "before" reading and made the next one's B/key about 0.
func settleHeap() {
	var m runtime.MemStats
	prev := ^uint64(0)
	for range 10 {
		runtime.GC()
		time.Sleep(10 * time.Millisecond) // let finalizers and the goroutines they stop run
		runtime.ReadMemStats(&m)
		if m.HeapAlloc >= prev {
			return
		}
		prev = m.HeapAlloc
	}
}

// BenchmarkParallel: RunParallel over 10,000 keys, each goroutine starting
// at its own offset.
func BenchmarkParallel(b *testing.B) {
	ks := keys(10_000)
	for _, im := range memoryImpls {
		b.Run("impl="+im.name, func(b *testing.B) {
			d := im.new(len(ks), admitAll)
			defer d.close()
			var seed atomic.Uint64
			var denied atomic.Int64
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				i := rand.New(rand.NewPCG(seed.Add(1), 7)).IntN(len(ks))
				for pb.Next() {
					if !d.allow(ctx, ks[i]) {
						denied.Add(1)
					}
					if i++; i == len(ks) {
						i = 0
					}
				}
			})
			reportErrors(b, d, b.N)
			reportDenied(b, int(denied.Load()))
		})
	}
}

// BenchmarkParallelHotKey: RunParallel, every goroutine on one key.
func BenchmarkParallelHotKey(b *testing.B) {
	for _, im := range memoryImpls {
		b.Run("impl="+im.name, func(b *testing.B) {
			d := im.new(1, admitAll)
			defer d.close()
			var denied atomic.Int64
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					if !d.allow(ctx, "tenant-42") {
						denied.Add(1)
					}
				}
			})
			reportErrors(b, d, b.N)
			reportDenied(b, int(denied.Load()))
		})
	}
}

var bareHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write([]byte("ok"))
})

// BenchmarkMiddleware: one request through each library's middleware into
// a bare handler; impl=bare is the handler alone, so a middleware's
// overhead is its time minus bare's. The request carries a tenant (on the
// enterprise plan, which tenantkit keys by) and a client address (which
// the peers key by); every request is admitted.
func BenchmarkMiddleware(b *testing.B) {
	r := httptest.NewRequest(http.MethodGet, "/api/meters", nil)
	r.RemoteAddr = "198.51.100.7:41000"
	r = r.WithContext(tenant.NewContext(r.Context(), tenant.Tenant{ID: "acme", Plan: "enterprise", Status: tenant.StatusActive}))
	run := func(b *testing.B, h http.Handler) {
		w := newBenchWriter()
		denied := 0
		b.ReportAllocs()
		for b.Loop() {
			clear(w.h)
			w.code = 0
			h.ServeHTTP(w, r)
			if w.code != 0 && w.code != http.StatusOK {
				denied++
			}
		}
		reportDenied(b, denied)
	}
	b.Run("impl=bare", func(b *testing.B) { run(b, bareHandler) })
	for _, mw := range middlewares() {
		b.Run("impl="+mw.name, func(b *testing.B) { run(b, mw.wrap(bareHandler)) })
	}
}

// reportDenied adds a denied/op metric when some decisions were denied. The
// workloads are configured to admit everything; a library that denies
// anyway (go-limiter's memorystore refills Interval/Tokens tokens per
// interval, one per second at 1e9 per second) is then timed partly on its
// denial path, and the metric says so.
func reportDenied(b *testing.B, denied int) {
	if denied > 0 {
		b.ReportMetric(float64(denied)/float64(b.N), "denied/op")
	}
}
