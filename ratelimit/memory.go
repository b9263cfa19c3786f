package ratelimit

import (
	"context"
	"hash/maphash"
	"math/bits"
	"sync"
	"time"
)

// MemoryOptions configures a Memory store. The zero value means defaults.
type MemoryOptions struct {
	// Capacity is the maximum number of keys with rate-limit state held at
	// once; it is never exceeded. Idle keys (whose state has fully
	// replenished) are dropped first; when every candidate is live, the one
	// closest to replenishing is evicted and counted in
	// MemoryStats.Evicted (that key then starts over with a full burst).
	// Default 1<<20.
	Capacity int

	// QuotaCapacity is the maximum number of quota counters (one per key,
	// quota name and current period) held at once. Default 1<<16.
	QuotaCapacity int

	// Shards is the number of independently locked shards, rounded up to a
	// power of two and lowered until every shard holds at least 64 keys and
	// 64 quota counters. Each shard holds Capacity/Shards keys and
	// QuotaCapacity/Shards counters. Default 256.
	Shards int

	// Now is the clock, read inside the shard lock of each decision.
	// Default: the monotonic clock anchored to the wall clock at
	// construction, so wall-clock steps do not move limits.
	Now func() time.Time
}

// MemoryStats are counters of a Memory store.
type MemoryStats struct {
	Keys    int    // keys with rate-limit state held, idle ones not yet dropped included
	Quotas  int    // quota counters
	Evicted uint64 // live entries evicted because a shard was at capacity
}

// Memory is a Store held in process memory: sharded, bounded and exact. It
// is safe for concurrent use; its zero value is not usable, use NewMemory.
//
// A key's state is one 16-byte slot {hash, TAT} in an open-addressing table
// of its shard; keys are identified by a 64-bit maphash of the key with a
// per-store random seed (63 bits kept), so two keys collide with
// probability about n²/2⁶⁴ (5·10⁻⁸ at a million keys), in which case they
// share a limit. Keys are never retained as strings.
//
// Every decision (limit plus quotas) happens under one shard lock, so it is
// atomic; shards never lock each other and there is no global lock.
type Memory struct {
	seed   maphash.Seed
	shards []memShard
	shift  uint
	// The clock: now, when set (MemoryOptions.Now); otherwise wall plus
	// the monotonic time elapsed since start, read inline.
	now   func() time.Time
	start time.Time
	wall  int64
}

type memShard struct {
	mu     sync.Mutex
	rate   table[struct{}]
	quotas table[int64]
	// The integer form of the last limit seen, valid when hasLim: a
	// shard usually sees one or a few limits, and this spares the
	// validation and the division of each decision.
	hasLim bool
	lim    Limit
	g      gcra
	// The calendar periods computed last, reused while now lies in them:
	// time zone arithmetic costs more than the rest of a decision.
	periods    [4]periodEntry
	nextPeriod uint8
	_          [64]byte // keep hot shards on separate cache lines
}

// periodEntry is one cached Quota.PeriodBounds: for every instant in
// [start, end) of loc and period, the bounds are start and next (end as a
// time.Time in loc).
type periodEntry struct {
	loc        *time.Location
	period     QuotaPeriod
	start, end int64
	next       time.Time
}

// bounds returns q's current period at now (ns) as its start in ns and
// the start of the next period; s.mu is held.
func (s *memShard) bounds(q *Quota, now int64) (int64, time.Time) {
	loc := q.Location
	if loc == nil {
		loc = time.UTC
	}
	for i := range s.periods {
		e := &s.periods[i]
		if e.loc == loc && e.period == q.Period && e.start <= now && now < e.end {
			return e.start, e.next
		}
	}
	start, next := q.PeriodBounds(time.Unix(0, now))
	e := &s.periods[s.nextPeriod%uint8(len(s.periods))]
	s.nextPeriod++
	*e = periodEntry{loc: loc, period: q.Period, start: start.UnixNano(), end: next.UnixNano(), next: next}
	return e.start, next
}

