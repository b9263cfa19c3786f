package ratelimit

import (
	"math"
	"math/bits"
	"net/http"
	"sync"
	"time"

	"github.com/tenantkit/tenantkit/tenant"
)

// blockList remembers keys whose last charge was denied, until their
// RetryAfter, so Charge mode can refuse them before the wrapped handler.
// It holds at most max keys; when full it drops expired entries, and if
// none have expired a new refusal is simply not remembered (the store still
// denies that key's next charge).
type blockList struct {
	mu  sync.RWMutex // read-locked on every request, write-locked on refusals
	m   map[string]blocked
	max int
}

type blocked struct {
	until time.Time
	res   Result
}

func (b *blockList) get(key string, now time.Time) (Result, bool) {
	b.mu.RLock()
	e, ok := b.m[key]
	b.mu.RUnlock()
	if !ok {
		return Result{}, false
	}
	if !now.Before(e.until) {
		b.mu.Lock()
		if cur, ok := b.m[key]; ok && !now.Before(cur.until) {
			delete(b.m, key)
		}
		b.mu.Unlock()
		return Result{}, false
	}
	r := e.res
	r.RetryAfter = e.until.Sub(now)
	// Both waits shrink by the time elapsed since the refusal was stored.
	r.ResetAfter = max(e.res.ResetAfter-(e.res.RetryAfter-r.RetryAfter), r.RetryAfter)
	return r, true
}

func (b *blockList) put(key string, now time.Time, r Result) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.m[key]; !ok && len(b.m) >= b.max {
		for k, e := range b.m {
			if !now.Before(e.until) {
				delete(b.m, k)
			}
		}
		if len(b.m) >= b.max {
			return
		}
	}
	b.m[key] = blocked{until: now.Add(r.RetryAfter), res: r}
}

// serveCharged is Handler in Charge mode.
func (l *Limiter) serveCharged(w http.ResponseWriter, r *http.Request, next http.Handler) {
	t, hasTenant, pe := l.subject(r)
	blk := new(reqBlock)
	key := l.key(r, t.ID, hasTenant, blk)
	if res, ok := l.blocks.get(key, l.opts.Now()); ok {
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
	if !sc.d.Allowed {
		l.blocks.put(cw.key, l.opts.Now(), sc.d.Result)
		l.logDenial(cw.r, cw.t, cw.hasTenant, sc)
	} else if now := l.opts.Now(); exhausted(&sc.d, now) {
		// This charge took the key's last unit: the next one would be
		// denied, so the key is refused from now until a unit is back,
		// and the request that would be denied never reaches the
		// handler.
		res := sc.d.Result
		res.Allowed = false
		res.RetryAfter = untilNextUnit(&sc.d, now)
		l.blocks.put(cw.key, now, res)
	}
	sc.req = Request{}
}

// exhausted reports whether an admitted decision left no unit: the limit
// has none remaining, or an enforcing quota is used up.
func exhausted(d *Decision, now time.Time) bool {
	return untilNextUnit(d, now) > 0
}

// untilNextUnit returns how long after an admitted decision d one more unit
// can be taken: for the limit, the time until its state has drained by one
// emission interval below the burst window (ResetAfter less (Burst−1)
// intervals, the intervals rounded down so the wait is never short), and
// for each used-up enforcing quota the time until its next period. It is 0
// when a unit is available now.
func untilNextUnit(d *Decision, now time.Time) time.Duration {
	var wait time.Duration
	if lim := d.Limit; d.Remaining <= 0 && lim.Rate > 0 && lim.Period > 0 {
		// (Burst−1)·Period/Rate in 128 bits; a quotient past int64 means
		// the burst window is longer than ResetAfter can be.
		hi, lo := bits.Mul64(uint64(max(lim.EffectiveBurst()-1, 0)), uint64(lim.Period))
		if hi < uint64(lim.Rate) {
			if q, _ := bits.Div64(hi, lo, uint64(lim.Rate)); q <= math.MaxInt64 {
				wait = d.ResetAfter - time.Duration(q)
			}
		}
	}
	for _, q := range d.Quotas {
		if q.Quota.Max > 0 && q.Used >= q.Quota.Max {
			wait = max(wait, q.ResetAt.Sub(now))
		}
	}
	return max(wait, 0)
}
