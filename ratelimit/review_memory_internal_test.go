package ratelimit

import (
	"context"
	"errors"
	"math/bits"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A memory store with one shard fed random requests on a few keys with
// several limits (two differing only by Name), random N and quotas must
// answer exactly what Decide answers on a model of each key's TAT.
func TestReviewMemoryMatchesDecideAcrossLimits(t *testing.T) {
	limits := []Limit{
		{Name: "a", Rate: 3, Period: time.Second},
		{Name: "b", Rate: 3, Period: time.Second}, // same numbers, other name
		{Name: "c", Rate: 3, Period: time.Second, Burst: 5},
		{Name: "d", Rate: 65535, Period: time.Second, Burst: 7},
		{Name: "e", Rate: 1, Period: 90 * 365 * 24 * time.Hour},
		{Name: "f", Rate: 7, Period: 1500 * time.Millisecond, Burst: 2},
	}
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 1))
		now := time.Unix(1_700_000_000, 0)
		m := NewMemory(&MemoryOptions{Shards: 1, Capacity: 1 << 10, Now: func() time.Time { return now }})
		model := map[string]int64{}
		for step := range 4000 {
			key := string(rune('k' + rng.IntN(4)))
			lim := limits[rng.IntN(len(limits))]
			n := rng.IntN(lim.EffectiveBurst()+2) - 0 // 0..burst+1
			if rng.IntN(10) == 0 {
				n = -1
			}
			req := Request{Key: key, Limit: lim, N: n}
			var d Decision
			err := m.Take(context.Background(), &req, &d)
			newTAT, r, derr := Decide(model[key], now, lim, n)
			if derr != nil {
				require.ErrorIs(t, err, ErrInvalid, "seed %d step %d: %+v", seed, step, req)
			} else {
				require.NoError(t, err, "seed %d step %d", seed, step)
				require.Equal(t, r, d.Result, "seed %d step %d: %+v", seed, step, req)
				model[key] = newTAT
			}
			now = now.Add(time.Duration(rng.Int64N(int64(400 * time.Millisecond))))
		}
	}
}

// The reciprocal division agrees with plain division for huge and small m.
func TestReviewUnitsHugeM(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 200000 {
		var m int64
		switch rng.IntN(3) {
		case 0:
			m = 1 + rng.Int64N(1000)
		case 1:
			m = 1 + rng.Int64N(1<<62)
		default:
			m = int64(1)<<rng.IntN(62) + rng.Int64N(3) - 1
		}
		if m < 1 {
			m = 1
		}
		g := gcra{m: m, rcp: ^uint64(0) / uint64(m)}
		x := rng.Int64N(1<<63 - 1)
		if rng.IntN(2) == 0 {
			x = (x/m)*m + rng.Int64N(3) - 1
		}
		want := int64(0)
		if x > 0 {
			want = x / m
		}
		require.Equal(t, want, g.units(x), "x=%d m=%d", x, m)
	}
	_ = bits.Len
}

// Calendar periods partition time in every zone of the system database
// around every transition from 1970 to 2040: PeriodBounds of any instant
// of a period is that period. The shard cache relies on it.
func TestReviewPeriodCacheAllZones(t *testing.T) {
	root := "/usr/share/zoneinfo"
	if _, err := os.Stat(root); err != nil {
		t.Skip("no zoneinfo")
	}
	var names []string
	_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		name := strings.TrimPrefix(p, root+"/")
		if strings.HasPrefix(name, "posix") || strings.HasPrefix(name, "right") || strings.Contains(name, ".") {
			return nil
		}
		names = append(names, name)
		return nil
	})
	if testing.Short() {
		names = names[:min(len(names), 40)]
	}
	checked := 0
	for _, name := range names {
		loc, err := time.LoadLocation(name)
		if err != nil {
			continue
		}
		for _, p := range []QuotaPeriod{Day, Month} {
			q := Quota{Period: p, Location: loc}
			var s memShard
			at := time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
			end := time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC)
			for at.Before(end) {
				_, tr := at.ZoneBounds()
				if tr.IsZero() || !tr.Before(end) {
					break
				}
				for _, off := range []time.Duration{-49 * time.Hour, -25 * time.Hour, -24 * time.Hour, -23 * time.Hour, -time.Hour, -time.Nanosecond, 0, time.Nanosecond, time.Hour, 23 * time.Hour, 24 * time.Hour, 25 * time.Hour, 49 * time.Hour} {
					x := tr.Add(off)
					st, nx := q.PeriodBounds(x)
					require.True(t, !x.Before(st) && x.Before(nx), "%s %v: %v not in [%v, %v)", name, p, x, st, nx)
					s2, n2 := q.PeriodBounds(st)
					s3, n3 := q.PeriodBounds(nx.Add(-time.Nanosecond))
					require.True(t, s2.Equal(st) && n2.Equal(nx) && s3.Equal(st) && n3.Equal(nx), "%s %v at %v: [%v,%v) vs [%v,%v) [%v,%v)", name, p, x, st, nx, s2, n2, s3, n3)
					cs, cn := s.bounds(&q, x.UnixNano())
					require.Equal(t, st.UnixNano(), cs)
					require.True(t, cn.Equal(nx))
					checked++
				}
				at = tr
			}
		}
	}
	t.Logf("%d zones, %d instants", len(names), checked)
}

