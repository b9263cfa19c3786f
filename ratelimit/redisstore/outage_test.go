package redisstore_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/tenantkit/tenantkit/internal/testenv"
	"github.com/tenantkit/tenantkit/ratelimit"
	"github.com/tenantkit/tenantkit/ratelimit/redisstore"
)

// outageClient is a client for p as a production limiter would configure it:
// context deadlines honoured, no retries, short dial timeout.
func outageClient(t *testing.T, addr string) (*redis.Client, *counter) {
	c := redis.NewClient(&redis.Options{
		Addr: addr, ContextTimeoutEnabled: true, MaxRetries: -1,
		DialTimeout: time.Second, PoolSize: 4,
	})
	t.Cleanup(func() { _ = c.Close() })
	h := &counter{}
	c.AddHook(h)
	return c, h
}

func TestRedisStoppedMidRun(t *testing.T) {
	lim := ratelimit.Limit{Name: "basic", Rate: 10, Period: time.Minute}
	quotas := []ratelimit.Quota{{Name: "api_calls", Period: ratelimit.Day, Max: 1000}}
	const threshold = 3
	const probeAt = 62      // the decision that probes after the cool-down
	cooldown := time.Second // long enough that a stalled CI machine does not probe early

	cases := []struct {
		policy redisstore.FailPolicy
		// down checks decision i (0-based) while Redis is away.
		down func(t *testing.T, i int, d ratelimit.Decision, err error)
	}{
		{redisstore.FailClosed, func(t *testing.T, i int, d ratelimit.Decision, err error) {
			require.ErrorIs(t, err, ratelimit.ErrUnavailable, "decision %d fails closed", i)
			if i >= threshold && i != probeAt {
				require.ErrorIs(t, err, redisstore.ErrCircuitOpen, "decision %d: the breaker is open", i)
			}
		}},
		{redisstore.FailOpen, func(t *testing.T, i int, d ratelimit.Decision, err error) {
			require.NoError(t, err)
			require.True(t, d.Allowed, "decision %d fails open", i)
			require.True(t, d.Degraded, "decision %d is marked degraded", i)
			require.Len(t, d.Quotas, 1)
			require.True(t, d.Quotas[0].Allowed)
		}},
		{redisstore.FailLocal, func(t *testing.T, i int, d ratelimit.Decision, err error) {
			if i >= probeAt+10 { // N over the local share's burst
				require.ErrorIs(t, err, ratelimit.ErrUnavailable)
				require.NotErrorIs(t, err, ratelimit.ErrInvalid, "the fallback's reason is not the request's")
				return
			}
			require.NoError(t, err)
			require.True(t, d.Degraded, "decision %d is marked degraded", i)
			// 10/min shared by 2 instances: this process admits 5 alone.
			require.Equal(t, i < 5, d.Allowed, "decision %d under the local share of 5", i)
			require.Equal(t, 5, d.Limit.Rate, "the local share of the limit")
		}},
	}
	for _, tc := range cases {
		t.Run(tc.policy.String(), func(t *testing.T) {
			p := testenv.StartRedis(t)
			c, h := outageClient(t, p.Addr())
			s := redisstore.New(c, &redisstore.Options{
				Timeout:          500 * time.Millisecond, // generous for a loaded CI machine
				FailPolicy:       tc.policy,
				Instances:        2,
				BreakerThreshold: threshold,
				BreakerCooldown:  cooldown,
			})
			key := testenv.Name("tenant")
			req := ratelimit.Request{Key: key, Limit: lim, Quotas: quotas}
			for range 3 {
				d := take(t, s, req)
				require.True(t, d.Allowed)
				require.False(t, d.Degraded)
			}

			base := h.cmds.Load()
			p.Stop()
			for i := range 12 {
				var d ratelimit.Decision
				err := s.Take(t.Context(), &req, &d)
				tc.down(t, i, d, err)
			}
			// After threshold failures the breaker holds calls back:
			// more decisions send nothing to Redis.
			sent := h.cmds.Load()
			require.EqualValues(t, threshold, sent-base, "only the failures up to the threshold reached the client")
			for i := range 50 {
				var d ratelimit.Decision
				err := s.Take(t.Context(), &req, &d)
				tc.down(t, 12+i, d, err)
			}
			require.Equal(t, sent, h.cmds.Load(), "an open breaker sends no command to Redis")

			// After the cool-down, still down: one probe goes out, fails,
			// and the breaker holds calls back for another cool-down.
			time.Sleep(cooldown + 50*time.Millisecond)
			for i := range 10 {
				var d ratelimit.Decision
				err := s.Take(t.Context(), &req, &d)
				tc.down(t, probeAt+i, d, err)
			}
			require.EqualValues(t, 1, h.cmds.Load()-sent, "a half-open breaker sends one probe")

			// 6 units of a 10/min limit: valid, but more than a local
			// share of 5 can ever admit.
			big := req
			big.N = 6
			var d ratelimit.Decision
			err := s.Take(t.Context(), &big, &d)
			tc.down(t, probeAt+10, d, err)

			// Redis is back (empty: nothing persisted). After the
			// cool-down a probe goes through and the store recovers.
			p.Start()
			recovered := false
			deadline := time.Now().Add(10 * time.Second)
			for !recovered && time.Now().Before(deadline) {
				time.Sleep(cooldown / 3)
				var d ratelimit.Decision
				if err := s.Take(t.Context(), &req, &d); err == nil && !d.Degraded {
					recovered = true
					require.True(t, d.Allowed)
					require.EqualValues(t, 1, d.Quotas[0].Used, "the fresh server counts from zero")
				}
			}
			require.True(t, recovered, "the store recovers when Redis is back")
			d = take(t, s, req)
			require.False(t, d.Degraded)
			require.EqualValues(t, 2, d.Quotas[0].Used)
		})
	}
}

