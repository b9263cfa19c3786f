package tokenscope

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
)

// CacheOptions configures a CachedVerifier. Zero fields mean defaults.
type CacheOptions struct {
	// TTL is how long a successful verification is reused, and so the
	// documented bound: a token revoked on another instance keeps working
	// here for at most TTL after the revocation committed. Default: 5s.
	TTL time.Duration
	// MaxEntries bounds the number of cached tokens; when full, expired
	// entries are dropped first, then an arbitrary eighth of the cache, so
	// the cost of eviction is amortized. Default: 10000.
	MaxEntries int
	// Now is the clock. Default: time.Now.
	Now func() time.Time
}

// CachedVerifier remembers successful verifications of another Verifier for
// a short TTL, so the hot path costs a hash and a map lookup instead of a
// database round trip.
//
// Its bound, which is the whole security argument: a revoked token keeps
// working for at most TTL after it was revoked, on instances that did not
// revoke it. On the instance that revokes through CachedVerifier.Revoke (or
// calls Invalidate) it stops at once. Expiry is exact: a cached token is
// refused from its ExpiresAt on, cache or not.
//
// Only successes are cached; every failure (unknown, wrong secret, revoked,
// verifier down) goes to the wrapped Verifier again, so the cache cannot be
// filled with garbage by guessing. Entries are keyed by the credential
// itself, so a hit costs one map lookup and no hashing of secrets (that is
// what keeps Check under 500 ns): the cache holds a credential in memory for
// at most TTL after its last verification, as the request that carried it
// did, and never writes it anywhere. The map's hash is randomly seeded per
// process, so its lookup reveals nothing about cached credentials. The
// Token returned on a hit shares its Scopes slice with the cache; treat it
// as read-only.
//
// A CachedVerifier is safe for concurrent use. Its zero value is not usable;
// use NewCachedVerifier.
type CachedVerifier struct {
	v   Verifier
	ttl time.Duration
	max int
	now func() time.Time

	mu      sync.RWMutex
	gen     uint64 // bumped by Invalidate; a fill started before it is dropped
	entries map[Secret]cacheEntry
	byID    map[string]Secret
}

type cacheEntry struct {
	tok   Token
	until time.Time
}

var _ Verifier = (*CachedVerifier)(nil)
var _ Revoker = (*CachedVerifier)(nil)

// NewCachedVerifier returns a CachedVerifier in front of v.
func NewCachedVerifier(v Verifier, opts *CacheOptions) *CachedVerifier {
	if v == nil {
		panic("tokenscope: NewCachedVerifier with a nil Verifier")
	}
	var o CacheOptions
	if opts != nil {
		o = *opts
	}
	if o.TTL <= 0 {
		o.TTL = 5 * time.Second
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = 10000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &CachedVerifier{
		v: v, ttl: o.TTL, max: o.MaxEntries, now: o.Now,
		entries: make(map[Secret]cacheEntry),
		byID:    make(map[string]Secret),
	}
}

// TTL returns the revocation bound of the cache.
func (c *CachedVerifier) TTL() time.Duration { return c.ttl }

// Verify returns the cached token for credential while its entry is fresh,
// else asks the wrapped Verifier and caches a success.
func (c *CachedVerifier) Verify(ctx context.Context, credential Secret) (Token, error) {
	key := credential
	now := c.now()
	c.mu.RLock()
	e, ok := c.entries[key]
	gen := c.gen
	c.mu.RUnlock()
	if ok && now.Before(e.until) {
		if e.tok.Expired(now) {
			return e.tok, newError(ErrExpired, nil)
		}
		return e.tok, nil
	}
	tok, err := c.v.Verify(ctx, credential)
	if err != nil || tok.ID == "" || tok.Revoked() || tok.Expired(now) {
		return tok, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return tok, nil // an Invalidate raced with this fill: do not cache
	}
	key = Secret(strings.Clone(string(key))) // do not pin the request's memory
	if _, ok := c.entries[key]; !ok && len(c.entries) >= c.max {
		c.evictLocked(now)
	}
	if old, ok := c.byID[tok.ID]; ok && old != key {
		delete(c.entries, old)
	}
	c.entries[key] = cacheEntry{tok: tok, until: now.Add(c.ttl)}
	c.byID[tok.ID] = key
	return tok, nil
}

func (c *CachedVerifier) evictLocked(now time.Time) {
	for k, e := range c.entries {
		if !now.Before(e.until) {
			c.deleteLocked(k, e.tok.ID)
		}
	}
	target := c.max - max(c.max/8, 1)
	for k, e := range c.entries {
		if len(c.entries) <= target {
			return
		}
		c.deleteLocked(k, e.tok.ID)
	}
}

func (c *CachedVerifier) deleteLocked(k Secret, id string) {
	delete(c.entries, k)
	if c.byID[id] == k {
		delete(c.byID, id)
	}
}

// Invalidate forgets the token with this ID on this instance at once, and
// makes verifications still in flight not cache their result.
func (c *CachedVerifier) Invalidate(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if k, ok := c.byID[id]; ok {
		delete(c.entries, k)
		delete(c.byID, id)
	}
}

// Revoke revokes the token through the wrapped Verifier, which must
// implement Revoker, and invalidates it locally, so it stops working on this
// instance immediately (and on the others within TTL).
func (c *CachedVerifier) Revoke(ctx context.Context, id string) error {
	r, ok := c.v.(Revoker)
	if !ok {
		return fmt.Errorf("tokenscope: revoke: the cached verifier %T cannot revoke", c.v)
	}
	err := r.Revoke(ctx, id)
	c.Invalidate(id)
	return err
}

// Len returns the number of cached entries, fresh or not yet swept.
func (c *CachedVerifier) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}
