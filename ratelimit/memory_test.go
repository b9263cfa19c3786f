package ratelimit_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

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

func TestMemoryCapacityNeverExceeded(t *testing.T) {
	c := newFakeClock(clockEpoch)
	m := ratelimit.NewMemory(&ratelimit.MemoryOptions{Capacity: 1000, QuotaCapacity: 500, Now: c.Now})
	live := ratelimit.Limit{Name: "live", Rate: 1, Period: time.Hour}
	q := ratelimit.Quota{Name: "api_calls", Period: ratelimit.Day}
	var d ratelimit.Decision
	for i := range 20_000 {
		req := ratelimit.Request{Key: fmt.Sprintf("k%d", i), Limit: live, Quotas: []ratelimit.Quota{q}}
		require.NoError(t, m.Take(t.Context(), &req, &d))
		require.True(t, d.Allowed, "a new key always has its burst")
		if i%500 == 0 {
			st := m.Stats()
			require.LessOrEqual(t, st.Keys, 1000, "after %d keys", i+1)
			require.LessOrEqual(t, st.Quotas, 500, "after %d keys", i+1)
		}
	}
	st := m.Stats()
	require.LessOrEqual(t, st.Keys, 1000)
	require.Greater(t, st.Keys, 900, "a full store stays nearly full")
	require.Positive(t, st.Evicted, "live keys had to be evicted and were counted")
}

func TestMemoryEvictsIdleFirst(t *testing.T) {
	c := newFakeClock(clockEpoch)
	m := ratelimit.NewMemory(&ratelimit.MemoryOptions{Capacity: 20_000, Now: c.Now})
	lim := ratelimit.Limit{Name: "l", Rate: 1, Period: time.Second}
	var d ratelimit.Decision
	take := func(key string) {
		req := ratelimit.Request{Key: key, Limit: lim}
		require.NoError(t, m.Take(t.Context(), &req, &d))
	}
	for i := range 10_000 {
		take(fmt.Sprintf("old%d", i))
	}
	require.Equal(t, 10_000, m.Stats().Keys)
	c.Advance(2 * time.Second) // every old key is now fully replenished: idle
	// 22,000 keys in all, over a capacity of 20,000: the idle ones make room.
	for i := range 12_000 {
		take(fmt.Sprintf("new%d", i))
	}
	st := m.Stats()
	require.LessOrEqual(t, st.Keys, 20_000, "capacity is never exceeded")
	require.GreaterOrEqual(t, st.Keys, 12_000, "every new key is held")
	require.Zero(t, st.Evicted, "no live key was evicted: idle keys went first")
	// A swept key is indistinguishable from an idle one: it has its burst.
	take("old1")
	require.True(t, d.Allowed)
}

func TestMemoryEvictionAtCapacityStaysExactForLiveKeys(t *testing.T) {
	c := newFakeClock(clockEpoch)
	m := ratelimit.NewMemory(&ratelimit.MemoryOptions{Shards: 1, Capacity: 4, Now: c.Now})
	lim := ratelimit.Limit{Name: "l", Rate: 1, Period: time.Hour}
	var d ratelimit.Decision
	for _, k := range []string{"a", "b", "c", "d", "e"} {
		req := ratelimit.Request{Key: k, Limit: lim}
		require.NoError(t, m.Take(t.Context(), &req, &d))
		require.True(t, d.Allowed)
	}
	st := m.Stats()
	require.Equal(t, 4, st.Keys, "capacity 4 holds 4 keys")
	require.EqualValues(t, 1, st.Evicted)
	req := ratelimit.Request{Key: "e", Limit: lim}
	require.NoError(t, m.Take(t.Context(), &req, &d))
	require.False(t, d.Allowed, "the newest key keeps its state")
}

func TestMemoryQuotaCountersExpire(t *testing.T) {
	c := newFakeClock(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
	m := ratelimit.NewMemory(&ratelimit.MemoryOptions{Now: c.Now})
	lim := ratelimit.Limit{Name: "l", Rate: 1000, Period: time.Second}
	q := ratelimit.Quota{Name: "api_calls", Period: ratelimit.Day}
	var d ratelimit.Decision
	for i := range 2000 {
		req := ratelimit.Request{Key: fmt.Sprintf("t%d", i), Limit: lim, Quotas: []ratelimit.Quota{q}}
		require.NoError(t, m.Take(t.Context(), &req, &d))
	}
	require.Equal(t, 2000, m.Stats().Quotas)
	c.Advance(48 * time.Hour)
	for i := range 2000 {
		req := ratelimit.Request{Key: fmt.Sprintf("u%d", i), Limit: lim, Quotas: []ratelimit.Quota{q}}
		require.NoError(t, m.Take(t.Context(), &req, &d))
	}
	require.Less(t, m.Stats().Quotas, 3000, "counters of past days are swept")
}

func TestMemoryDSTDay(t *testing.T) {
	// New York springs forward on 2026-03-08: that day is 23 hours long.
	ny, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)
	c := newFakeClock(time.Date(2026, 3, 8, 0, 30, 0, 0, ny))
	m := ratelimit.NewMemory(&ratelimit.MemoryOptions{Now: c.Now})
	req := ratelimit.Request{Key: "k", Limit: ratelimit.Limit{Name: "l", Rate: 100, Period: time.Second},
		Quotas: []ratelimit.Quota{{Name: "api_calls", Period: ratelimit.Day, Location: ny}}}
	var d ratelimit.Decision
	require.NoError(t, m.Take(t.Context(), &req, &d))
	require.True(t, d.Quotas[0].ResetAt.Equal(time.Date(2026, 3, 9, 0, 0, 0, 0, ny)))
	require.Equal(t, 22*time.Hour+30*time.Minute, d.Quotas[0].ResetAt.Sub(c.Now()), "a 23-hour day, from 00:30")
	c.Advance(22*time.Hour + 29*time.Minute)
	require.NoError(t, m.Take(t.Context(), &req, &d))
	require.EqualValues(t, 2, d.Quotas[0].Used, "still March 8th")
	c.Advance(time.Minute)
	require.NoError(t, m.Take(t.Context(), &req, &d))
	require.EqualValues(t, 1, d.Quotas[0].Used, "March 9th")
}
