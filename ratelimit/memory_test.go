package ratelimit_test

import (
	"sync"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/internal/ratelimittest"
	"github.com/tenantkit/tenantkit/ratelimit"
)

// fakeClock is a manually advanced clock safe for concurrent use.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock(t time.Time) *fakeClock { return &fakeClock{t: t} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

var clockEpoch = time.Date(2026, 3, 14, 9, 26, 53, 589793238, time.UTC)

func TestMemoryConformance(t *testing.T) {
	var clocks sync.Map // *ratelimit.Memory → *fakeClock
	ratelimittest.Run(t, func(t *testing.T) ratelimit.Store {
		c := newFakeClock(clockEpoch)
		m := ratelimit.NewMemory(&ratelimit.MemoryOptions{Now: c.Now})
		clocks.Store(m, c)
		return m
	}, ratelimittest.WithClock(func(s ratelimit.Store) ratelimittest.Clock {
		c, _ := clocks.Load(s)
		return c.(*fakeClock)
	}))
}

func TestMemoryConformanceRealClock(t *testing.T) {
	ratelimittest.Run(t, func(t *testing.T) ratelimit.Store {
		return ratelimit.NewMemory(nil)
	})
}

func TestMemoryConformanceSmallShards(t *testing.T) {
	// One shard and a small capacity: the suite's keys still fit, and the
	// table code paths for a single shard are exercised.
	ratelimittest.Run(t, func(t *testing.T) ratelimit.Store {
		return ratelimit.NewMemory(&ratelimit.MemoryOptions{Shards: 1, Capacity: 64, QuotaCapacity: 64})
	})
}
