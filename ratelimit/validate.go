package ratelimit

import (
	"errors"
	"fmt"
	"math/bits"
	"time"
)

// ErrInvalid is wrapped by every error about a malformed Limit, Quota or
// Request. Such a request is never admitted and nothing is consumed.
var ErrInvalid = errors.New("ratelimit: invalid request")

// ErrUnavailable is wrapped by a Store's error when its backend could not
// decide (timeout, connection refused, open circuit breaker). The Limiter
// answers such errors with its FailPolicy.
var ErrUnavailable = errors.New("ratelimit: store unavailable")

// maxWindow bounds Burst × Period / Rate so that every instant a decision
// computes fits in int64 nanoseconds.
const maxWindow = 100 * 365 * 24 * time.Hour

// Validate reports whether l is a usable limit: Rate > 0, Period > 0,
// Burst >= 0, an emission interval (Period/Rate) of at least one nanosecond,
// and a burst window (Burst × Period / Rate) of at most 100 years.
func (l Limit) Validate() error {
	switch {
	case l.Rate <= 0:
		return fmt.Errorf("%w: limit %q: rate %d must be > 0", ErrInvalid, l.Name, l.Rate)
	case l.Period <= 0:
		return fmt.Errorf("%w: limit %q: period %v must be > 0", ErrInvalid, l.Name, l.Period)
	case l.Burst < 0:
		return fmt.Errorf("%w: limit %q: burst %d must be >= 0", ErrInvalid, l.Name, l.Burst)
	case int64(l.Period) < int64(l.Rate):
		return fmt.Errorf("%w: limit %q: %d per %v is faster than one per nanosecond", ErrInvalid, l.Name, l.Rate, l.Period)
	}
	// Burst window = burst × period / rate ≤ maxWindow, in 128-bit integers.
	bh, bl := bits.Mul64(uint64(l.burst()), uint64(l.Period))
	wh, wl := bits.Mul64(uint64(maxWindow), uint64(l.Rate))
	if bh > wh || bh == wh && bl > wl {
		return fmt.Errorf("%w: limit %q: burst window of %d per %v over burst %d exceeds 100 years", ErrInvalid, l.Name, l.Rate, l.Period, l.burst())
	}
	return nil
}

// burst returns the effective burst: Burst, or Rate when Burst is 0.
func (l Limit) burst() int {
	if l.Burst == 0 {
		return l.Rate
	}
	return l.Burst
}

// EffectiveBurst returns Burst, or Rate when Burst is 0.
func (l Limit) EffectiveBurst() int { return l.burst() }

// Validate reports whether q is a usable quota: Period is Day or Month and
// Max >= 0.
func (q Quota) Validate() error {
	if q.Period != Day && q.Period != Month {
		return fmt.Errorf("%w: quota %q: unknown period %d", ErrInvalid, q.Name, q.Period)
	}
	if q.Max < 0 {
		return fmt.Errorf("%w: quota %q: max %d must be >= 0", ErrInvalid, q.Name, q.Max)
	}
	return nil
}

// duplicates reports whether q names the same counter as one of earlier:
// the same Name and Period. The Location does not tell counters apart (a
// shared store keys a counter by name, period and local date, and two
// zones often share a date), so one name per period is the rule.
func (q Quota) duplicates(earlier []Quota) bool {
	for _, e := range earlier {
		if e.Name == q.Name && e.Period == q.Period {
			return true
		}
	}
	return false
}

// Units returns the number of units r asks for: N, or 1 when N is 0.
func (r *Request) Units() int {
	if r.N == 0 {
		return 1
	}
	return r.N
}

// Validate reports whether r can ever be decided: its Limit and Quotas are
// valid, N >= 0, N does not exceed the burst (such a request could never be
// admitted, so it is an error rather than a denial with no useful
// RetryAfter), N does not exceed the Max of any enforcing quota, and no two
// quotas share a Name and Period (they would be one counter counted twice).
func (r *Request) Validate() error {
	if err := r.Limit.Validate(); err != nil {
		return err
	}
	if r.N < 0 {
		return fmt.Errorf("%w: key %q: n %d must be >= 0", ErrInvalid, r.Key, r.N)
	}
	n := r.Units()
	if n > r.Limit.burst() {
		return fmt.Errorf("%w: key %q: n %d exceeds burst %d of limit %q", ErrInvalid, r.Key, n, r.Limit.burst(), r.Limit.Name)
	}
	for i, q := range r.Quotas {
		if err := q.Validate(); err != nil {
			return err
		}
		if q.duplicates(r.Quotas[:i]) {
			return fmt.Errorf("%w: key %q: quota %q with period %d is listed twice (one name per period: a counter would be counted twice)", ErrInvalid, r.Key, q.Name, q.Period)
		}
		if q.Max > 0 && int64(n) > q.Max {
			return fmt.Errorf("%w: key %q: n %d exceeds max %d of quota %q", ErrInvalid, r.Key, n, q.Max, q.Name)
		}
	}
	return nil
}

