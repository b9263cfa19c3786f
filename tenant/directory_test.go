package tenant

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
)

// fakeClock is a manually advanced clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// fakeDirectory is an in-memory Directory that counts lookups and can be
// made to fail or block.
type fakeDirectory struct {
	mu      sync.Mutex
	tenants map[string]Tenant
	err     error         // returned instead of an answer when set
	gate    chan struct{} // when set, each lookup waits for it
	calls   atomic.Int64
}

func newFakeDirectory(ts ...Tenant) *fakeDirectory {
	d := &fakeDirectory{tenants: map[string]Tenant{}}
	for _, t := range ts {
		d.tenants[t.Slug] = t
	}
	return d
}

func (d *fakeDirectory) Lookup(ctx context.Context, key string) (Tenant, error) {
	d.calls.Add(1)
	if d.gate != nil {
		select {
		case <-d.gate:
		case <-ctx.Done():
			return Tenant{}, ctx.Err()
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err != nil {
		return Tenant{}, d.err
	}
	t, ok := d.tenants[key]
	if !ok {
		return Tenant{}, fmt.Errorf("lookup %q: %w", key, ErrNotFound)
	}
	return t, nil
}

func (d *fakeDirectory) set(t Tenant) {
	d.mu.Lock()
	d.tenants[t.Slug] = t
	d.mu.Unlock()
}

func (d *fakeDirectory) fail(err error) {
	d.mu.Lock()
	d.err = err
	d.mu.Unlock()
}

var (
	acme  = Tenant{ID: "1", Slug: "acme", Name: "Acme", Plan: "basic", Status: StatusActive}
	globx = Tenant{ID: "2", Slug: "globex", Name: "Globex", Plan: "enterprise", Status: StatusActive}
	susp  = Tenant{ID: "3", Slug: "initech", Name: "Initech", Plan: "basic", Status: StatusSuspended}
	odd   = Tenant{ID: "4", Slug: "umbrella", Name: "Umbrella", Plan: "basic", Status: "archived"}
)

func TestCachePositiveTTL(t *testing.T) {
	clk := newFakeClock()
	d := newFakeDirectory(acme)
	c := NewCache(d, &CacheOptions{TTL: time.Minute, Now: clk.Now})

	for range 3 {
		got, err := c.Lookup(t.Context(), "acme")
		require.NoError(t, err)
		require.Equal(t, acme, got)
	}
	require.EqualValues(t, 1, d.calls.Load())

	d.set(Tenant{ID: "1", Slug: "acme", Name: "Acme Renamed", Status: StatusActive})
	clk.Advance(time.Minute - time.Nanosecond)
	got, err := c.Lookup(t.Context(), "acme")
	require.NoError(t, err)
	require.Equal(t, "Acme", got.Name, "served from the cache until TTL")
	require.EqualValues(t, 1, d.calls.Load())

	clk.Advance(time.Nanosecond)
	got, err = c.Lookup(t.Context(), "acme")
	require.NoError(t, err)
	require.Equal(t, "Acme Renamed", got.Name, "asked again at TTL")
	require.EqualValues(t, 2, d.calls.Load())
}

// Without an injected clock the Cache reads the monotonic clock; an entry
// expires exactly at its TTL, as with an injected one.
func TestCacheDefaultClockExpiresAtTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newFakeDirectory(acme)
		c := NewCache(d, &CacheOptions{TTL: time.Second, NegativeTTL: 500 * time.Millisecond})
		time.Sleep(time.Hour) // the first entry is filled well after NewCache
		_, err := c.Lookup(t.Context(), "acme")
		require.NoError(t, err)
		_, err = c.Lookup(t.Context(), "nope")
		require.ErrorIs(t, err, ErrNotFound)

		for _, step := range []struct {
			wait  time.Duration
			key   string
			calls int64
			why   string
		}{
			{500*time.Millisecond - time.Nanosecond, "nope", 2, "negative entry served until NegativeTTL"},
			{time.Nanosecond, "nope", 3, "negative entry expired at NegativeTTL"},
			{500*time.Millisecond - time.Nanosecond, "acme", 3, "served until TTL"},
			{time.Nanosecond, "acme", 4, "expired at TTL"},
		} {
			time.Sleep(step.wait)
			_, _ = c.Lookup(t.Context(), step.key)
			require.EqualValues(t, step.calls, d.calls.Load(), step.why)
		}
	})
}

