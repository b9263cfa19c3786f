package redisstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/internal/testenv"
	"github.com/tenantkit/tenantkit/ratelimit"
	"github.com/tenantkit/tenantkit/ratelimit/redisstore"
)

var benchLimit = ratelimit.Limit{Name: "bench", Rate: 1_000_000_000, Period: time.Second}

// BenchmarkTake is one decision on TEST_REDIS_ADDR, beside a PING on the
// same client: the store's latency over the bare round trip.
func BenchmarkTake(b *testing.B) {
	c, prefix := testenv.RedisClient(b)
	s := redisstore.New(c, &redisstore.Options{Prefix: prefix, Timeout: time.Second})
	quotas := []ratelimit.Quota{{Name: "api_calls", Period: ratelimit.Day}, {Name: "api_calls", Period: ratelimit.Month}}
	ctx := context.Background()
	b.Run("ping", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := c.Ping(ctx).Err(); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, tc := range []struct {
		name   string
		quotas []ratelimit.Quota
	}{{"limit", nil}, {"limit+2quotas", quotas}} {
		b.Run(tc.name, func(b *testing.B) {
			req := ratelimit.Request{Key: "tenant-42", Limit: benchLimit, Quotas: tc.quotas}
			var buf [2]ratelimit.QuotaResult
			d := ratelimit.Decision{Quotas: buf[:0]}
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Take(ctx, &req, &d); err != nil || !d.Allowed {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDenyCacheHit is a denied key answered in-process.
func BenchmarkDenyCacheHit(b *testing.B) {
	c, clock := newMini(b)
	s := redisstore.New(c, &redisstore.Options{Now: clock.Now, DenyCacheSize: 1024})
	req := ratelimit.Request{Key: "tenant-42", Limit: ratelimit.Limit{Rate: 1, Period: time.Hour}}
	var d ratelimit.Decision
	ctx := context.Background()
	_ = s.Take(ctx, &req, &d)
	_ = s.Take(ctx, &req, &d)
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Take(ctx, &req, &d); err != nil || d.Allowed {
			b.Fatal("want a cached denial", err)
		}
	}
}
