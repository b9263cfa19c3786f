package ratelimit

import (
	"net/http"
	"sync"
	"time"

	"github.com/tenantkit/tenantkit/tenant"
)

// blockList remembers keys refused in Charge mode (their last charge
// took their last unit, or was denied) until a unit is back, so Charge
// mode can refuse them before the wrapped handler.
//
// A refusal is remembered with the limit the key was charged under and the
// key's state after that charge (its TAT, now + ResetAfter): when Plans
// replace that limit, the end of the refusal is computed again from the
// state under the new limit, so a key is neither refused while the store
// would admit it nor let through while the store would deny it.
//
// It holds at most max keys. A refusal that finds it full drops expired
// entries (a full sweep at most once per max/4 such refusals, so a full
// list of live entries is not scanned on every refusal) and, if none has
// expired, the refusal that ends first among a few drawn at random: that
// key reaches the handler once more, is denied by the store and refused
// again. A refusal that is not remembered would let every request of its
// key reach the handler, as a charge is decided after the handler answers.
type blockList struct {
	mu        sync.RWMutex // read-locked on every request, write-locked on refusals
	m         map[string]blocked
	max       int
	sweepWait int // refusals at capacity before the next full sweep
}

type blocked struct {
	until time.Time // end of the refusal under lim
	tat   time.Time // the key's state after the charge: now + ResetAfter
	lim   Limit     // the limit the key was charged under (the plan's, not a fallback's)
	res   Result    // the refusal under lim, as of its start
	// exact: res is the store's own decision; false for a degraded
	// (fallback) one, whose state says nothing about another limit.
	exact bool
}

// evictSample is the number of entries a full block list compares to
// choose the one it drops.
const evictSample = 8

// get returns the refusal of key at now under lim, the key's limit now.
func (b *blockList) get(key string, now time.Time, lim Limit) (Result, bool) {
	b.mu.RLock()
	e, ok := b.m[key]
	b.mu.RUnlock()
	if !ok {
		return Result{}, false
	}
	r := e.res
	until := e.until
	if !sameLimit(e.lim, lim) {
		// Plans replaced the limit: the key's state carries over, and a
		// unit is back when that state allows one under lim.
		until = time.Time{}
		if e.exact {
			if at, ok := nextUnitAt(lim, e.tat.UnixNano()); ok {
				until = e.tat.Add(time.Duration(at - e.tat.UnixNano()))
			}
		}
		r = Result{Limit: lim}
	}
	if !now.Before(until) {
		b.mu.Lock()
		if cur, ok := b.m[key]; ok && cur == e {
			delete(b.m, key)
		}
		b.mu.Unlock()
		return Result{}, false
	}
	// Both waits are measured from now: the refusal's end and the key's
	// state (under any limit, the bucket is full again at tat).
	r.RetryAfter = until.Sub(now)
	r.ResetAfter = max(e.tat.Sub(now), r.RetryAfter)
	return r, true
}

// sameLimit reports whether a and b decide alike (names aside).
func sameLimit(a, b Limit) bool {
	return a.Rate == b.Rate && a.Period == b.Period && a.burst() == b.burst()
}

// put remembers that key, charged under lim, is refused from now for
// r.RetryAfter; r.ResetAfter is the key's state after the charge. Of two
// refusals of a key under one limit the later end is kept: charges that
// race record their refusals in any order.
func (b *blockList) put(key string, now time.Time, lim Limit, r Result, exact bool) {
	e := blocked{until: now.Add(r.RetryAfter), tat: now.Add(r.ResetAfter), lim: lim, res: r, exact: exact}
	b.mu.Lock()
	defer b.mu.Unlock()
	cur, ok := b.m[key]
	if ok && sameLimit(cur.lim, lim) && !cur.until.Before(e.until) {
		return
	}
	if !ok && len(b.m) >= b.max {
		b.makeRoom(now)
	}
	b.m[key] = e
}

// makeRoom drops at least one entry of a full list; b.mu is held.
func (b *blockList) makeRoom(now time.Time) {
	if b.sweepWait--; b.sweepWait < 0 {
		b.sweepWait = b.max / 4
		for k, e := range b.m {
			if !now.Before(e.until) {
				delete(b.m, k)
			}
		}
		if len(b.m) < b.max {
			return
		}
	}
	// Map iteration starts at a random place: which live refusal is
	// dropped cannot be chosen by a client.
	victim, n := "", 0
	var end time.Time
	for k, e := range b.m {
		if n == 0 || e.until.Before(end) {
			victim, end = k, e.until
		}
		if n++; n == evictSample {
			break
		}
	}
	delete(b.m, victim)
}

// serveCharged is Handler in Charge mode.
func (l *Limiter) serveCharged(w http.ResponseWriter, r *http.Request, next http.Handler) {
	t, hasTenant, pe := l.subject(r)
	blk := new(reqBlock)
	key := l.key(r, t.ID, hasTenant, blk)
	if res, ok := l.blocks.get(key, l.opts.Now(), pe.lim); ok {
		sc := l.pool.Get().(*scratch)
		sc.req.reset(key, pe.lim)
		sc.d = Decision{Result: res}
		l.setHeaders(w.Header(), pe, sc, blk)
		l.deny(w, r, t, hasTenant, sc, blk)
		sc.req = Request{}
		l.pool.Put(sc)
		return
	}
	cw := &chargeWriter{ResponseWriter: w, l: l, r: r, t: t, hasTenant: hasTenant, pe: pe, key: key, blk: blk}
	next.ServeHTTP(cw, r)
	if !cw.wroteHeader {
		cw.charge(http.StatusOK)
	}
}

