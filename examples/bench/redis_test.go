package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
	"github.com/throttled/throttled/v2/store/goredisstore.v9"
	"github.com/ulule/limiter/v3"
	ulredis "github.com/ulule/limiter/v3/drivers/store/redis"

	"github.com/tenantkit/tenantkit/ratelimit"
	"github.com/tenantkit/tenantkit/ratelimit/redisstore"
)

// redisDecider is one library's decision on Redis.
type redisDecider struct {
	name  string
	allow func(ctx context.Context, key string) error
}

func runID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// redisDeciders builds every library on client c. Each decision is one
// request for one unit of a 1e9/s limit on key, so all are admitted; ping
// is the bare round trip.
func redisDeciders(b *testing.B, c *redis.Client) []redisDecider {
	id := runID()
	tk := redisstore.New(c, &redisstore.Options{Prefix: "bench:" + id + ":tk:", Timeout: time.Second})
	tkLimit := ratelimit.Limit{Name: "bench", Rate: benchRate, Period: benchPeriod}
	quotas := []ratelimit.Quota{
		{Name: "api_calls", Period: ratelimit.Day},
		{Name: "api_calls", Period: ratelimit.Month, Max: 1 << 50},
	}
	denied := redisstore.New(c, &redisstore.Options{Prefix: "bench:" + id + ":tkd:", Timeout: time.Second, DenyCacheSize: 1024})
	deniedLimit := ratelimit.Limit{Name: "one", Rate: 1, Period: time.Hour}

	rr := redis_rate.NewLimiter(c)
	rrLimit := redis_rate.Limit{Rate: benchRate, Burst: benchRate, Period: benchPeriod}

	ulStore, err := ulredis.NewStoreWithOptions(c, limiter.StoreOptions{Prefix: "bench:" + id + ":ul"})
	if err != nil {
		b.Fatal(err)
	}
	ul := limiter.New(ulStore, limiter.Rate{Period: benchPeriod, Limit: benchRate})

	thStore, err := goredisstore.NewCtx(c, "bench:"+id+":th:")
	if err != nil {
		b.Fatal(err)
	}
	th := newThrottledLimiter(thStore, admitAll)

	return []redisDecider{
		{"ping", func(ctx context.Context, _ string) error { return c.Ping(ctx).Err() }},
		{"tenantkit", func(ctx context.Context, key string) error {
			req := ratelimit.Request{Key: key, Limit: tkLimit}
			var d ratelimit.Decision
			return tk.Take(ctx, &req, &d)
		}},
		{"tenantkit-quotas", func(ctx context.Context, key string) error {
			req := ratelimit.Request{Key: key, Limit: tkLimit, Quotas: quotas}
			var buf [2]ratelimit.QuotaResult
			d := ratelimit.Decision{Quotas: buf[:0]}
			return tk.Take(ctx, &req, &d)
		}},
		{"tenantkit-denycache", func(ctx context.Context, key string) error {
			// A tenant over its limit: answered from the deny cache.
			req := ratelimit.Request{Key: key, Limit: deniedLimit}
			var d ratelimit.Decision
			return denied.Take(ctx, &req, &d)
		}},
		{"redis_rate", func(ctx context.Context, key string) error {
			_, err := rr.Allow(ctx, "bench:"+id+":"+key, rrLimit)
			return err
		}},
		{"ulule", func(ctx context.Context, key string) error {
			_, err := ul.Get(ctx, key)
			return err
		}},
		{"throttled", func(ctx context.Context, key string) error {
			_, _, err := th.RateLimitCtx(ctx, key, 1)
			return err
		}},
	}
}

func redisClient(b *testing.B) *redis.Client {
	addr := os.Getenv("TEST_REDIS_ADDR")
	if addr == "" {
		b.Skip("TEST_REDIS_ADDR is not set: skipping Redis benchmarks")
	}
	c := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 64, ContextTimeoutEnabled: true})
	b.Cleanup(func() { _ = c.Close() })
	if err := c.Ping(b.Context()).Err(); err != nil {
		b.Fatalf("ping %s: %v", addr, err)
	}
	return c
}

// BenchmarkRedisSerial: one decision at a time on one key, beside a bare
// PING round trip on the same client.
func BenchmarkRedisSerial(b *testing.B) {
	c := redisClient(b)
	for _, d := range redisDeciders(b, c) {
		b.Run("impl="+d.name, func(b *testing.B) {
			ctx := context.Background()
			_ = d.allow(ctx, "tenant-42") // load scripts, warm the pool
			b.ReportAllocs()
			for b.Loop() {
				if err := d.allow(ctx, "tenant-42"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRedisParallel32: 32 goroutines, one key each of 32.
func BenchmarkRedisParallel32(b *testing.B) {
	c := redisClient(b)
	ks := keys(32)
	for _, d := range redisDeciders(b, c) {
		b.Run("impl="+d.name, func(b *testing.B) {
			ctx := context.Background()
			for _, k := range ks {
				_ = d.allow(ctx, k)
			}
			b.SetParallelism((32 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
			b.ReportAllocs()
			var next atomicCounter
			b.RunParallel(func(pb *testing.PB) {
				key := ks[next.add()%len(ks)]
				for pb.Next() {
					if err := d.allow(ctx, key); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