func TestRedisDownAtStart(t *testing.T) {
	p := testenv.StartRedis(t)
	p.Stop()
	c, h := outageClient(t, p.Addr())
	s := redisstore.New(c, &redisstore.Options{Timeout: 500 * time.Millisecond}) // no I/O here
	require.Zero(t, h.cmds.Load()+h.dials.Load(), "New does no I/O")
	req := ratelimit.Request{Key: "k", Limit: ratelimit.Limit{Rate: 5, Period: time.Minute}}
	var d ratelimit.Decision
	err := s.Take(t.Context(), &req, &d)
	require.ErrorIs(t, err, ratelimit.ErrUnavailable)
	require.NotErrorIs(t, err, ratelimit.ErrInvalid)

	p.Start()
	d = take(t, s, req)
	require.True(t, d.Allowed, "works once Redis is up, loading the script lazily")
}

func TestStoreTimeout(t *testing.T) {
	// A server that accepts connections and never answers: only the
	// store's timeout ends the decision.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { _ = conn.Close() })
		}
	}()
	c, _ := outageClient(t, l.Addr().String())
	const timeout = 50 * time.Millisecond
	for _, policy := range []redisstore.FailPolicy{redisstore.FailClosed, redisstore.FailOpen} {
		// A breaker that never opens: every decision waits for the server.
		s := redisstore.New(c, &redisstore.Options{Timeout: timeout, FailPolicy: policy, BreakerThreshold: 1000})
		req := ratelimit.Request{Key: "k", Limit: ratelimit.Limit{Rate: 5, Period: time.Minute}}
		var took []time.Duration
		for range 5 {
			var d ratelimit.Decision
			begin := time.Now()
			err := s.Take(t.Context(), &req, &d)
			took = append(took, time.Since(begin))
			if policy == redisstore.FailClosed {
				require.ErrorIs(t, err, ratelimit.ErrUnavailable)
				require.ErrorIs(t, err, context.DeadlineExceeded, "the store's deadline ended the call")
			} else {
				require.NoError(t, err)
				require.True(t, d.Allowed && d.Degraded)
			}
		}
		// The added latency is the store timeout: the median decision
		// ends within it plus scheduling slack for -race on a busy machine
		// (one slow outlier is tolerated, a longer timeout is not).
		slices.Sort(took)
		require.Less(t, took[len(took)/2], timeout+100*time.Millisecond, "policy %v: decisions took %v with a %v store timeout", policy, took, timeout)
	}
}

func TestCallerCancelDoesNotTripBreaker(t *testing.T) {
	c, clock := newMini(t)
	h := &counter{}
	c.AddHook(h)
	s := redisstore.New(c, &redisstore.Options{Now: clock.Now, BreakerThreshold: 1, Timeout: 5 * time.Second})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	req := ratelimit.Request{Key: "k", Limit: ratelimit.Limit{Rate: 5, Period: time.Minute}}
	for range 3 {
		var d ratelimit.Decision
		err := s.Take(ctx, &req, &d)
		require.ErrorIs(t, err, context.Canceled)
		require.False(t, errors.Is(err, redisstore.ErrCircuitOpen))
	}
	require.True(t, take(t, s, req).Allowed, "the breaker stayed closed")
}

