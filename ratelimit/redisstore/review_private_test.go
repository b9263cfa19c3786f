package redisstore_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/tenantkit/tenantkit/ratelimit"
	"github.com/tenantkit/tenantkit/ratelimit/redisstore"
)

// privateRedis starts a redis-server of its own on a spare port, stopped
// when t ends, so its scripts can be flushed without disturbing others.
func privateRedis(t *testing.T) *redis.Client {
	t.Helper()
	if os.Getenv("TEST_REDIS_ADDR") == "" {
		t.Skip("TEST_REDIS_ADDR not set")
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("no redis-server")
	}
	port := 6391
	probe := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(port)})
	busy := probe.Ping(context.Background()).Err() == nil
	_ = probe.Close()
	if busy {
		t.Skipf("port %d is in use", port)
	}
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(port), ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = c.Close() })
	for range 100 {
		if c.Ping(context.Background()).Err() == nil {
			return c
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("redis-server did not start")
	return nil
}

// Scripts flushed again and again while decisions run: every decision
// still succeeds (EVAL after NOSCRIPT) and exactly the limit is admitted,
// with the quota counted once per admission.
func TestReviewScriptFlushMidRun(t *testing.T) {
	c := privateRedis(t)
	ctx := context.Background()
	s := redisstore.New(c, &redisstore.Options{Prefix: "rv:flush:", Timeout: time.Second})
	lim := ratelimit.Limit{Name: "x", Rate: 500, Period: time.Hour}
	q := []ratelimit.Quota{{Name: "calls", Period: ratelimit.Day, Max: 0}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				_ = c.ScriptFlush(ctx).Err()
			}
		}
	}()
	var admitted, errs atomic.Int64
	var wg2 sync.WaitGroup
	for range 8 {
		wg2.Add(1)
		go func() {
			defer wg2.Done()
			for range 100 {
				var d ratelimit.Decision
				if err := s.Take(ctx, &ratelimit.Request{Key: "k", Limit: lim, Quotas: q}, &d); err != nil {
					errs.Add(1)
					continue
				}
				if d.Allowed {
					admitted.Add(1)
				}
			}
		}()
	}
	wg2.Wait()
	close(stop)
	wg.Wait()
	require.Zero(t, errs.Load())
	require.EqualValues(t, 500, admitted.Load())
	var d ratelimit.Decision
	require.NoError(t, s.Take(ctx, &ratelimit.Request{Key: "k", Limit: lim, Quotas: q}, &d))
	require.False(t, d.Allowed)
	require.EqualValues(t, 500, d.Quotas[0].Used)
}

// Keys of the wrong type or with malformed values under the store's keys.
func TestReviewHostileStoredValues(t *testing.T) {
	c := privateRedis(t)
	ctx := context.Background()
	s := redisstore.New(c, &redisstore.Options{Prefix: "rv:h:", Timeout: time.Second})
	lim := ratelimit.Limit{Name: "x", Rate: 2, Period: time.Hour}
	q := []ratelimit.Quota{{Name: "calls", Period: ratelimit.Day, Max: 3}}
	take := func(key string) (ratelimit.Decision, error) {
		var d ratelimit.Decision
		err := s.Take(ctx, &ratelimit.Request{Key: key, Limit: lim, Quotas: q}, &d)
		return d, err
	}
	// A hash where the GCRA state lives: read as absent, replaced.
	require.NoError(t, c.HSet(ctx, "rv:h:{a}:gcra", "f", "v").Err())
	d, err := take("a")
	require.NoError(t, err)
	require.True(t, d.Allowed)
	// A state far in the future (more than 2^63 µs): denied, with a sane
	// RetryAfter, never admitted.
	require.NoError(t, c.Set(ctx, "rv:h:{b}:gcra", "99999999999999999999:0:2", 0).Err())
	d, err = take("b")
	t.Logf("huge state: %+v err=%v", d.Result, err)
	if err == nil {
		require.False(t, d.Allowed)
	}
	// A quota counter above 2^53.
	day := time.Now().UTC().Format("2006-01-02")
	require.NoError(t, c.Set(ctx, "rv:h:{c}:q:calls:d:"+day, "9007199254740993", time.Hour).Err())
	d, err = take("c")
	t.Logf("huge counter: %+v %+v err=%v", d.Result, d.Quotas, err)
	if err == nil {
		require.False(t, d.Allowed)
	}
	// A state written under another rate, then the limit's own.
	require.NoError(t, c.Set(ctx, "rv:h:{e}:gcra", fmt.Sprintf("%d:1:3", time.Now().UnixMicro()+10_000_000), 0).Err())
	d, err = take("e")
	require.NoError(t, err)
	t.Logf("other rate: %+v", d.Result)
}
