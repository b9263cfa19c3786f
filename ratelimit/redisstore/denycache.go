package redisstore

import (
	"hash/maphash"
	"slices"
	"sync"
	"time"

	"github.com/tenantkit/tenantkit/ratelimit"
)

const denyShards = 32

// denyCache remembers denials until the instant the store said the same
// request may be retried, so repeated requests of a denied key are answered
// without a round trip. It only ever denies, so it never admits more than
// Redis would; an entry applies only to a request with the same Limit, the
// same quotas and the same number of units, for which the remembered denial
// and its retry time are still exact. (A request for more units is denied too,
// but would need a later retry time than the remembered one.)
type denyCache struct {
	seed     maphash.Seed
	perShard int
	nshards  uint64 // shards in use: fewer than denyShards for a small size
	shards   [denyShards]denyShard
}

type denyShard struct {
	mu sync.Mutex
	m  map[string]*denyEntry
}

type denyEntry struct {
	until   time.Time // local clock; the denial holds before this instant
	at      time.Time // when the denial was decided
	n       int
	limit   ratelimit.Limit
	quotas  []ratelimit.Quota
	result  ratelimit.Result
	qresult []ratelimit.QuotaResult
}

func newDenyCache(size int) *denyCache {
	// size/nshards per shard over nshards ≤ size shards: never more than
	// size entries in all.
	nshards := min(size, denyShards)
	c := &denyCache{seed: maphash.MakeSeed(), perShard: size / nshards, nshards: uint64(nshards)}
	for i := range c.shards {
		c.shards[i].m = make(map[string]*denyEntry)
	}
	return c
}

func (c *denyCache) shard(key string) *denyShard {
	return &c.shards[maphash.String(c.seed, key)%c.nshards]
}

// lookup fills d and reports true when a remembered denial covers req at now.
func (c *denyCache) lookup(req *ratelimit.Request, n int, now time.Time, d *ratelimit.Decision) bool {
	sh := c.shard(req.Key)
	sh.mu.Lock()
	e, ok := sh.m[req.Key]
	if !ok {
		sh.mu.Unlock()
		return false
	}
	if !now.Before(e.until) {
		delete(sh.m, req.Key)
		sh.mu.Unlock()
		return false
	}
	if n != e.n || e.limit != req.Limit || !slices.Equal(e.quotas, req.Quotas) {
		sh.mu.Unlock()
		return false
	}
	elapsed := now.Sub(e.at)
	d.Result = e.result
	d.Result.RetryAfter = e.until.Sub(now)
	d.Result.ResetAfter = max(e.result.ResetAfter-elapsed, d.Result.RetryAfter)
	d.Quotas = append(d.Quotas[:0], e.qresult...)
	d.Degraded = false
	sh.mu.Unlock()
	return true
}

// store remembers the denial d of req decided at now.
func (c *denyCache) store(req *ratelimit.Request, n int, now time.Time, d *ratelimit.Decision) {
	if d.Allowed || d.RetryAfter <= 0 {
		return
	}
	e := &denyEntry{
		until:   now.Add(d.RetryAfter),
		at:      now,
		n:       n,
		limit:   req.Limit,
		quotas:  slices.Clone(req.Quotas),
		result:  d.Result,
		qresult: slices.Clone(d.Quotas),
	}
	sh := c.shard(req.Key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if _, ok := sh.m[req.Key]; !ok && len(sh.m) >= c.perShard {
		// Full: look at a few entries (map order is random), dropping the
		// expired ones, or else the first one seen. The cache only saves
		// round trips; forgetting a denial never admits extra.
		var first string
		seen, evicted := 0, false
		for k, old := range sh.m {
			if seen == 0 {
				first = k
			}
			if !now.Before(old.until) {
				delete(sh.m, k)
				evicted = true
			}
			if seen++; seen == 16 {
				break
			}
		}
		if !evicted {
			delete(sh.m, first)
		}
	}
	sh.m[req.Key] = e
}
