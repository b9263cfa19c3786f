package tenant

import (
	"context"
	"errors"
	"math"
	"sync"
	"time"
)

// ErrNotFound is returned by a Directory for a key that names no tenant.
// Directories may wrap it; test with errors.Is.
var ErrNotFound = errors.New("tenant: unknown tenant")

// Directory looks tenants up by the key a Resolver produced (a slug, an ID,
// whatever the application chose). Lookup returns an error wrapping
// ErrNotFound for an unknown key; any other error means the directory could
// not answer and Middleware fails closed with 503. Implementations must be
// safe for concurrent use.
type Directory interface {
	Lookup(ctx context.Context, key string) (Tenant, error)
}

// DirectoryFunc adapts a function to a Directory.
type DirectoryFunc func(ctx context.Context, key string) (Tenant, error)

var _ Directory = DirectoryFunc(nil)

// Lookup calls f(ctx, key).
func (f DirectoryFunc) Lookup(ctx context.Context, key string) (Tenant, error) { return f(ctx, key) }

// CacheOptions configures a Cache. The zero value, like a nil pointer, means
// every default.
type CacheOptions struct {
	// TTL is how long a found tenant is served from the cache. Default 30s.
	// A tenant suspended in the directory keeps being served as active by
	// this cache for up to TTL unless Invalidate is called.
	TTL time.Duration
	// NegativeTTL is how long an unknown key (ErrNotFound) is remembered, so
	// a flood of requests for a bad key does not reach the directory. Default
	// 5s; a negative value disables negative caching. A tenant created in the
	// directory is seen after at most NegativeTTL (or at once by Invalidate).
	NegativeTTL time.Duration
	// MaxEntries bounds the number of cached keys, found and unknown alike.
	// Default 10000. When full, an entry close to expiry among a few sampled
	// at random is evicted.
	MaxEntries int
	// Now is the clock, read once per cache hit. Default: the monotonic
	// clock (as time.Since reads it), so steps of the wall clock never
	// shorten or lengthen a TTL. Expiry is exact: an entry is served while
	// less than its TTL has passed since it was stored, never after. An
	// injected clock is also read once by NewCache, and expiry is measured
	// from that reading with Time.Sub.
	Now func() time.Time
}

// Cache is a Directory that remembers the answers of another Directory for a
// short time: found tenants for TTL, unknown keys (ErrNotFound) for the
// shorter NegativeTTL. Any other error is never cached, so an outage ends
// for callers as soon as the directory is back. Concurrent misses for one key
// share a single lookup.
//
// A Cache is safe for concurrent use. Its zero value is not usable; call
// NewCache.
type Cache struct {
	d      Directory
	ttl    time.Duration
	negTTL time.Duration
	max    int
	now    func() time.Time // the injected clock; nil means the monotonic clock
	base   time.Time        // the origin of clock readings

	mu      sync.RWMutex
	entries map[string]*cacheEntry
	calls   map[string]*cacheCall
}

var _ Directory = (*Cache)(nil)

type cacheEntry struct {
	t       *Tenant // nil for a negative entry; never mutated once stored
	err     error   // the ErrNotFound-wrapping error of a negative entry
	expires int64   // served while Cache.clock() < expires
}

type cacheCall struct {
	done  chan struct{}
	t     *Tenant
	err   error
	stale bool // set by Invalidate (under Cache.mu): answer its callers, cache nothing
	// abandoned reports that the leader's own context ended during the
	// lookup, so its error says nothing about the directory.
	abandoned bool
}

// NewCache returns a Cache in front of d. A nil opts means defaults.
func NewCache(d Directory, opts *CacheOptions) *Cache {
	if d == nil {
		panic("tenant: NewCache: nil Directory")
	}
	var o CacheOptions
	if opts != nil {
		o = *opts
	}
	c := &Cache{
		d: d, ttl: o.TTL, negTTL: o.NegativeTTL, max: o.MaxEntries, now: o.Now,
		entries: make(map[string]*cacheEntry),
		calls:   make(map[string]*cacheCall),
	}
	if c.ttl <= 0 {
		c.ttl = 30 * time.Second
	}
	if c.negTTL == 0 {
		c.negTTL = 5 * time.Second
	}
	if c.max <= 0 {
		c.max = 10000
	}
	if c.now == nil {
		c.base = time.Now()
	} else {
		c.base = c.now()
	}
	return c
}

// clock returns the time elapsed since c.base in nanoseconds. Without an
// injected clock it reads only the monotonic clock (time.Since of a time
// with a monotonic reading), which costs about half of time.Now, which reads
// the wall clock too. An injected clock's readings saturate at about 292
// years from the first one (Time.Sub); past that before it, every entry
// reads as expired.
func (c *Cache) clock() int64 {
	if c.now == nil {
		return int64(time.Since(c.base))
	}
	d := c.now().Sub(c.base)
	if d == math.MinInt64 {
		// Too far before the first reading to measure (Time.Sub saturates):
		// readings no longer advance, so an entry stored now would be served
		// forever. Read as the end of time instead: every entry is expired.
		return math.MaxInt64
	}
	return int64(d)
}

