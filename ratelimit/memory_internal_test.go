package ratelimit

import (
	"math/rand/v2"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
)

func TestSlotSizes(t *testing.T) {
	require.EqualValues(t, 16, unsafe.Sizeof(rateSlot{}), "a rate-limited key retains 16 bytes")
	require.EqualValues(t, 24, unsafe.Sizeof(quotaSlot{}))
}

// TestTableAgainstMap drives a small table (so runs wrap past its end) with
// random inserts, lookups and clock steps, and checks it against a map:
// every entry the model holds live is found with its expiry, sweeping
// drops only idle entries, and the live count matches the slots in use.
func TestTableAgainstMap(t *testing.T) {
	for seed := range uint64(100) {
		rng := rand.New(rand.NewPCG(seed, 7))
		tb := newTable[int64](40)
		tb.sweepToGrow = seed%2 == 1
		model := map[uint64]int64{} // hash → expiry, as far as the table may have kept it
		now := int64(1000)
		for step := range 3000 {
			switch r := rng.IntN(10); {
			case r < 6:
				h := (rng.Uint64N(120) + 1) << 1 // few distinct keys, low bits varied
				h |= 1
				if i := tb.find(h); i >= 0 {
					exp, ok := model[h]
					require.True(t, ok, "seed %d step %d: found a key never inserted", seed, step)
					require.Equal(t, exp, tb.slots[i].exp)
					// an expiry may be raised, never lowered
					tb.slots[i].exp = max(tb.slots[i].exp, now+rng.Int64N(50))
					model[h] = tb.slots[i].exp
				} else {
					if exp, ok := model[h]; ok {
						require.LessOrEqual(t, exp, now, "seed %d step %d: a live key (expiry %d, now %d) was lost without an eviction", seed, step, exp, now)
						delete(model, h)
					}
					before := tb.evicted
					exp := now + rng.Int64N(50)
					i := tb.insert(h, exp, now)
					require.Equal(t, quotaSlot{h: h, exp: exp}, tb.slots[i])
					if tb.evicted != before {
						// A live entry was evicted: only when none was idle.
						for k := range tb.slots {
							if s := tb.slots[k]; s.h != 0 && s.h != h {
								require.Greater(t, s.exp, now, "seed %d step %d: a live entry was evicted while an idle one was held", seed, step)
							}
						}
						// Forget whichever one is gone.
						for k := range model {
							if tb.find(k) < 0 {
								delete(model, k)
							}
						}
					}
					model[h] = exp
				}
			case r < 8:
				now += rng.Int64N(20)
			default:
				tb.sweepAll(now)
				for k, exp := range model {
					if exp <= now {
						require.Negative(t, tb.find(k), "seed %d step %d: an idle key survived a full sweep", seed, step)
						delete(model, k)
					}
				}
			}
			used := 0
			for i := range tb.slots {
				if tb.slots[i].h != 0 {
					used++
					_, ok := model[tb.slots[i].h]
					require.True(t, ok, "seed %d step %d: the table holds a key the model dropped", seed, step)
				}
			}
			require.Equal(t, used, tb.live)
			require.LessOrEqual(t, tb.live, tb.maxLive)
			for k, exp := range model {
				if exp > now {
					require.GreaterOrEqual(t, tb.find(k), 0, "seed %d step %d: live key lost", seed, step)
				}
			}
		}
	}
}

func TestGCRAUnitsIsExactDivision(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	ms := []int64{1, 2, 3, 7, 1000, 999_999_937, 600_000_000, 1<<62 + 1, 1<<63 - 1}
	for range 200 {
		ms = append(ms, rng.Int64N(1<<40)+1, rng.Int64N(1<<63-1)+1)
	}
	for _, m := range ms {
		g := gcra{m: m, rcp: ^uint64(0) / uint64(m)}
		xs := []int64{-5, 0, 1, m - 1, m, m + 1, 1<<63 - 1, (1<<63 - 1) / m * m, (1<<63-1)/m*m - 1}
		for range 50 {
			xs = append(xs, rng.Int64(), rng.Int64N(min(m, 1<<60)*4))
		}
		for _, x := range xs {
			want := int64(0)
			if x > 0 {
				want = x / m
			}
			require.Equal(t, want, g.units(x), "%d / %d", x, m)
		}
	}
}

// TestShardPeriodCache: the shard's cached calendar periods answer exactly
// what Quota.PeriodBounds does, for instants in any order, several zones
// (DST changes, a 30-minute one included) and both periods.
func TestShardPeriodCache(t *testing.T) {
	var zones []*time.Location
	for _, name := range []string{"UTC", "Asia/Tokyo", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe"} {
		loc, err := time.LoadLocation(name)
		require.NoError(t, err)
		zones = append(zones, loc)
	}
	zones = append(zones, nil)
	var s memShard
	rng := rand.New(rand.NewPCG(3, 4))
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	for i := range 20_000 {
		q := Quota{Name: "q", Period: QuotaPeriod(1 + rng.IntN(2)), Location: zones[rng.IntN(len(zones))]}
		// Mostly nearby instants (cache hits), sometimes a jump.
		now := base + rng.Int64N(int64(240*24*time.Hour))
		if i%3 != 0 {
			now = base + rng.Int64N(int64(72*time.Hour))
		}
		start, next := s.bounds(&q, now)
		wantStart, wantNext := q.PeriodBounds(time.Unix(0, now))
		require.Equal(t, wantStart.UnixNano(), start, "start of %v %v at %v", q.Location, q.Period, time.Unix(0, now))
		require.True(t, wantNext.Equal(next), "next of %v %v at %v: %v, want %v", q.Location, q.Period, time.Unix(0, now), next, wantNext)
		require.Equal(t, wantNext.Location(), next.Location())
	}
}
