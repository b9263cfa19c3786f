package redisstore_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tenantkit/tenantkit/ratelimit"
	"github.com/tenantkit/tenantkit/ratelimit/redisstore"
)

// In a zone whose clock goes back onto or across midnight (Asia/Amman until
// 2022, Antarctica/Casey in 2023), a day counter first written in the first
// pass of the repeated hours must last the whole day: the Redis store
// counts like the memory store (same Used, Allowed, ResetAt and
// RetryAfter), never admits more than Max in that day, and does not expire
// the counter an hour after the second midnight.
func TestReviewRepeatedMidnightLikeMemory(t *testing.T) {
	for _, tc := range []struct {
		zone string
		at   time.Time // in the first pass of the repeated hours
	}{
		{"Asia/Amman", time.Date(2021, 10, 28, 21, 30, 0, 0, time.UTC)},    // 00:30 EEST
		{"Antarctica/Casey", time.Date(2023, 3, 8, 14, 0, 0, 0, time.UTC)}, // 01:00 +11
	} {
		t.Run(tc.zone, func(t *testing.T) {
			loc, err := time.LoadLocation(tc.zone)
			require.NoError(t, err)
			c, clock := newMini(t)
			clock.Advance(tc.at.Sub(clock.Now()))
			rs := redisstore.New(c, &redisstore.Options{Now: clock.Now, Timeout: 5 * time.Second})
			ms := ratelimit.NewMemory(&ratelimit.MemoryOptions{Now: clock.Now})
			q := ratelimit.Quota{Name: "api", Period: ratelimit.Day, Max: 5, Location: loc}
			req := ratelimit.Request{Key: "k", Limit: ratelimit.Limit{Rate: 1000, Period: time.Second}, Quotas: []ratelimit.Quota{q}}
			check := func(i int) bool {
				want, got := take(t, ms, req), take(t, rs, req)
				require.Equal(t, want.Allowed, got.Allowed, "decision %d at %v", i, clock.Now().In(loc))
				require.Equal(t, want.RetryAfter, got.RetryAfter, "decision %d at %v", i, clock.Now().In(loc))
				require.Equal(t, want.Quotas[0].Used, got.Quotas[0].Used, "decision %d at %v", i, clock.Now().In(loc))
				require.True(t, want.Quotas[0].ResetAt.Equal(got.Quotas[0].ResetAt), "decision %d at %v: ResetAt %v, memory %v",
					i, clock.Now().In(loc), got.Quotas[0].ResetAt.In(loc), want.Quotas[0].ResetAt.In(loc))
				return got.Allowed
			}
			for i := range 5 {
				require.True(t, check(i))
			}
			require.False(t, check(5), "the day's 5 are used")
			for i := range 4 { // the rest of the same local day
				clock.Advance(3 * time.Hour)
				require.False(t, check(6+i), "still the same day: no more than Max")
			}
		})
	}
}