func TestMalformedStateIsAnErrorNotAnOutage(t *testing.T) {
	c, clock := newMini(t)
	s := redisstore.New(c, &redisstore.Options{Now: clock.Now, BreakerThreshold: 1, Prefix: "p:", Timeout: 5 * time.Second})
	require.NoError(t, c.Set(t.Context(), "p:{bad}:gcra", "garbage", 0).Err())
	lim := ratelimit.Limit{Rate: 5, Period: time.Minute}
	for range 3 {
		var d ratelimit.Decision
		err := s.Take(t.Context(), &ratelimit.Request{Key: "bad", Limit: lim}, &d)
		require.ErrorIs(t, err, ratelimit.ErrUnavailable)
	}
	require.True(t, take(t, s, ratelimit.Request{Key: "good", Limit: lim}).Allowed, "one poisoned key does not open the breaker for all")

	// A key of another type under the prefix reads as absent (MGET) and
	// is replaced by the first admitted decision.
	require.NoError(t, c.HSet(t.Context(), "p:{hash}:gcra", "f", "v").Err())
	d := take(t, s, ratelimit.Request{Key: "hash", Limit: lim})
	require.True(t, d.Allowed)
	require.Equal(t, 4, d.Remaining)

	// A malformed quota counter aborts before anything is written.
	day := ratelimit.Quota{Name: "q", Period: ratelimit.Day}
	key := "p:{good}:q:q:d:" + clock.Now().Format("2006-01-02")
	require.NoError(t, c.Set(t.Context(), key, "x", 0).Err())
	err := s.Take(t.Context(), &ratelimit.Request{Key: "good", Limit: lim, Quotas: []ratelimit.Quota{day}}, &d)
	require.ErrorIs(t, err, ratelimit.ErrUnavailable)
	d = take(t, s, ratelimit.Request{Key: "good", Limit: lim})
	require.Equal(t, 3, d.Remaining, "the failed decision consumed nothing")
}

// TestLimiterOverRedis runs ratelimit's HTTP middleware on the Redis store:
// the guest limit is enforced across two Limiter instances sharing Redis,
// and with Redis stopped the store's FailClosed error becomes the
// Limiter's 503 with Retry-After, while a store-level FailOpen keeps
// serving.
func TestLimiterOverRedis(t *testing.T) {
	p := testenv.StartRedis(t)
	c, _ := outageClient(t, p.Addr())
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	newHandler := func(policy redisstore.FailPolicy) http.Handler {
		s := redisstore.New(c, &redisstore.Options{Timeout: 500 * time.Millisecond, FailPolicy: policy, BreakerThreshold: 2})
		return ratelimit.New(s, nil, &ratelimit.Options{FailPolicy: ratelimit.FailClosed}).Handler(ok)
	}
	closed := []http.Handler{newHandler(redisstore.FailClosed), newHandler(redisstore.FailClosed)}
	open := newHandler(redisstore.FailOpen)
	serve := func(h http.Handler) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "/api/meters", nil)
		r.RemoteAddr = "203.0.113.9:5000"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}

	// The default guest limit, 10 per minute by client IP, shared by both
	// instances.
	admitted := 0
	for i := range 20 {
		w := serve(closed[i%2])
		require.NotEmpty(t, w.Header().Get("RateLimit-Policy"))
		switch w.Code {
		case http.StatusOK:
			admitted++
		case http.StatusTooManyRequests:
			require.NotEmpty(t, w.Header().Get("Retry-After"))
		default:
			t.Fatalf("request %d: status %d", i, w.Code)
		}
	}
	require.Equal(t, 10, admitted, "two instances share one limit")

	p.Stop()
	for range 5 {
		w := serve(closed[0])
		require.Equal(t, http.StatusServiceUnavailable, w.Code, "store FailClosed + Limiter FailClosed: 503")
		require.Equal(t, "1", w.Header().Get("Retry-After"))
	}
	for range 5 {
		require.Equal(t, http.StatusOK, serve(open).Code, "store FailOpen: served while Redis is down")
	}
}
