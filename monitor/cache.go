package monitor

import (
	"context"
	"errors"
	"sync"
	"time"
)

// DefaultTTL is how long cached health stays fresh: the original design's 5
// minutes.
const DefaultTTL = 5 * time.Minute

// Cache is a TTL cache with single-flight loading: however many goroutines
// ask for a missing or expired key at once, one load runs and all of them get
// its result. Errors are not cached. Expired entries are dropped when a key
// is loaded again and by a sweep once per as many stores as there are
// entries, so the cache holds about the keys used within one TTL.
//
// A Cache is safe for concurrent use. Use NewCache; the zero value is not
// usable.
type Cache[K comparable, V any] struct {
	ttl     time.Duration
	now     func() time.Time
	timeout time.Duration

	mu      sync.Mutex
	entries map[K]*cacheEntry[V]
	stores  int
}

type cacheEntry[V any] struct {
	val     V
	expires time.Time
	done    chan struct{} // non-nil while a load is in flight; closed when it ends
	err     error         // of the flight, for its waiters
}

// errLoadPanicked is what waiters of a load that panicked receive.
var errLoadPanicked = errors.New("monitor: cache load panicked")

// NewCache returns a Cache whose entries stay fresh for ttl (≤ 0: DefaultTTL),
// reading time from now (nil: time.Now). A load runs detached from the
// caller's cancellation (so one caller giving up does not fail the others)
// but with loadTimeout (≤ 0: 30 s).
func NewCache[K comparable, V any](ttl time.Duration, now func() time.Time, loadTimeout time.Duration) *Cache[K, V] {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	if now == nil {
		now = time.Now
	}
	if loadTimeout <= 0 {
		loadTimeout = 30 * time.Second
	}
	return &Cache[K, V]{ttl: ttl, now: now, timeout: loadTimeout, entries: map[K]*cacheEntry[V]{}}
}

// Get returns the fresh value of key, or loads it with load. It waits for a
// load in flight; ctx bounds only this caller's wait.
func (c *Cache[K, V]) Get(ctx context.Context, key K, load func(context.Context) (V, error)) (V, error) {
	return c.get(ctx, key, load, false)
}

// Refresh loads key now (joining a load already in flight) and stores the
// result, whatever the age of the cached value.
func (c *Cache[K, V]) Refresh(ctx context.Context, key K, load func(context.Context) (V, error)) (V, error) {
	return c.get(ctx, key, load, true)
}

func (c *Cache[K, V]) get(ctx context.Context, key K, load func(context.Context) (V, error), force bool) (V, error) {
	c.mu.Lock()
	e := c.entries[key]
	if e != nil && e.done == nil && !force && c.now().Before(e.expires) {
		v := e.val
		c.mu.Unlock()
		return v, nil
	}
	if e != nil && e.done != nil {
		done := e.done
		c.mu.Unlock()
		select {
		case <-done:
		case <-ctx.Done():
			var zero V
			return zero, ctx.Err()
		}
		c.mu.Lock()
		v, err := e.val, e.err
		c.mu.Unlock()
		return v, err
	}
	flight := &cacheEntry[V]{done: make(chan struct{})}
	if e != nil {
		flight.val, flight.expires = e.val, e.expires
	}
	c.entries[key] = flight
	c.mu.Unlock()

	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timeout)
	defer cancel()
	loaded := false
	defer func() {
		if loaded {
			return
		}
		// load panicked: end the flight so its waiters and later callers
		// are not stuck behind it, keep nothing, and let the panic go on.
		c.mu.Lock()
		flight.err = errLoadPanicked
		if c.entries[key] == flight {
			delete(c.entries, key)
		}
		done := flight.done
		flight.done = nil
		c.mu.Unlock()
		close(done)
	}()
	v, err := load(lctx)
	loaded = true

	c.mu.Lock()
	flight.err = err
	if err == nil {
		flight.val, flight.expires = v, c.now().Add(c.ttl)
	} else {
		// Keep nothing for a failed load: the next caller tries again.
		delete(c.entries, key)
	}
	done := flight.done
	flight.done = nil
	// Sweep once per len(entries) stores: amortised O(1) per store.
	c.stores++
	if c.stores >= max(1024, len(c.entries)) {
		c.stores = 0
		c.sweepLocked()
	}
	c.mu.Unlock()
	close(done)
	return v, err
}

// Age returns how old key's cached value is, and false when none is cached.
func (c *Cache[K, V]) Age(key K) (time.Duration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[key]
	if e == nil || e.expires.IsZero() {
		return 0, false
	}
	return c.now().Sub(e.expires.Add(-c.ttl)), true
}

// Invalidate drops key's value; the next Get loads it.
func (c *Cache[K, V]) Invalidate(key K) {
	c.mu.Lock()
	if e := c.entries[key]; e != nil && e.done == nil {
		delete(c.entries, key)
	}
	c.mu.Unlock()
}

// Len returns the number of entries, loads in flight included.
func (c *Cache[K, V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

func (c *Cache[K, V]) sweepLocked() {
	now := c.now()
	for k, e := range c.entries {
		if e.done == nil && !now.Before(e.expires) {
			delete(c.entries, k)
		}
	}
}
