package redisstore_test

import (
	"context"
	"fmt"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/tenantkit/tenantkit/ratelimit"
	"github.com/tenantkit/tenantkit/ratelimit/redisstore"
)

// A limit of 3 per minute and a daily quota, decided on Redis (here an
// in-process miniredis) in one call per request.
func ExampleNew() {
	srv := miniredis.NewMiniRedis()
	if err := srv.Start(); err != nil {
		panic(err)
	}
	defer srv.Close()
	srv.SetTime(time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC))

	client := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true})
	defer client.Close()
	// The default 25 ms timeout suits a production Redis; miniredis
	// compiles the script on first use, so give it room.
	store := redisstore.New(client, &redisstore.Options{Timeout: time.Second})

	req := ratelimit.Request{
		Key:    "acme",
		Limit:  ratelimit.Limit{Name: "basic", Rate: 3, Period: time.Minute},
		Quotas: []ratelimit.Quota{{Name: "api_calls", Period: ratelimit.Day, Max: 1000}},
	}
	for range 4 {
		var d ratelimit.Decision
		if err := store.Take(context.Background(), &req, &d); err != nil {
			panic(err)
		}
		fmt.Printf("allowed=%v remaining=%d retry_after=%v used_today=%d\n",
			d.Allowed, d.Remaining, d.RetryAfter, d.Quotas[0].Used)
	}
	// Output:
	// allowed=true remaining=2 retry_after=0s used_today=1
	// allowed=true remaining=1 retry_after=0s used_today=2
	// allowed=true remaining=0 retry_after=0s used_today=3
	// allowed=false remaining=0 retry_after=20s used_today=3
}

// With FailLocal, a store whose Redis is unreachable decides with its share
// of the limit in process memory and marks the decision degraded.
func ExampleFailPolicy() {
	// Nothing listens on port 1.
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true, MaxRetries: -1})
	defer client.Close()
	store := redisstore.New(client, &redisstore.Options{
		FailPolicy: redisstore.FailLocal,
		Instances:  4, // four instances share 100/min: 25/min each
	})
	req := ratelimit.Request{Key: "acme", Limit: ratelimit.Limit{Name: "basic", Rate: 100, Period: time.Minute}}
	var d ratelimit.Decision
	err := store.Take(context.Background(), &req, &d)
	fmt.Println(err, d.Allowed, d.Degraded, d.Limit.Rate, d.Remaining)
	// Output:
	// <nil> true true 25 24
}

// On Redis Cluster every key of one tenant shares a hash slot, so the limit
// and both quotas are decided in one call on one master.
func ExampleNew_cluster() {
	client := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:                 []string{"127.0.0.1:7101", "127.0.0.1:7102", "127.0.0.1:7103"},
		ContextTimeoutEnabled: true,
		MaxRetries:            1,
	})
	defer client.Close()
	store := redisstore.New(client, &redisstore.Options{
		Timeout:       25 * time.Millisecond,
		FailPolicy:    redisstore.FailOpen,
		DenyCacheSize: 10_000,
	})
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	req := ratelimit.Request{
		Key:   "acme",
		Limit: ratelimit.Limit{Name: "professional", Rate: 500, Period: time.Minute},
		Quotas: []ratelimit.Quota{
			{Name: "api_calls", Period: ratelimit.Day, Location: tokyo},
			{Name: "api_calls", Period: ratelimit.Month, Max: 1_000_000, Location: tokyo},
		},
	}
	var d ratelimit.Decision
	if err := store.Take(context.Background(), &req, &d); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(d.Allowed, d.Quotas[0].Used, d.Quotas[1].Used)
}