// Expiry is computed relative to the clock at NewCache: an injected clock
// that later reads earlier than that, or a TTL too long to add, still
// expires entries correctly and never wraps around.
func TestCacheClockEdges(t *testing.T) {
	t.Run("clock before NewCache", func(t *testing.T) {
		clk := newFakeClock()
		d := newFakeDirectory(acme)
		c := NewCache(d, &CacheOptions{TTL: time.Minute, Now: clk.Now})
		clk.Advance(-24 * time.Hour)
		_, _ = c.Lookup(t.Context(), "acme")
		clk.Advance(time.Minute - time.Nanosecond)
		_, _ = c.Lookup(t.Context(), "acme")
		require.EqualValues(t, 1, d.calls.Load())
		clk.Advance(time.Nanosecond)
		_, _ = c.Lookup(t.Context(), "acme")
		require.EqualValues(t, 2, d.calls.Load())
	})
	t.Run("TTL too long to add", func(t *testing.T) {
		clk := newFakeClock()
		d := newFakeDirectory(acme)
		c := NewCache(d, &CacheOptions{TTL: time.Duration(math.MaxInt64), Now: clk.Now})
		clk.Advance(time.Hour)
		_, _ = c.Lookup(t.Context(), "acme")
		clk.Advance(100 * 365 * 24 * time.Hour)
		_, _ = c.Lookup(t.Context(), "acme")
		require.EqualValues(t, 1, d.calls.Load(), "a TTL past the end of time never expires")
	})
}

func TestCacheNegativeTTL(t *testing.T) {
	clk := newFakeClock()
	d := newFakeDirectory()
	c := NewCache(d, &CacheOptions{TTL: time.Minute, NegativeTTL: 5 * time.Second, Now: clk.Now})

	for range 3 {
		_, err := c.Lookup(t.Context(), "acme")
		require.ErrorIs(t, err, ErrNotFound)
	}
	require.EqualValues(t, 1, d.calls.Load())

	d.set(acme)
	clk.Advance(5*time.Second - time.Nanosecond)
	_, err := c.Lookup(t.Context(), "acme")
	require.ErrorIs(t, err, ErrNotFound, "unknown key remembered for NegativeTTL")
	require.EqualValues(t, 1, d.calls.Load())

	clk.Advance(time.Nanosecond)
	got, err := c.Lookup(t.Context(), "acme")
	require.NoError(t, err)
	require.Equal(t, acme, got)
	require.EqualValues(t, 2, d.calls.Load())
}

func TestCacheDefaults(t *testing.T) {
	clk := newFakeClock()
	d := newFakeDirectory(acme)
	c := NewCache(d, &CacheOptions{Now: clk.Now})
	_, err := c.Lookup(t.Context(), "acme")
	require.NoError(t, err)
	_, err = c.Lookup(t.Context(), "nope")
	require.ErrorIs(t, err, ErrNotFound)

	clk.Advance(5 * time.Second) // default NegativeTTL
	_, _ = c.Lookup(t.Context(), "acme")
	_, _ = c.Lookup(t.Context(), "nope")
	require.EqualValues(t, 3, d.calls.Load(), "negative expired at 5s, positive not")

	clk.Advance(25 * time.Second) // default TTL 30s
	_, _ = c.Lookup(t.Context(), "acme")
	require.EqualValues(t, 4, d.calls.Load())

	require.Equal(t, 10000, NewCache(d, nil).max)
}

func TestCacheNegativeDisabled(t *testing.T) {
	d := newFakeDirectory()
	c := NewCache(d, &CacheOptions{NegativeTTL: -1})
	for range 3 {
		_, err := c.Lookup(t.Context(), "x")
		require.ErrorIs(t, err, ErrNotFound)
	}
	require.EqualValues(t, 3, d.calls.Load())
	require.Zero(t, c.Len())
}

func TestCacheDoesNotCacheErrors(t *testing.T) {
	d := newFakeDirectory(acme)
	errDown := errors.New("database is down")
	d.fail(errDown)
	c := NewCache(d, nil)

	for range 3 {
		_, err := c.Lookup(t.Context(), "acme")
		require.ErrorIs(t, err, errDown)
		require.NotErrorIs(t, err, ErrNotFound)
	}
	require.EqualValues(t, 3, d.calls.Load(), "each lookup asks again while the directory fails")
	require.Zero(t, c.Len())

	d.fail(nil)
	got, err := c.Lookup(t.Context(), "acme")
	require.NoError(t, err, "recovers as soon as the directory is back")
	require.Equal(t, acme, got)
}

func TestCacheRejectsEmptyID(t *testing.T) {
	d := DirectoryFunc(func(context.Context, string) (Tenant, error) { return Tenant{Slug: "x"}, nil })
	c := NewCache(d, nil)
	_, err := c.Lookup(t.Context(), "x")
	require.ErrorIs(t, err, errEmptyID)
	require.Zero(t, c.Len())
}

func TestCacheInvalidate(t *testing.T) {
	d := newFakeDirectory(acme)
	c := NewCache(d, nil)
	_, err := c.Lookup(t.Context(), "acme")
	require.NoError(t, err)
	d.set(Tenant{ID: "1", Slug: "acme", Status: StatusSuspended})
	c.Invalidate("acme")
	got, err := c.Lookup(t.Context(), "acme")
	require.NoError(t, err)
	require.Equal(t, StatusSuspended, got.Status)
	require.EqualValues(t, 2, d.calls.Load())
}

