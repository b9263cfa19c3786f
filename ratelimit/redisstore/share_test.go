package redisstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tenantkit/tenantkit/ratelimit"
	"github.com/tenantkit/tenantkit/ratelimit/redisstore"
)

// Under FailLocal a fleet of instances with unreachable Redis admits the
// shared rate, not more, also when the rate does not divide by the number
// of instances: 1/min over 2 instances is 1 per 2 minutes each (rounding
// the rate down to 1/min each would admit twice the limit), 10/min over 3
// is 10 per 3 minutes each (rounding down to 3/min would lose a tenth).
func TestFailLocalShareIsExact(t *testing.T) {
	for _, tc := range []struct {
		rate, instances int
		period          time.Duration // of the local share
		localRate       int
	}{
		{rate: 1, instances: 2, period: 2 * time.Minute, localRate: 1},
		{rate: 10, instances: 3, period: 3 * time.Minute, localRate: 10},
		{rate: 10, instances: 2, period: time.Minute, localRate: 5},
	} {
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		stores := make([]*redisstore.Store, tc.instances)
		for i := range stores {
			stores[i] = downStore(t, tc.instances, &now)
		}
		lim := ratelimit.Limit{Name: "l", Rate: tc.rate, Period: time.Minute}
		const minutes = 60
		admitted := 0
		for sec := 0; sec < minutes*60; sec++ {
			now = now.Add(time.Second)
			for _, s := range stores {
				req := ratelimit.Request{Key: "acme", Limit: lim}
				var d ratelimit.Decision
				require.NoError(t, s.Take(context.Background(), &req, &d))
				require.True(t, d.Degraded)
				require.Equal(t, tc.period, d.Limit.Period, "%+v: the local share's period", tc)
				require.Equal(t, tc.localRate, d.Limit.Rate, "%+v: the local share's rate", tc)
				if d.Allowed {
					admitted++
				}
			}
		}
		burst := tc.instances * max(1, tc.rate/tc.instances)
		require.LessOrEqual(t, admitted, tc.rate*minutes+burst, "%+v: the fleet admits no more than the shared rate and its burst", tc)
		require.GreaterOrEqual(t, admitted, tc.rate*minutes-tc.instances, "%+v: the fleet admits the shared rate", tc)
	}
}