// prepare validates req (reusing the shard's cached limit) and returns the
// limit's integer form; s.mu is held.
func (s *memShard) prepare(req *Request) (*gcra, error) {
	l := req.Limit
	if !s.hasLim || s.lim.Rate != l.Rate || s.lim.Period != l.Period || s.lim.Burst != l.Burst {
		if err := l.Validate(); err != nil {
			return nil, err
		}
		s.hasLim, s.lim, s.g = true, l, newGCRA(l)
	}
	if req.N < 0 || int64(req.N) > s.g.burst {
		return nil, req.Validate()
	}
	for i, q := range req.Quotas {
		if q.Validate() != nil || q.Max > 0 && int64(req.Units()) > q.Max || q.duplicates(req.Quotas[:i]) {
			return nil, req.Validate()
		}
	}
	return &s.g, nil
}

var _ Store = (*Memory)(nil)

// minShardKeys is the least capacity of a shard: a small Capacity gets
// fewer shards rather than shards too small to balance.
const minShardKeys = 64

// NewMemory returns an in-memory Store. opts may be nil.
func NewMemory(opts *MemoryOptions) *Memory {
	var o MemoryOptions
	if opts != nil {
		o = *opts
	}
	if o.Capacity <= 0 {
		o.Capacity = 1 << 20
	}
	if o.QuotaCapacity <= 0 {
		o.QuotaCapacity = 1 << 16
	}
	if o.Shards <= 0 {
		o.Shards = 256
	}
	n := 1 << bits.Len(uint(o.Shards-1))
	for n > 1 && (n*minShardKeys > min(o.Capacity, o.QuotaCapacity) || n > 1<<16) {
		n >>= 1
	}
	m := &Memory{
		seed:   maphash.MakeSeed(),
		shards: make([]memShard, n),
		shift:  uint(64 - bits.TrailingZeros(uint(n))),
	}
	if n == 1 {
		m.shift = 63 // h>>63 is 0 or 1; masked below
	}
	for i := range m.shards {
		m.shards[i].rate = newTable[struct{}](o.Capacity / n)
		m.shards[i].quotas = newTable[int64](o.QuotaCapacity / n)
		m.shards[i].quotas.sweepToGrow = true
	}
	m.now = o.Now
	m.start = time.Now()
	m.wall = m.start.UnixNano()
	return m
}

// clock returns now in nanoseconds since the Unix epoch.
func (m *Memory) clock() int64 {
	if m.now != nil {
		return m.now().UnixNano()
	}
	return m.wall + int64(time.Since(m.start))
}

func (m *Memory) shard(h uint64) *memShard {
	return &m.shards[(h>>m.shift)&uint64(len(m.shards)-1)]
}

// Take decides req atomically; it never returns ErrUnavailable.
func (m *Memory) Take(_ context.Context, req *Request, d *Decision) error {
	h := maphash.String(m.seed, req.Key) | 1
	s := m.shard(h)

	s.mu.Lock()
	now := m.clock()
	g := &s.g
	if !s.ready(req) {
		var err error
		if g, err = s.prepare(req); err != nil {
			s.mu.Unlock()
			return err
		}
	}
	n := int64(req.Units())
	i := s.rate.find(h)
	var tat int64
	if i >= 0 {
		tat = s.rate.slots[i].exp
	}
	newTAT, ok, rem, retry, reset := g.decide(tat, now, n)
	setResult(d, req, ok, rem, retry, reset)
	if len(req.Quotas) == 0 {
		if ok {
			if i < 0 {
				s.rate.insert(h, newTAT, now)
			} else {
				s.rate.slots[i].exp = newTAT
			}
		}
		s.mu.Unlock()
		return nil
	}
	m.takeQuotas(s, h, req, d, now, n, i, newTAT)
	s.mu.Unlock()
	return nil
}

