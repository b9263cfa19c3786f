package monitor

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tenantkit/tenantkit/tenant"
)

func TestHashEveryByteCounts(t *testing.T) {
	k := newHashKeys()
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 36, 48, 49, 100} {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		s := string(b)
		h := k.hash(s)
		require.Equal(t, h, k.hash(string(b)), "len %d: same bytes, same hash", n)
		for i := range b {
			for bit := range 8 {
				c := append([]byte(nil), b...)
				c[i] ^= 1 << bit
				require.NotEqual(t, h, k.hash(string(c)), "len %d: flipping bit %d of byte %d", n, bit, i)
			}
		}
		require.NotEqual(t, h, k.hash(s+"x"), "len %d: a longer string", n)
	}
	require.NotEqual(t, k.hash(""), k.hash("\x00"))
	other := newHashKeys()
	require.NotEqual(t, k.hash("tenant-1"), other.hash("tenant-1"), "keys differ per Recorder")
}

func TestHashSpreadsOverShardsAndSlots(t *testing.T) {
	k := newHashKeys()
	for _, format := range []string{"t%d", "tenant-%06d", "3f2c9a1e-7b4d-4e8a-9c1f-%012d"} {
		const n = 200 * numShards
		var shards [numShards]int
		var slots [64]int // the in-shard bits a table of 64 entries uses
		for i := range n {
			h := k.hash(fmt.Sprintf(format, i))
			shards[h%numShards]++
			slots[(h>>shardBits)%64]++
		}
		for i, c := range shards {
			require.Less(t, c, 400, "%s: shard %d holds %d of %d", format, i, c, n)
		}
		for i, c := range slots {
			require.InDelta(t, n/64, c, n/64/5, "%s: slot %d", format, i)
		}
	}
}

func TestTableCollisionsAndWraparound(t *testing.T) {
	var tb *table
	mk := func(id string) *series { return &series{id: tenant.ID(id)} }
	// Eight IDs on one hash whose home is the table's last slot: every probe
	// after the first wraps to the start, and only the ID tells them apart.
	const h = uint64(1<<shardBits)*15 + 7
	var all []*series
	for i := range 8 {
		s := mk(fmt.Sprintf("same-%d", i))
		all = append(all, s)
		tb = tb.with(s, h)
		require.Equal(t, i+1, tb.n)
	}
	other := mk("other")
	tb = tb.with(other, 3<<shardBits)
	require.Len(t, tb.entries, 16, "at most three quarters full")
	for _, s := range all {
		require.Same(t, s, tb.find(s.id, h))
	}
	require.Same(t, other, tb.find("other", 3<<shardBits))
	require.Nil(t, tb.find("same-8", h))
	require.Nil(t, tb.find("same-1", h+1), "same ID, other hash")

	calls := 0
	tb, dropped := tb.filter(func(s *series) bool {
		calls++
		return s.id != "same-0" && s.id != "other"
	})
	require.Equal(t, 9, calls, "keep is asked once per series")
	require.Equal(t, 2, dropped)
	require.Equal(t, 7, tb.n)
	require.Nil(t, tb.find("same-0", h))
	require.Nil(t, tb.find("other", 3<<shardBits))
	for _, s := range all[1:] {
		require.Same(t, s, tb.find(s.id, h))
	}
	require.True(t, tb.any(func(s *series) bool { return s.id == "same-7" }))
	require.False(t, tb.any(func(s *series) bool { return s.id == "same-0" }))
	tb, dropped = tb.filter(func(*series) bool { return false })
	require.Nil(t, tb)
	require.Equal(t, 7, dropped)
}

// TestRecorderTenantsMatchMap checks the sharded tables against a plain map
// through growth and Sweep.
func TestRecorderTenantsMatchMap(t *testing.T) {
	start := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	clk := newFakeClock(start)
	rec := NewRecorder(&RecorderOptions{Now: clk.Now, MaxTenants: 100000})
	want := map[tenant.ID]uint64{}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 30000 {
		id := tenant.ID(fmt.Sprintf("t-%d", rng.IntN(12000)))
		if i%3 == 0 {
			id = tenant.ID(fmt.Sprintf("%x", rng.Uint64()%5000)) // short IDs too
		}
		rec.Record(id, clk.Now(), time.Millisecond, false)
		want[id]++
	}
	check := func() {
		t.Helper()
		require.Equal(t, len(want), rec.Tracked())
		got := rec.IDs()
		slices.Sort(got)
		require.Equal(t, slices.Sorted(maps.Keys(want)), got)
		for id, n := range want {
			require.Equal(t, n, rec.Since(id, start).Requests, "tenant %q", id)
		}
		require.Zero(t, rec.Since("never-seen", start).Requests)
	}
	check()
	require.Zero(t, testing.AllocsPerRun(3, func() { require.Zero(t, rec.Sweep()) }),
		"a Sweep that drops nothing copies no table")
	check()

	// A day later only the tenants active since then survive Sweep.
	clk.Advance(26 * time.Hour)
	for id := range want {
		if len(id)%2 == 0 {
			rec.Record(id, clk.Now(), time.Millisecond, false)
			want[id] = 1 // the first request has left the ring's range below
		} else {
			delete(want, id)
		}
	}
	start = clk.Now().Add(-time.Minute)
	require.Positive(t, rec.Sweep())
	check()
}