func TestCacheInvalidateDuringLookupIsNotCached(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newFakeDirectory(acme)
		d.gate = make(chan struct{})
		c := NewCache(d, nil)
		done := make(chan error)
		go func() {
			_, err := c.Lookup(t.Context(), "acme")
			done <- err
		}()
		synctest.Wait()
		c.Invalidate("acme")
		close(d.gate)
		require.NoError(t, <-done)
		require.Zero(t, c.Len(), "a lookup started before Invalidate may be stale: not cached")
	})
}

func TestCacheBounded(t *testing.T) {
	clk := newFakeClock()
	d := newFakeDirectory()
	c := NewCache(d, &CacheOptions{MaxEntries: 16, Now: clk.Now})
	for i := range 1000 {
		_, _ = c.Lookup(t.Context(), fmt.Sprint("k", i))
		require.LessOrEqual(t, c.Len(), 16)
	}
	require.Equal(t, 16, c.Len())

	// Expired entries are evicted before live ones.
	clk.Advance(time.Hour)
	d.set(acme)
	_, err := c.Lookup(t.Context(), "acme")
	require.NoError(t, err)
	require.Equal(t, 16, c.Len())
}

func TestCacheCollapsesConcurrentMisses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newFakeDirectory(acme)
		d.gate = make(chan struct{})
		c := NewCache(d, nil)

		const n = 50
		var wg sync.WaitGroup
		results := make(chan error, n)
		for range n {
			wg.Go(func() {
				got, err := c.Lookup(t.Context(), "acme")
				if err == nil && got != acme {
					err = fmt.Errorf("got %+v", got)
				}
				results <- err
			})
		}
		synctest.Wait() // every goroutine is blocked: one in the directory, the rest behind it
		require.EqualValues(t, 1, d.calls.Load())
		close(d.gate)
		wg.Wait()
		close(results)
		for err := range results {
			require.NoError(t, err)
		}
		require.EqualValues(t, 1, d.calls.Load(), "concurrent misses share one lookup")
	})
}

func TestCacheFollowerCancellation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newFakeDirectory(acme)
		d.gate = make(chan struct{})
		c := NewCache(d, nil)

		leaderCtx, cancelLeader := context.WithCancel(t.Context())
		leader := make(chan error)
		go func() {
			_, err := c.Lookup(leaderCtx, "acme")
			leader <- err
		}()
		synctest.Wait()
		require.EqualValues(t, 1, d.calls.Load())

		// A follower whose own context ends stops waiting.
		fctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
		defer cancel()
		_, err := c.Lookup(fctx, "acme")
		require.ErrorIs(t, err, context.DeadlineExceeded)

		// A follower whose context is fine does not inherit the leader's
		// cancellation: it asks again.
		follower := make(chan error)
		go func() {
			_, err := c.Lookup(t.Context(), "acme")
			follower <- err
		}()
		synctest.Wait()
		require.EqualValues(t, 1, d.calls.Load(), "the follower waits for the leader")
		cancelLeader()
		require.ErrorIs(t, <-leader, context.Canceled)
		synctest.Wait()
		require.EqualValues(t, 2, d.calls.Load(), "the follower asked again")
		close(d.gate)
		require.NoError(t, <-follower)
	})
}

func TestCachePanicReleasesWaiters(t *testing.T) {
	c := NewCache(DirectoryFunc(func(context.Context, string) (Tenant, error) { panic("boom") }), nil)
	require.PanicsWithValue(t, "boom", func() { _, _ = c.Lookup(t.Context(), "x") })
	c.mu.Lock()
	require.Empty(t, c.calls)
	c.mu.Unlock()
}

func TestCacheConcurrentRace(t *testing.T) {
	clk := newFakeClock()
	d := newFakeDirectory(acme, globx)
	c := NewCache(d, &CacheOptions{MaxEntries: 4, TTL: time.Second, NegativeTTL: 500 * time.Millisecond, Now: clk.Now})
	keys := []string{"acme", "globex", "x", "y", "z"}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 300 {
				k := keys[(g+i)%len(keys)]
				got, err := c.Lookup(t.Context(), k)
				switch k {
				case "acme", "globex":
					if err != nil || got.Slug != k {
						t.Errorf("lookup %s: %v %+v", k, err, got)
					}
				default:
					if !errors.Is(err, ErrNotFound) {
						t.Errorf("lookup %s: %v", k, err)
					}
				}
				if i%50 == 0 {
					clk.Advance(300 * time.Millisecond)
					c.Invalidate(keys[i%len(keys)])
				}
			}
		})
	}
	wg.Wait()
	require.LessOrEqual(t, c.Len(), 4)
}