// chargeWriter charges its request when the wrapped handler writes a
// status that Options.Charge selects, before the status goes out, so the
// charge's headers are on that response.
type chargeWriter struct {
	http.ResponseWriter
	l           *Limiter
	r           *http.Request
	t           tenant.Tenant
	hasTenant   bool
	pe          *planEntry
	key         string
	blk         *reqBlock
	wroteHeader bool
}

// WriteHeader charges the request (once) before the status goes out.
func (cw *chargeWriter) WriteHeader(code int) {
	if !cw.wroteHeader && code >= 200 {
		cw.charge(code)
	}
	cw.ResponseWriter.WriteHeader(code)
}

// Write charges an implicit 200 before the first write.
func (cw *chargeWriter) Write(b []byte) (int, error) {
	if !cw.wroteHeader {
		cw.charge(http.StatusOK)
	}
	return cw.ResponseWriter.Write(b)
}

// Unwrap returns the wrapped ResponseWriter, for http.ResponseController.
func (cw *chargeWriter) Unwrap() http.ResponseWriter { return cw.ResponseWriter }

// charge decides one unit for the request if its status is charged, sets
// the headers, and remembers a denied key. It runs once per request.
func (cw *chargeWriter) charge(code int) {
	cw.wroteHeader = true
	l := cw.l
	h := cw.ResponseWriter.Header()
	if !l.opts.Charge(code, h) {
		if _, ok := h[HeaderPolicy]; !ok { // an inner limiter's headers win
			h[HeaderPolicy] = cw.pe.policyV
		}
		return
	}
	ctx := cw.r.Context()
	sc := l.pool.Get().(*scratch)
	defer l.pool.Put(sc)
	sc.req.reset(cw.key, cw.pe.lim)
	sc.d.Quotas = sc.quotas[:0]
	if err := l.store.Take(ctx, &sc.req, &sc.d); err != nil {
		if l.opts.OnError != nil {
			l.opts.OnError(ctx, cw.key, err)
		} else {
			l.logStoreError(cw.r, cw.key, err)
		}
		h[HeaderPolicy] = cw.pe.policyV
		return
	}
	if undecided(&sc.d) {
		h[HeaderPolicy] = cw.pe.policyV
		return
	}
	l.setHeaders(h, cw.pe, sc, cw.blk)
	now := l.opts.Now()
	if !sc.d.Allowed {
		l.blocks.put(cw.key, now, cw.pe.lim, sc.d.Result, !sc.d.Degraded)
		l.logDenial(cw.r, cw.t, cw.hasTenant, sc)
	} else if wait := untilNextUnit(&sc.d, now); wait > 0 {
		// This charge took the key's last unit: the next one would be
		// denied, so the key is refused from now until a unit is back,
		// and the request that would be denied never reaches the
		// handler.
		res := sc.d.Result
		res.Allowed = false
		res.RetryAfter = wait
		l.blocks.put(cw.key, now, cw.pe.lim, res, !sc.d.Degraded)
	}
	sc.req = Request{}
}

// untilNextUnit returns how long after an admitted decision d one more unit
// can be taken: for the limit, the time until its state (now + ResetAfter)
// allows one more unit (nextUnitAt), and for each used-up enforcing quota
// the time until its next period. It is 0 when a unit is available now.
func untilNextUnit(d *Decision, now time.Time) time.Duration {
	var wait time.Duration
	if d.Remaining <= 0 && d.ResetAfter > 0 {
		tat := now.UnixNano() + int64(d.ResetAfter)
		if at, ok := nextUnitAt(d.Limit, tat); ok {
			wait = time.Duration(at - now.UnixNano())
		}
	}
	for _, q := range d.Quotas {
		if q.Quota.Max > 0 && q.Used >= q.Quota.Max {
			wait = max(wait, q.ResetAt.Sub(now))
		}
	}
	return max(wait, 0)
}

// nextUnitAt returns the first instant (ns since the Unix epoch) at which
// a key whose state is tat can take one unit of lim, with the arithmetic
// of Decide: the grid point (Burst−1) units before tat's. The answer is
// exact for a store that keeps tat on Decide's grid, as Memory does; for
// one that rounds its state up (redisstore, to whole microseconds) it is
// at most two nanoseconds before the state's own point, far less than the
// round trip that separates the store's decision from the caller's clock.
// ok is false when lim is invalid or tat is before 1970.
func nextUnitAt(lim Limit, tat int64) (at int64, ok bool) {
	if tat < 0 || lim.Validate() != nil {
		return 0, false
	}
	g := newGCRA(lim)
	k, _ := g.index(tat)
	j := k - (g.burst-1)*g.m
	if j <= 0 {
		return 0, true
	}
	return g.at(j), true
}
