package ratelimit_test

import (
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/ratelimit"
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
// for them and reports the heap retained per key after a GC.
func BenchmarkMemory1MKeys(b *testing.B) {
	const n = 1_000_000
	limit := ratelimit.Limit{Name: "bench", Rate: 1, Period: time.Hour}
	b.ReportAllocs()
	var perKey float64
	for b.Loop() {
		b.StopTimer()
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		m := ratelimit.NewMemory(&ratelimit.MemoryOptions{Capacity: 1 << 21})
		b.StartTimer()
		req := ratelimit.Request{Limit: limit}
		var d ratelimit.Decision
		var buf [24]byte
		for i := range n {
			req.Key = string(strconv.AppendInt(append(buf[:0], "key-"...), int64(i), 10))
			if err := m.Take(b.Context(), &req, &d); err != nil || !d.Allowed {
				b.Fatal("decision failed", err)
			}
		}
		b.StopTimer()
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
}
