package monitor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tenantkit/tenantkit/tenant"
)

func TestCacheSingleFlightAtExpiry(t *testing.T) {
	clk := newFakeClock(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
	c := NewCache[string, int](5*time.Minute, clk.Now, 0)
	var loads atomic.Int64
	release := make(chan struct{})
	load := func(context.Context) (int, error) {
		n := loads.Add(1)
		<-release
		return int(n), nil
	}
	close(release)
	v, err := c.Get(t.Context(), "a", load)
	require.NoError(t, err)
	require.Equal(t, 1, v)
	release = make(chan struct{})

	clk.Advance(5*time.Minute + time.Second) // the entry expired
	const n = 100
	var wg sync.WaitGroup
	var started sync.WaitGroup
	started.Add(n)
	results := make([]int, n)
	for i := range n {
		wg.Go(func() {
			started.Done()
			v, err := c.Get(t.Context(), "a", load)
			assert.NoError(t, err)
			results[i] = v
		})
	}
	started.Wait()
	time.Sleep(50 * time.Millisecond) // let every goroutine reach the flight
	close(release)
	wg.Wait()
	require.Equal(t, int64(2), loads.Load(), "exactly one load for 100 callers of an expired key")
	for _, r := range results {
		require.Equal(t, 2, r)
	}
	// Fresh within the TTL: no load.
	clk.Advance(4 * time.Minute)
	v, _ = c.Get(t.Context(), "a", load)
	require.Equal(t, 2, v)
	require.Equal(t, int64(2), loads.Load())
	age, ok := c.Age("a")
	require.True(t, ok)
	require.Equal(t, 4*time.Minute, age)
}

func TestCacheErrorsNotCachedAndWaiterCancel(t *testing.T) {
	c := NewCache[string, int](time.Minute, nil, 0)
	boom := errors.New("boom")
	_, err := c.Get(t.Context(), "a", func(context.Context) (int, error) { return 0, boom })
	require.ErrorIs(t, err, boom)
	require.Zero(t, c.Len())
	v, err := c.Get(t.Context(), "a", func(context.Context) (int, error) { return 7, nil })
	require.NoError(t, err)
	require.Equal(t, 7, v)

	block := make(chan struct{})
	go func() {
		_, _ = c.Refresh(context.Background(), "b", func(context.Context) (int, error) { <-block; return 1, nil })
	}()
	require.Eventually(t, func() bool { return c.Len() == 2 }, time.Second, time.Millisecond)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = c.Get(ctx, "b", func(context.Context) (int, error) { return 2, nil })
	require.ErrorIs(t, err, context.Canceled, "a waiter gives up on its own context")
	close(block)
}

func TestMonitorHealthCachedSingleLoad(t *testing.T) {
	clk := newFakeClock(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
	src := newFakeSource()
	src.add("a", "Acme", activeUsage(clk.Now()))
	src.delay = 20 * time.Millisecond
	m := New(src, nil, &Options{Now: clk.Now})
	_, err := m.Health(t.Context(), "a")
	require.NoError(t, err)
	require.Equal(t, int64(1), src.loads.Load())
	clk.Advance(DefaultTTL)
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			h, err := m.Health(t.Context(), "a")
			assert.NoError(t, err)
			assert.Equal(t, tenant.ID("a"), h.ID())
		})
	}
	wg.Wait()
	require.Equal(t, int64(2), src.loads.Load(), "one Source load for 100 goroutines at expiry")
	_, err = m.Health(t.Context(), "nope")
	require.ErrorIs(t, err, ErrUnknownTenant)
}

