package redisstore

import (
	"sync"
	"sync/atomic"
	"time"
)

// breaker is a consecutive-failure circuit breaker. Closed, every call goes to
// Redis; after threshold consecutive failures it opens and no call goes to
// Redis for cooldown; then one probe call is let through (half-open): success
// closes it, failure opens it for another cooldown.
type breaker struct {
	threshold int // <= 0: never opens
	cooldown  time.Duration

	healthy atomic.Bool // closed with no failures: the lock-free fast path

	mu        sync.Mutex
	failures  int
	open      bool
	openUntil time.Time
	probing   bool
}

func newBreaker(threshold int, cooldown time.Duration) *breaker {
	b := &breaker{threshold: threshold, cooldown: cooldown}
	b.healthy.Store(true)
	return b
}

// allow reports whether a call may go to Redis now. probe is true for the one
// half-open call, whose outcome the caller must report (success, failure or
// abort). When the call may not go, wait is how long until a probe is due.
func (b *breaker) allow(now time.Time) (ok, probe bool, wait time.Duration) {
	if b.healthy.Load() {
		return true, false, 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.open {
		return true, false, 0
	}
	if b.probing {
		return false, false, b.cooldown
	}
	if now.Before(b.openUntil) {
		return false, false, b.openUntil.Sub(now)
	}
	b.probing = true
	return true, true, 0
}

// success records a call that Redis answered: the breaker closes. It
// reports whether the breaker was open.
func (b *breaker) success() (wasOpen bool) {
	if b.healthy.Load() {
		return false
	}
	b.mu.Lock()
	wasOpen = b.open
	b.failures, b.open, b.probing = 0, false, false
	b.healthy.Store(true)
	b.mu.Unlock()
	return wasOpen
}

// failure records a failed call; it reports whether this failure opened the
// breaker (a failed probe re-opens it without reporting).
func (b *breaker) failure(now time.Time, probe bool) (opened bool) {
	if b.threshold <= 0 {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.healthy.Store(false)
	if probe {
		b.probing = false
	}
	b.failures++
	switch {
	case b.open && probe:
		b.openUntil = now.Add(b.cooldown)
	case !b.open && b.failures >= b.threshold:
		b.open = true
		b.openUntil = now.Add(b.cooldown)
		return true
	}
	return false
}

// abort releases a probe whose outcome says nothing about Redis (the caller
// cancelled), so the next call may probe.
func (b *breaker) abort(probe bool) {
	if !probe {
		return
	}
	b.mu.Lock()
	b.probing = false
	b.mu.Unlock()
}

// isOpen reports whether calls are currently held back.
func (b *breaker) isOpen() bool {
	if b.healthy.Load() {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.open
}
