package ratelimit_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tenantkit/tenantkit/ratelimit"
)

// 65,535 per second refills a full burst in exactly one second, every
// second: a few nanoseconds short of each whole second the burst is not
// back. (A per-unit interval truncated to 15,259 ns refills it 1,435 ns
// early each second, 0.09 units per second too many, which counting
// admissions over a few seconds cannot see.)
func TestReviewRefill65535AtTheSecondEdge(t *testing.T) {
	lim := ratelimit.Limit{Name: "p", Rate: 65535, Period: time.Second}
	k := &gcraKey{t: t, lim: lim}
	require.True(t, k.allow(clockEpoch, 65535).Allowed)
	for s := 1; s <= 20; s++ {
		at := clockEpoch.Add(time.Duration(s) * time.Second)
		r := k.peek(at.Add(-3*time.Nanosecond), 65535)
		require.False(t, r.Allowed, "second %d: the burst is back before the second is over", s)
		require.LessOrEqual(t, r.RetryAfter, 3*time.Nanosecond, "second %d", s)
		require.True(t, k.allow(at, 65535).Allowed, "second %d: the burst is back", s)
	}
}
