package ratelimit

import (
	"math/bits"
	"time"
)

// gcra is the integer form of a valid Limit used by the decision.
//
// The theoretical arrival time (TAT) of a key is kept on a grid of instants
// g(i) = ⌈i·s⌉ ns with spacing s = Period/(Rate·m) and m = ⌊Period/Rate⌋,
// so 1 ≤ s < 2 and one unit is exactly m grid steps. Taking n units moves
// the TAT by exactly n·m steps: there is no per-decision rounding, so the
// admitted rate never drifts from Rate per Period, even when Period/Rate is
// not a whole number of nanoseconds (65,535 per second). When Period/Rate is
// whole, s is exactly 1 ns and the grid is plain nanoseconds.
type gcra struct {
	p     uint64 // Period in ns
	d     uint64 // Rate·m: grid steps per Period (≤ p)
	m     int64  // grid steps per unit
	bm    int64  // Burst·m: the burst window in grid steps
	burst int64
	unit  bool   // s == 1: indices are nanoseconds
	rcp   uint64 // ⌊(2⁶⁴−1)/m⌋, for units without a division instruction
}

func newGCRA(l Limit) gcra {
	m := int64(l.Period) / int64(l.Rate)
	b := int64(l.burst())
	g := gcra{p: uint64(l.Period), d: uint64(l.Rate) * uint64(m), m: m, bm: b * m, burst: b, rcp: ^uint64(0) / uint64(m)}
	g.unit = g.d == g.p
	return g
}

// units returns ⌊x/m⌋ for x ≥ 0, and 0 for x < 0. The estimate
// ⌊x·rcp/2⁶⁴⌋ is short of ⌊x/m⌋ by at most one because x < 2⁶³ makes its
// error below ½, so one correction makes it exact.
func (g *gcra) units(x int64) int64 {
	if x <= 0 {
		return 0
	}
	q, _ := bits.Mul64(uint64(x), g.rcp)
	if uint64(x)-q*uint64(g.m) >= uint64(g.m) {
		q++
	}
	return int64(q)
}

// index returns ⌊t/s⌋ and whether t/s is not whole. t ≥ 0.
func (g *gcra) index(t int64) (int64, bool) {
	if g.unit {
		return t, false
	}
	hi, lo := bits.Mul64(uint64(t), g.d)
	q, r := bits.Div64(hi, lo, g.p) // hi < p because d ≤ p
	return int64(q), r != 0
}

// at returns the instant g(i) = ⌈i·s⌉ in ns. i ≥ 0.
func (g *gcra) at(i int64) int64 {
	if g.unit {
		return i
	}
	hi, lo := bits.Mul64(uint64(i), g.p)
	q, r := bits.Div64(hi, lo, g.d) // hi < d for every i reachable from an int64 time
	if r != 0 {
		q++
	}
	return int64(q)
}

// decide is the GCRA decision for n units (1 ≤ n ≤ burst) at now (ns since
// the Unix epoch) on state tat (0: no state). It returns the new state
// (unchanged when denied) and the result fields.
func (g *gcra) decide(tat, now, n int64) (newTAT int64, ok bool, remaining, retryAfter, resetAfter int64) {
	if now < 0 {
		now = 0
	}
	nowIdx, _ := g.index(now)
	base := nowIdx // an idle key starts at the grid point at or before now
	if tat > now {
		if k, _ := g.index(tat); k > nowIdx {
			base = k
		}
	}
	newIdx := base + n*g.m
	// Admit iff newTAT − now ≤ Burst·Period/Rate, in grid steps.
	if newIdx-g.bm <= nowIdx {
		newTAT = g.at(newIdx)
		return newTAT, true, g.units(g.bm - newIdx + nowIdx), 0, max(newTAT-now, 0)
	}
	remaining = g.units(g.bm - base + nowIdx)
	if base > nowIdx {
		resetAfter = g.at(base) - now
	}
	return tat, false, remaining, g.at(newIdx-g.bm) - now, max(resetAfter, 0)
}

// Decide is the GCRA decision as a pure function: given a key's state tat
// (its theoretical arrival time in nanoseconds since the Unix epoch; 0 for a
// key never seen), the time now and n units to take, it returns the key's
// new state and the Result. State is unchanged when the request is denied.
// Like x/time/rate's AllowN(t, n) it reads no clock, so a Store decides by
// loading tat, calling Decide and storing newTAT atomically.
//
// Decide returns an error wrapping ErrInvalid when lim is invalid or n is
// outside 1..burst (n 0 means 1).
func Decide(tat int64, now time.Time, lim Limit, n int) (newTAT int64, r Result, err error) {
	req := Request{Limit: lim, N: n}
	if err := req.Validate(); err != nil {
		return tat, Result{}, err
	}
	g := newGCRA(lim)
	newTAT, ok, rem, retry, reset := g.decide(tat, now.UnixNano(), int64(req.Units()))
	return newTAT, Result{
		Allowed:    ok,
		Limit:      lim,
		Remaining:  int(rem),
		RetryAfter: time.Duration(retry),
		ResetAfter: time.Duration(reset),
	}, nil
}
