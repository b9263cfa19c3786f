package tenant

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
)

// A Lookup that starts after Invalidate must ask the directory, even while a
// lookup that started before Invalidate is still in flight: that one may
// carry the tenant as it was before the change Invalidate announces.
func TestCacheLookupAfterInvalidateDoesNotJoinStaleLookup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var (
			mu    sync.Mutex
			cur   = acme
			calls atomic.Int64
			gate  = make(chan struct{})
		)
		d := DirectoryFunc(func(ctx context.Context, key string) (Tenant, error) {
			mu.Lock()
			snap := cur
			mu.Unlock()
			if calls.Add(1) == 1 { // the first lookup is slow and reads before the change
				<-gate
			}
			return snap, nil
		})
		c := NewCache(d, nil)

		first := make(chan Tenant)
		go func() {
			got, err := c.Lookup(t.Context(), "acme")
			if err != nil {
				t.Errorf("first lookup: %v", err)
			}
			first <- got
		}()
		synctest.Wait() // the first lookup is in flight with the old state

		mu.Lock()
		cur.Status = StatusSuspended
		mu.Unlock()
		c.Invalidate("acme")

		second := make(chan Tenant)
		go func() {
			got, err := c.Lookup(t.Context(), "acme")
			if err != nil {
				t.Errorf("second lookup: %v", err)
			}
			second <- got
		}()
		synctest.Wait()
		close(gate)
		require.Equal(t, StatusActive, (<-first).Status, "a lookup started before Invalidate answers its callers")
		require.Equal(t, StatusSuspended, (<-second).Status, "a lookup started after Invalidate sees the directory after it")

		// The stale answer, finishing last, did not overwrite the fresh one.
		got, err := c.Lookup(t.Context(), "acme")
		require.NoError(t, err)
		require.Equal(t, StatusSuspended, got.Status)
		require.Equal(t, int64(2), calls.Load())
	})
}

// A configured base domain never answers, even when it is one label below
// another, shorter base: "eu.example.com" is where the regional site lives,
// not the tenant "eu".
func TestSubdomainNestedBaseIsNotATenant(t *testing.T) {
	res := Subdomain("example.com", "eu.example.com")
	for _, host := range []string{"eu.example.com", "EU.Example.com:8443", "eu.example.com."} {
		c, err := res.Resolve(hostRequest(host))
		requireOutcome(t, noAnswer, c, err)
	}
	c, err := res.Resolve(hostRequest("acme.eu.example.com"))
	require.NoError(t, err)
	require.Equal(t, "acme", c.Key)
	c, err = res.Resolve(hostRequest("eu2.example.com"))
	require.NoError(t, err)
	require.Equal(t, "eu2", c.Key)
}

// A custom resolver's *Error chooses the answer even when its cause is one of
// the package's sentinels: a resolver that says "log in first" (401) because
// it has no principal yet must not be turned into a 404.
func TestMiddlewareCustomErrorWrappingSentinelKeepsItsStatus(t *testing.T) {
	for _, cause := range []error{ErrNoCandidate, ErrInvalidKey, &ConflictError{}} {
		res := ResolverFunc(func(*http.Request) (Candidate, error) {
			return Candidate{}, &Error{Status: http.StatusUnauthorized, Code: "login_required", Message: "log in first", Err: cause}
		})
		m, _ := newTestMiddleware(t, res, nil)
		rec := serve(m.Handler(echo), "localhost", "/", nil)
		require.Equal(t, http.StatusUnauthorized, rec.Code, "cause %v", cause)
		require.JSONEq(t, `{"error":"login_required","message":"log in first"}`, rec.Body.String())

		_, _, err := m.Resolve(httptest.NewRequest(http.MethodGet, "/", nil))
		var te *Error
		require.ErrorAs(t, err, &te)
		require.Equal(t, http.StatusUnauthorized, te.Status)
		require.ErrorIs(t, err, cause)
	}
}

// A prefix whose segments cannot match a decoded path segment literally
// (empty, dot segments, escapes, query or fragment characters) is a
// configuration error: accepted, it made "/t/../" serve "/t/../acme" and
// "/t//" answer 500 to every tenant path.
func TestPathPrefixRejectsUnmatchablePrefixes(t *testing.T) {
	for _, p := range []string{"/t//", "//t/", "/t/./", "/t/../", "/a/%74/", "/t?x/", "/t#x/", "/t x/"} {
		require.Panics(t, func() { PathPrefix(p) }, p)
	}
	for _, p := range []string{"/t/", "/t", "/tenants/v1/", "/api_v1/~org/"} {
		require.NotPanics(t, func() { PathPrefix(p) }, p)
	}
}

// Under concurrent lookups and invalidations, a Lookup that starts after
// Invalidate returns never answers with the directory's state from before
// the change that Invalidate announced.
func TestCacheInvalidateIsAFenceUnderConcurrency(t *testing.T) {
	var version atomic.Int64
	d := DirectoryFunc(func(ctx context.Context, key string) (Tenant, error) {
		v := version.Load()
		for range 50 { // widen the window in which the lookup is in flight
			runtime.Gosched()
		}
		return Tenant{ID: "1", Slug: key, Plan: strconv.FormatInt(v, 10), Status: StatusActive}, nil
	})
	c := NewCache(d, nil)
	var published atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				floor := published.Load()
				got, err := c.Lookup(t.Context(), "acme")
				if err != nil {
					t.Errorf("lookup: %v", err)
					return
				}
				if v, _ := strconv.ParseInt(got.Plan, 10, 64); v < floor {
					t.Errorf("lookup started after Invalidate of version %d answered version %d", floor, v)
					return
				}
			}
		})
	}
	for i := int64(1); i <= 300; i++ {
		version.Store(i)
		c.Invalidate("acme")
		published.Store(i)
		runtime.Gosched()
	}
	close(stop)
	wg.Wait()
}

// A directory that gives up by itself (its own query timeout) answers
// context.DeadlineExceeded while the callers' contexts are fine. That answer
// is shared like any other: followers do not queue up to retry one by one,
// which during an outage would make the last of n requests wait n timeouts.
func TestCacheDirectoryTimeoutIsSharedNotRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int64
		d := DirectoryFunc(func(ctx context.Context, key string) (Tenant, error) {
			calls.Add(1)
			qctx, cancel := context.WithTimeout(ctx, time.Second) // the directory's own timeout
			defer cancel()
			<-qctx.Done()
			return Tenant{}, fmt.Errorf("query tenant: %w", qctx.Err())
		})
		c := NewCache(d, nil)
		const n = 10
		errs := make(chan error, n)
		for range n {
			go func() {
				_, err := c.Lookup(t.Context(), "acme")
				errs <- err
			}()
		}
		for range n {
			require.ErrorIs(t, <-errs, context.DeadlineExceeded)
		}
		require.Equal(t, int64(1), calls.Load(), "concurrent misses share one lookup")
	})
}
