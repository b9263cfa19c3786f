package ratelimit

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestBlockListWaitsShrink: a remembered refusal answers with both waits
// shortened by the time since it was stored, and is gone at its end.
func TestBlockListWaitsShrink(t *testing.T) {
	b := &blockList{m: map[string]blocked{}, max: 4}
	t0 := time.Unix(1000, 0)
	lim := Limit{Rate: 10, Period: time.Minute, Burst: 30}
	b.put("k", t0, lim, Result{Limit: lim, RetryAfter: 6 * time.Second, ResetAfter: 180 * time.Second}, true)
	r, ok := b.get("k", t0.Add(2*time.Second), lim)
	require.True(t, ok)
	require.Equal(t, 4*time.Second, r.RetryAfter)
	require.Equal(t, 178*time.Second, r.ResetAfter)
	_, ok = b.get("k", t0.Add(6*time.Second), lim)
	require.False(t, ok)
}

// TestUntilNextUnit: after an admitted decision that took the last unit,
// one unit is back when the state allows one more unit on Decide's grid,
// or at the next period of a used-up quota, whichever is later.
func TestUntilNextUnit(t *testing.T) {
	now := time.Unix(1000, 0)
	lim := Limit{Rate: 10, Period: time.Minute, Burst: 30}
	d := Decision{Result: Result{Allowed: true, Limit: lim, Remaining: 0, ResetAfter: 180 * time.Second}}
	require.Equal(t, 6*time.Second, untilNextUnit(&d, now))
	d.Remaining = 1
	require.Zero(t, untilNextUnit(&d, now), "a unit is left")
	d.Quotas = []QuotaResult{{Quota: Quota{Name: "day", Period: Day, Max: 5}, Used: 5, Allowed: true, ResetAt: now.Add(time.Hour)}}
	require.Equal(t, time.Hour, untilNextUnit(&d, now), "the quota is used up")
	d.Quotas[0].Quota.Max = 0
	require.Zero(t, untilNextUnit(&d, now), "a counting quota never blocks")
	// 7 per second: the wait ends on Decide's grid, where the store admits again.
	d = Decision{Result: Result{Allowed: true, Limit: Limit{Rate: 7, Period: time.Second}, ResetAfter: time.Second}}
	require.Equal(t, time.Second-time.Duration(6*int64(time.Second)/7), untilNextUnit(&d, now))
}