// Capacity: an insert at capacity drops idle entries before it evicts a
// live one, as MemoryOptions.Capacity and the package doc say, also right
// after a full sweep.
func TestReviewIdleDroppedBeforeLive(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	m := NewMemory(&MemoryOptions{Shards: 1, Capacity: 64, Now: func() time.Time { return now }})
	short := Limit{Rate: 1, Period: time.Millisecond}
	long := Limit{Rate: 1, Period: time.Hour}
	take := func(k string, l Limit) {
		var d Decision
		require.NoError(t, m.Take(context.Background(), &Request{Key: k, Limit: l}, &d))
	}
	key := 0
	next := func() string { key++; return "k" + strings.Repeat("x", key) }
	for i := range 64 {
		if i%2 == 0 {
			take(next(), short)
		} else {
			take(next(), long)
		}
	}
	// At capacity with every entry live: this insert must evict one.
	take(next(), long)
	require.EqualValues(t, 1, m.Stats().Evicted)
	// Half the table goes idle; a few new keys fit in their slots.
	now = now.Add(time.Second)
	for range 16 {
		take(next(), long)
	}
	require.EqualValues(t, 1, m.Stats().Evicted, "a live key was evicted while idle ones were held")
}

var _ = errors.Is

// New keys at capacity: all live (a flood of distinct keys, every insert
// evicts) and at equilibrium (keys go idle as fast as new ones come).
func BenchmarkReviewMemoryAtCapacity(b *testing.B) {
	for _, bc := range []struct {
		name string
		step time.Duration // clock step per request
	}{{"flood", 0}, {"churn", 6 * time.Second / (1 << 16)}, {"overload", 3 * time.Second / (1 << 16)}} {
		b.Run(bc.name, func(b *testing.B) {
			now := time.Unix(1_700_000_000, 0)
			m := NewMemory(&MemoryOptions{Capacity: 1 << 16, Now: func() time.Time { return now }})
			lim := Limit{Name: "guest", Rate: 10, Period: time.Minute, Burst: 1}
			keys := make([]string, 1<<20)
			for i := range keys {
				keys[i] = "ip:" + strconv.Itoa(i)
			}
			var d Decision
			req := Request{Limit: lim}
			for i := range 1 << 17 {
				req.Key = keys[i&(len(keys)-1)]
				_ = m.Take(context.Background(), &req, &d)
				now = now.Add(bc.step)
			}
			ev := m.Stats().Evicted
			b.ResetTimer()
			for i := range b.N {
				req.Key = keys[(i+1<<17)&(len(keys)-1)]
				_ = m.Take(context.Background(), &req, &d)
				now = now.Add(bc.step)
			}
			b.ReportMetric(float64(m.Stats().Evicted-ev)/float64(b.N), "evicted/op")
		})
	}
}

// With more than 256 shards the keys of a shard share more than their
// shard bits: their home slots must still spread over the shard's table,
// or every lookup walks one long run.
func TestReviewHomeSpreadWithManyShards(t *testing.T) {
	for _, shards := range []int{256, 4096} {
		m := NewMemory(&MemoryOptions{Capacity: shards * 64, QuotaCapacity: shards * 64, Shards: shards})
		require.Len(t, m.shards, shards)
		lim := Limit{Rate: 1, Period: time.Hour}
		for i := range shards * 32 {
			var d Decision
			require.NoError(t, m.Take(context.Background(), &Request{Key: "k" + strconv.Itoa(i), Limit: lim}, &d))
		}
		total, n := 0, 0
		for si := range m.shards {
			tb := &m.shards[si].rate
			for i, s := range tb.slots {
				if s.h == 0 {
					continue
				}
				dist := i - tb.home(s.h)
				if dist < 0 {
					dist += len(tb.slots)
				}
				total += dist
				n++
			}
		}
		mean := float64(total) / float64(n)
		require.Less(t, mean, 4.0, "%d shards: mean distance from the home slot %.1f", shards, mean)
	}
}