// Lookup returns the tenant for key from the cache, or asks the directory
// and caches the answer (see Cache).
func (c *Cache) Lookup(ctx context.Context, key string) (Tenant, error) {
	t, err := c.lookup(ctx, key)
	if err != nil {
		return Tenant{}, err
	}
	return *t, nil
}

// lookup is Lookup returning the shared, immutable cached value, which lets
// Middleware store it in a context without copying it to the heap.
func (c *Cache) lookup(ctx context.Context, key string) (*Tenant, error) {
	for {
		// Hits share a read lock; only misses and expiries take the lock.
		c.mu.RLock()
		e, ok := c.entries[key]
		c.mu.RUnlock()
		if ok && c.clock() < e.expires {
			return e.t, e.err
		}

		c.mu.Lock()
		if e, ok := c.entries[key]; ok {
			if c.clock() < e.expires {
				c.mu.Unlock()
				return e.t, e.err
			}
			delete(c.entries, key)
		}
		if call, ok := c.calls[key]; ok {
			c.mu.Unlock()
			select {
			case <-call.done:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			// The leader's own cancellation is not ours: ask again. A
			// directory that timed out by itself is an answer like any other.
			if call.abandoned && ctx.Err() == nil {
				continue
			}
			return call.t, call.err
		}
		call := &cacheCall{done: make(chan struct{})}
		c.calls[key] = call
		c.mu.Unlock()

		c.fill(ctx, key, call)
		return call.t, call.err
	}
}

// fill runs the one lookup for key and publishes its result.
func (c *Cache) fill(ctx context.Context, key string, call *cacheCall) {
	defer func() {
		if p := recover(); p != nil {
			call.err = errors.New("tenant: directory lookup panicked")
			c.finish(key, call, false)
			panic(p)
		}
	}()
	t, err := c.d.Lookup(ctx, key)
	store := false
	switch {
	case err == nil && t.ID.IsZero():
		err = errEmptyID
	case err == nil:
		call.t = &t
		store = true
	case errors.Is(err, ErrNotFound):
		store = c.negTTL > 0
	}
	call.err = err
	call.abandoned = isContextErr(err) && ctx.Err() != nil
	c.finish(key, call, store)
}

func (c *Cache) finish(key string, call *cacheCall, store bool) {
	c.mu.Lock()
	if c.calls[key] == call { // Invalidate may have detached it already
		delete(c.calls, key)
	}
	if store && !call.stale {
		ttl := c.ttl
		if call.t == nil {
			ttl = c.negTTL
		}
		if _, ok := c.entries[key]; !ok && len(c.entries) >= c.max {
			c.evictLocked()
		}
		now := c.clock()
		expires := now + int64(ttl)
		if expires < now { // a TTL too long to add: never expires
			expires = math.MaxInt64
		}
		c.entries[key] = &cacheEntry{t: call.t, err: call.err, expires: expires}
	}
	c.mu.Unlock()
	close(call.done)
}

// evictLocked removes one entry: an expired one if a few samples find it,
// else the sampled one that expires first. Map iteration order is random, so
// this costs O(1) and no bookkeeping on the hot path.
func (c *Cache) evictLocked() {
	const samples = 8
	now := c.clock()
	var (
		victim string
		first  int64
		n      int
	)
	for k, e := range c.entries {
		if now >= e.expires {
			victim = k
			break
		}
		if n == 0 || e.expires < first {
			victim, first = k, e.expires
		}
		if n++; n == samples {
			break
		}
	}
	delete(c.entries, victim)
}

// Invalidate forgets key, so the next Lookup asks the directory. A lookup
// already in flight for key still answers the callers that were waiting for
// it before Invalidate, but is not cached, and Lookups that start after
// Invalidate do not join it: they ask the directory again. It forgets
// exactly key: when the Directory answers several keys with one tenant (for
// example slugs matched case-insensitively, "acme" and "ACME" from a path),
// each of those keys has its own entry to invalidate.
func (c *Cache) Invalidate(key string) {
	c.mu.Lock()
	delete(c.entries, key)
	if call, busy := c.calls[key]; busy {
		call.stale = true
		delete(c.calls, key)
	}
	c.mu.Unlock()
}

// Len returns the number of cached keys, expired ones included until they
// are looked up or evicted.
func (c *Cache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}

var errEmptyID = errors.New("tenant: directory returned a tenant with an empty ID")

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