// PeriodBounds returns the start of the calendar period of q that contains
// t and the start of the next one, in q's Location (UTC when nil). Days
// start at local midnight and months on the 1st at local midnight;
// time.Date normalizes days that a DST change makes 23 or 25 hours long.
// Where a DST change skips midnight (America/Santiago, America/Asuncion,
// Asia/Beirut), the day starts at the first instant that exists on it, the
// end of the skipped hour. Where a change back repeats midnight (Asia/Amman
// until 2022, Antarctica/Casey in 2023), the day starts at the first
// midnight, and where it sets the clock back across midnight (00:01 to
// 23:01, America/St_Johns until 2011), the day that had begun goes on until
// the next midnight. So start ≤ t < next always holds, and the period after
// [start, next) starts at next.
func (q Quota) PeriodBounds(t time.Time) (start, next time.Time) {
	loc := q.Location
	if loc == nil {
		loc = time.UTC
	}
	y, m, d := t.In(loc).Date()
	if q.Period == Month {
		d = 1
	}
	start, next = midnight(y, m, d, loc), q.after(y, m, d, loc)
	if !t.Before(next) {
		// The clock went back across midnight: the local date is the
		// previous one again, but its next day has begun.
		y, m, d = next.Date()
		start, next = next, q.after(y, m, d, loc)
	}
	return start, next
}

// after returns the start of the period after the one that starts on the
// local date y-m-d.
func (q Quota) after(y int, m time.Month, d int, loc *time.Location) time.Time {
	if q.Period == Month {
		return midnight(y, m+1, 1, loc)
	}
	return midnight(y, m, d+1, loc)
}

// midnight returns the first instant of the local date y-m-d (normalized
// like time.Date). For a midnight that a zone change skips, time.Date
// answers an instant of an earlier day (23:00 of the old offset, or for
// Pacific/Apia's skipped 2011-12-30 the day before at 00:00); the day then
// begins where that zone period ends, at the transition. For a midnight
// that a change back repeats, the day begins at the first one
// (firstOfRepeated).
func midnight(y int, m time.Month, d int, loc *time.Location) time.Time {
	t := time.Date(y, m, d, 0, 0, 0, 0, loc)
	if ty, tm, td := t.Date(); ty == y && tm == m && td == d {
		return firstOfRepeated(t)
	}
	// t's date differs from y-m-d: either y-m-d was out of range (the 32nd,
	// month 13) and t is its normalized date, or t landed on an earlier day.
	ny, nm, nd := time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Date()
	if ty, tm, td := t.Date(); ty == ny && tm == nm && td == nd {
		return firstOfRepeated(t)
	}
	if _, end := t.ZoneBounds(); !end.IsZero() {
		return end
	}
	return t
}

// firstOfRepeated returns the first instant that reads as t's wall time
// where a change back just before t repeats it (time.Date may answer the
// second), and otherwise t.
func firstOfRepeated(t time.Time) time.Time {
	begin, _ := t.ZoneBounds()
	// A repeated wall time is at most one offset change (under a day)
	// after the change back: further from it, nothing to look up.
	if begin.IsZero() || t.Sub(begin) >= 48*time.Hour {
		return t
	}
	_, was := begin.Add(-time.Nanosecond).Zone()
	_, is := t.Zone()
	if was <= is {
		return t // the clock did not go back at begin
	}
	// The clock went back at begin: the same wall time was read (was − is)
	// seconds earlier if that instant is still at the old offset (before
	// begin, with no other change in between).
	e := t.Add(-time.Duration(was-is) * time.Second)
	if _, off := e.Zone(); off != was {
		return t
	}
	return e
}