func TestMonitorAllSortsAtRiskAndSurvivesSourceErrors(t *testing.T) {
	clk := newFakeClock(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
	rec := NewRecorder(&RecorderOptions{Now: clk.Now})
	src := newFakeSource()
	now := clk.Now()
	src.add("ok", "Healthy Co", activeUsage(now))
	full := activeUsage(now)
	full.StorageBytes = 990
	src.add("full", "Full Co", full)
	dead := activeUsage(now)
	dead.Subscription.Active = false
	src.add("dead", "Lapsed Co", dead)
	src.add("broken", "Broken Co", activeUsage(now))
	src.failing["broken"] = true
	src.add("idle", "Idle Co", activeUsage(now))
	for range 50 {
		rec.Record("ok", now, 5*time.Millisecond, false)
	}
	m := New(src, rec, nil)
	all, err := m.All(t.Context())
	require.NoError(t, err)
	require.Len(t, all, 5)
	ids := []tenant.ID{}
	for _, h := range all {
		ids = append(ids, h.ID())
	}
	require.Equal(t, []tenant.ID{"broken", "dead", "full", "ok", "idle"}, ids)
	require.True(t, all[0].Result.AtRisk)
	require.Equal(t, BandUnknown, all[0].Result.Band)
	require.NotEmpty(t, all[0].Error)
	require.True(t, all[1].Result.AtRisk)
	require.False(t, all[2].Result.AtRisk, "80 is not below 70 and storage is a warning")
	risk := AtRisk(all)
	require.Len(t, risk, 2)

	b, err := json.Marshal(all)
	require.NoError(t, err, "every tenant, idle and broken included, encodes")
	var decoded []map[string]any
	require.NoError(t, json.Unmarshal(b, &decoded))
	require.Len(t, decoded, 5)

	p := Paginate(all, 2, 2)
	require.Equal(t, 5, p.Total)
	require.Len(t, p.Items, 2)
	require.Equal(t, tenant.ID("full"), p.Items[0].ID())
	require.Empty(t, Paginate(all, 9, 2).Items)
	require.NotNil(t, Paginate(all, 9, 2).Items)
	d, at := m.LastEvaluation()
	require.Positive(t, d)
	require.False(t, at.IsZero())
}

func TestUptimeReflectsNineHourGap(t *testing.T) {
	start := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	clk := newFakeClock(start)
	rec := NewRecorder(&RecorderOptions{Now: clk.Now})
	// 24 hours: traffic in 15 of them, nothing from 06:00 to 15:00.
	for h := 0; h < 24; h++ {
		if h >= 6 && h < 15 {
			continue
		}
		for i := 0; i < 3; i++ {
			rec.Record("a", start.Add(time.Duration(h)*time.Hour+time.Duration(i)*time.Minute), time.Millisecond, false)
		}
	}
	clk.Set(start.Add(24*time.Hour + 30*time.Minute))
	src := newFakeSource()
	src.add("a", "A", activeUsage(clk.Now()))
	m := New(src, rec, nil)
	h, err := m.Health(t.Context(), "a")
	require.NoError(t, err)
	s := h.Snapshot
	require.Equal(t, 24, s.ObservedHours)
	require.Equal(t, 15, s.UpHours)
	require.True(t, s.UptimePercent.Valid)
	require.InDelta(t, 62.5, s.UptimePercent.V, 1e-9, "9 silent hours of 24 count as down")

	// An hour where most requests failed is down too.
	rec.Record("a", clk.Now().Add(-time.Hour), time.Millisecond, true)
	rec.Record("a", clk.Now().Add(-time.Hour), time.Millisecond, true)
	st := rec.Stats("a", start, start.Add(23*time.Hour))
	require.Equal(t, 15, st.UpHours, "the 23:00 hour now has 2 errors in 5 requests: still up (≤ half)")
	rec.Record("a", clk.Now().Add(-time.Hour), time.Millisecond, true)
	st = rec.Stats("a", start, start.Add(23*time.Hour))
	require.Equal(t, 15, st.UpHours, "3 errors in 6 requests: exactly half, still up")
	rec.Record("a", clk.Now().Add(-time.Hour), time.Millisecond, true)
	st = rec.Stats("a", start, start.Add(23*time.Hour))
	require.Equal(t, 14, st.UpHours, "4 errors in 7 requests: down")
}

func TestUptimeIgnoresHoursBeforeRecorderExisted(t *testing.T) {
	start := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	clk := newFakeClock(start)
	rec := NewRecorder(&RecorderOptions{Now: clk.Now})
	rec.Record("a", start.Add(time.Minute), time.Millisecond, false)
	clk.Advance(2*time.Hour + time.Minute)
	src := newFakeSource()
	src.add("a", "A", activeUsage(clk.Now()))
	h, err := New(src, rec, nil).Health(t.Context(), "a")
	require.NoError(t, err)
	require.Equal(t, 2, h.Snapshot.ObservedHours)
	require.Equal(t, 1, h.Snapshot.UpHours)
}

func TestTrendsBerlinDSTThirtyDates(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	// 10 April: the last 30 days include 29 March, when Berlin skips 02:00.
	now := time.Date(2026, 4, 10, 0, 30, 0, 0, berlin)
	clk := newFakeClock(now)
	src := newFakeSource()
	src.add("a", "A", activeUsage(now))
	// A storage reading every 12 hours, except 20..22 March (a gap), and
	// one just before midnight on the DST day.
	for ts := now.AddDate(0, 0, -40); ts.Before(now); ts = ts.Add(12 * time.Hour) {
		if d := ts.In(berlin); d.Month() == 3 && d.Day() >= 20 && d.Day() <= 22 {
			continue
		}
		src.history["a"] = append(src.history["a"],
			Sample{At: ts, Metric: MetricStorage, Value: float64(ts.Unix())},
			Sample{At: ts, Metric: MetricAPICalls, Value: 10})
	}
	src.history["a"] = append(src.history["a"], Sample{At: time.Date(2026, 3, 29, 23, 59, 0, 0, berlin), Metric: MetricUsers, Value: 42})
	m := New(src, nil, &Options{Now: clk.Now, Location: berlin})
	tr, err := m.Trends(t.Context(), "a", 30)
	require.NoError(t, err)
	require.Len(t, tr.Dates, 30)
	seen := map[string]bool{}
	for i, d := range tr.Dates {
		require.False(t, seen[d], "duplicate date %s", d)
		seen[d] = true
		if i > 0 {
			prev, _ := time.ParseInLocation(time.DateOnly, tr.Dates[i-1], berlin)
			cur, _ := time.ParseInLocation(time.DateOnly, d, berlin)
			require.Equal(t, prev.AddDate(0, 0, 1), cur, "consecutive dates")
		}
	}
	require.Equal(t, "2026-03-12", tr.Dates[0])
	require.Equal(t, "2026-04-10", tr.Dates[29])
	require.Contains(t, tr.Dates, "2026-03-29")
	for _, s := range [][]Value{tr.Storage, tr.APICalls, tr.Users, tr.LatencyP95MS} {
		require.Len(t, s, 30)
	}
	i20 := indexOf(tr.Dates, "2026-03-20")
	require.False(t, tr.Storage[i20].Valid, "a day without samples is a gap, not 0")
	require.False(t, tr.APICalls[i20].Valid)
	i19 := indexOf(tr.Dates, "2026-03-19")
	require.True(t, tr.Storage[i19].Valid)
	require.Equal(t, 20.0, tr.APICalls[i19].V, "two samples of 10 in the day are summed")
	require.Equal(t, 42.0, tr.Users[indexOf(tr.Dates, "2026-03-29")].V, "23:59 on the 23-hour day stays on that day")
	b, err := json.Marshal(tr)
	require.NoError(t, err)
	require.Contains(t, string(b), "null")
	_, err = m.Trends(t.Context(), "a", 0)
	require.ErrorIs(t, err, ErrBadDays)
}

func TestTrendsAutumnDSTAndTodayFromRecorder(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	now := time.Date(2026, 10, 26, 12, 0, 0, 0, berlin) // the day after the 25-hour day
	clk := newFakeClock(now.Add(-48 * time.Hour))
	rec := NewRecorder(&RecorderOptions{Now: clk.Now, Location: berlin})
	clk.Set(now)
	for range 7 {
		rec.Record("a", now.Add(-time.Hour), 10*time.Millisecond, false)
	}
	src := newFakeSource()
	src.add("a", "A", activeUsage(now))
	m := New(src, rec, nil)
	tr, err := m.Trends(t.Context(), "a", 3)
	require.NoError(t, err)
	require.Equal(t, []string{"2026-10-24", "2026-10-25", "2026-10-26"}, tr.Dates)
	require.Equal(t, 7.0, tr.APICalls[2].V, "today's calls from the Recorder")
	require.True(t, tr.LatencyP95MS[2].Valid)
	require.False(t, tr.APICalls[1].Valid, "yesterday is not covered by the Recorder: a gap")
}

func TestSnapshotAPICallsTodayTokyoFromRecorder(t *testing.T) {
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	clk := newFakeClock(time.Date(2026, 6, 1, 12, 0, 0, 0, tokyo))
	rec := NewRecorder(&RecorderOptions{Now: clk.Now, Location: tokyo})
	clk.Set(time.Date(2026, 6, 1, 23, 50, 0, 0, tokyo))
	for range 4 {
		rec.Record("a", clk.Now(), time.Millisecond, false)
	}
	src := newFakeSource()
	u := activeUsage(clk.Now())
	u.APICallsToday = -1 // the application does not count: use the Recorder
	u.APICallsQuota = 4
	src.add("a", "A", u)
	m := New(src, rec, &Options{TTL: time.Nanosecond})
	h, err := m.Health(t.Context(), "a")
	require.NoError(t, err)
	require.Equal(t, int64(4), h.Snapshot.APICallsToday)
	require.True(t, h.Snapshot.APICallsFromRecorder)
	require.Equal(t, 100.0, h.Snapshot.APIPercent.V)
	clk.Set(time.Date(2026, 6, 2, 0, 5, 0, 0, tokyo))
	h, err = m.Health(t.Context(), "a")
	require.NoError(t, err)
	require.Equal(t, int64(0), h.Snapshot.APICallsToday, "reset at Tokyo midnight")
	require.Equal(t, uint64(4), h.Snapshot.Requests, "the 24 h window still has them")
}

func TestAccessAttemptsGrouped(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	src := newFakeSource()
	src.add("a", "A", activeUsage(now))
	for i := range 3 {
		src.attempts = append(src.attempts, AccessAttempt{At: now.Add(-time.Duration(i) * time.Hour), Source: "b", Target: "a", Reason: "tenant_mismatch"})
	}
	src.attempts = append(src.attempts,
		AccessAttempt{At: now.Add(-2 * time.Hour), Source: "c", Target: "a", Reason: "tenant_mismatch"},
		AccessAttempt{At: now.Add(-25 * time.Hour), Source: "d", Target: "a"},
	)
	m := New(src, nil, &Options{Now: func() time.Time { return now }})
	gs, err := m.AccessAttempts(t.Context())
	require.NoError(t, err)
	require.Len(t, gs, 2, "the attempt 25 h ago is outside the window")
	require.Equal(t, AccessGroup{Source: "b", Target: "a", Count: 3, First: now.Add(-2 * time.Hour), Last: now, Reasons: []string{"tenant_mismatch"}}, gs[0])
	require.Equal(t, 1, gs[1].Count)

	plain := New(struct{ Source }{src}, nil, nil)
	gs, err = plain.AccessAttempts(t.Context())
	require.ErrorIs(t, err, ErrNoAccessSource)
	require.NotNil(t, gs)
}

func indexOf(xs []string, x string) int {
	for i, v := range xs {
		if v == x {
			return i
		}
	}
	panic(fmt.Sprintf("%q not in %v", x, xs))
}