// ready reports, without validating anything, that req is a plain request
// (one unit, no quotas) against the shard's cached limit, which was
// validated when it was cached; s.mu is held.
func (s *memShard) ready(req *Request) bool {
	return s.hasLim && uint(req.N) <= 1 && len(req.Quotas) == 0 &&
		s.lim.Rate == req.Limit.Rate && s.lim.Period == req.Limit.Period && s.lim.Burst == req.Limit.Burst
}

// setResult fills d for a decision on req's limit and clears the rest. It
// assigns field by field: the request was usually just built by the
// caller, and reading its Limit back in wide moves would stall on store
// forwarding.
func setResult(d *Decision, req *Request, ok bool, rem, retry, reset int64) {
	d.Allowed = ok
	d.Limit.Name = req.Limit.Name
	d.Limit.Rate = req.Limit.Rate
	d.Limit.Period = req.Limit.Period
	d.Limit.Burst = req.Limit.Burst
	d.Remaining = int(rem)
	d.RetryAfter = time.Duration(retry)
	d.ResetAfter = time.Duration(reset)
	d.Degraded = false
	d.Quotas = d.Quotas[:0]
}

// takeQuotas evaluates req's quotas and commits the decision; s.mu is held.
func (m *Memory) takeQuotas(s *memShard, h uint64, req *Request, d *Decision, now, n int64, i int, newTAT int64) {
	quotaOK := true
	var wait int64
	for k := range req.Quotas {
		q := &req.Quotas[k]
		start, next := s.bounds(q, now)
		qh := m.quotaHash(h, q, start)
		var used int64
		if j := s.quotas.find(qh); j >= 0 {
			used = s.quotas.slots[j].v
		}
		allowed := q.Max == 0 || used+n <= q.Max
		if !allowed {
			quotaOK = false
			wait = max(wait, next.UnixNano()-now)
		}
		d.Quotas = append(d.Quotas, QuotaResult{Quota: *q, Used: used, Allowed: allowed, ResetAt: next})
	}
	if !quotaOK {
		// Nothing is consumed; the caller waits for the later of the limit
		// and the quota periods.
		if d.Allowed {
			d.Allowed = false
			d.Remaining = int(min(int64(d.Remaining)+n, s.g.burst))
			d.ResetAfter = 0
			if i >= 0 {
				d.ResetAfter = time.Duration(max(s.rate.slots[i].exp-now, 0))
			}
		}
		d.RetryAfter = max(d.RetryAfter, time.Duration(wait))
		return
	}
	if !d.Allowed {
		return
	}
	if i < 0 {
		s.rate.insert(h, newTAT, now)
	} else {
		s.rate.slots[i].exp = newTAT // a TAT never goes back
	}
	for k := range d.Quotas {
		qr := &d.Quotas[k]
		start, _ := s.bounds(&qr.Quota, now)
		qh := m.quotaHash(h, &qr.Quota, start)
		j := s.quotas.find(qh)
		if j < 0 {
			j = s.quotas.insert(qh, qr.ResetAt.UnixNano(), now)
		}
		s.quotas.slots[j].v += n
		qr.Used = s.quotas.slots[j].v
	}
}

// quotaHash identifies the counter of quota q in the period starting at
// start (ns) for the key hashed to h. It keeps h's top bits so the counter lives
// in the key's shard.
func (m *Memory) quotaHash(h uint64, q *Quota, start int64) uint64 {
	x := maphash.String(m.seed, q.Name)
	x ^= uint64(start)*0x9e3779b97f4a7c15 + uint64(q.Period)
	x ^= h * 0xbf58476d1ce4e5b9
	x ^= x >> 31
	x *= 0x94d049bb133111eb
	x ^= x >> 29
	mask := uint64(len(m.shards)-1) << m.shift
	if len(m.shards) == 1 {
		mask = 0
	}
	return (x &^ mask) | (h & mask) | 1
}

// Stats returns the store's counters, locking each shard in turn.
func (m *Memory) Stats() MemoryStats {
	var st MemoryStats
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		st.Keys += s.rate.live
		st.Quotas += s.quotas.live
		st.Evicted += s.rate.evicted + s.quotas.evicted
		s.mu.Unlock()
	}
	return st
}
