package monitor

import (
	"context"
	"math"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tenantkit/tenantkit/tenant"
)

// A load that panics must not leave its key wedged in flight: the next Get
// loads again instead of waiting forever for a flight that never ends.
func TestReviewCachePanickingLoadDoesNotWedgeKey(t *testing.T) {
	c := NewCache[string, int](time.Minute, nil, 0)
	require.Panics(t, func() {
		_, _ = c.Get(t.Context(), "k", func(context.Context) (int, error) { panic("source bug") })
	})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	v, err := c.Get(ctx, "k", func(context.Context) (int, error) { return 7, nil })
	require.NoError(t, err)
	require.Equal(t, 7, v)

	// A caller waiting on the panicking flight gets an error, not a hang.
	synctest.Test(t, func(t *testing.T) {
		c := NewCache[string, int](time.Minute, nil, 0)
		release := make(chan struct{})
		panicked := make(chan any, 1)
		go func() {
			defer func() { panicked <- recover() }()
			_, _ = c.Get(context.Background(), "k", func(context.Context) (int, error) {
				<-release
				panic("source bug")
			})
		}()
		synctest.Wait() // the load is in flight
		waited := make(chan error, 1)
		go func() {
			_, err := c.Get(context.Background(), "k", func(context.Context) (int, error) { return 8, nil })
			waited <- err
		}()
		synctest.Wait() // the second caller waits on the flight
		close(release)
		require.Equal(t, "source bug", <-panicked)
		require.ErrorIs(t, <-waited, errLoadPanicked)
	})
}

// A page number so large that (page-1)*perPage overflows must give an empty
// page, never wrap around to the first items.
func TestReviewPaginateHugePageDoesNotWrap(t *testing.T) {
	items := make([]int, 100)
	for i := range items {
		items[i] = i
	}
	for _, tc := range []struct{ page, per int }{
		{1<<58 + 1, 64},
		{math.MaxInt, 500},
		{math.MaxInt / 2, 2},
	} {
		p := Paginate(items, tc.page, tc.per)
		require.Empty(t, p.Items, "page %d per %d", tc.page, tc.per)
		require.NotNil(t, p.Items)
		require.Equal(t, 100, p.Total)
	}
	p := Paginate(items, -5, -1)
	require.Equal(t, 1, p.Page)
	require.Equal(t, 50, p.PerPage)
	require.Len(t, p.Items, 50)
	p = Paginate(items, 3, 40)
	require.Equal(t, []int{80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 92, 93, 94, 95, 96, 97, 98, 99}, p.Items)
}

// Weights that sum past the int range must still clamp to 0, not wrap.
func TestReviewScoreClampsHugeWeights(t *testing.T) {
	fail := func(*Snapshot) Check { return Check{OutcomeFail, "bad"} }
	sc, err := NewScorer([]Rule{
		{Code: "a", Weight: math.MaxInt, Check: fail},
		{Code: "b", Weight: math.MaxInt, Check: fail},
		{Code: "c", Weight: 3, Check: fail},
	}, nil)
	require.NoError(t, err)
	r := sc.Score(&Snapshot{})
	require.Equal(t, 0, r.Score)
	require.Equal(t, BandCritical, r.Band)
	require.True(t, r.AtRisk)
}

// A tenant whose usage cannot be read has not "cleared" its conditions: a
// firing alert must stay firing (no resolved notification) while the Source
// fails, and not fire a second time when the Source recovers.
func TestReviewSourceErrorDoesNotResolveFiringAlert(t *testing.T) {
	clk, src, m := alertFixture(t)
	n := &recordingNotifier{}
	al, err := NewAlerter(m, []AlertRule{RuleFailing(CodeSubscriptionInactive, SeverityCritical, 0)}, &AlerterOptions{Notifier: n})
	require.NoError(t, err)
	setActive(src, "a", false)
	require.NoError(t, al.Evaluate(t.Context()))
	got := n.alerts()
	require.Len(t, got, 1)
	require.Equal(t, StateFiring, got[0].State)

	src.mu.Lock()
	src.failing[tenant.ID("a")] = true
	src.mu.Unlock()
	for range 3 {
		clk.Advance(time.Minute)
		require.NoError(t, al.Evaluate(t.Context()))
	}
	require.Len(t, n.alerts(), 1, "an unreadable tenant is not a resolved one: %+v", n.alerts())
	require.Len(t, al.Active(), 1)

	src.mu.Lock()
	src.failing[tenant.ID("a")] = false
	src.mu.Unlock()
	clk.Advance(time.Minute)
	require.NoError(t, al.Evaluate(t.Context()))
	require.Len(t, n.alerts(), 1, "still the same firing alert: %+v", n.alerts())

	setActive(src, "a", true)
	clk.Advance(time.Minute)
	require.NoError(t, al.Evaluate(t.Context()))
	got = n.alerts()
	require.Len(t, got, 2)
	require.Equal(t, StateResolved, got[1].State)
}

// In zones where DST starts at midnight (America/Santiago today,
// America/Sao_Paulo until 2019) local midnight of the change day does not
// exist. Trends must still have one point per date, in order, and the day
// must start on that date, not an hour into the previous one.
func TestReviewTrendsDSTAtMidnight(t *testing.T) {
	for _, c := range []struct {
		zone   string
		now    time.Time
		change string // the date without a midnight
	}{
		{"America/Santiago", time.Date(2024, 9, 20, 12, 0, 0, 0, time.UTC), "2024-09-08"},
		{"America/Sao_Paulo", time.Date(2018, 11, 20, 12, 0, 0, 0, time.UTC), "2018-11-04"},
	} {
		t.Run(c.zone, func(t *testing.T) {
			loc, err := time.LoadLocation(c.zone)
			require.NoError(t, err)
			b := DayBounds(c.now, 30, loc)
			tr := BuildTrends("x", nil, b, loc)
			require.Len(t, tr.Dates, 30)
			for i := 1; i < len(tr.Dates); i++ {
				require.Less(t, tr.Dates[i-1], tr.Dates[i], "dates %v", tr.Dates)
			}
			require.Contains(t, tr.Dates, c.change)
			for i := range 30 {
				require.Equal(t, tr.Dates[i], b[i].In(loc).Format(time.DateOnly), "bound %d starts on its own date", i)
				require.True(t, b[i].Before(b[i+1]))
			}
			day, err := time.ParseInLocation(time.DateOnly, c.change, time.UTC)
			require.NoError(t, err)
			noon := time.Date(day.Year(), day.Month(), day.Day(), 12, 0, 0, 0, loc)
			sod := StartOfDay(noon, loc)
			require.Equal(t, c.change, sod.In(loc).Format(time.DateOnly), "StartOfDay stays on the day")
			require.Equal(t, 1, sod.In(loc).Hour(), "the day starts at the transition, 01:00")
		})
	}
}

// With nothing visible there is no data and so no data age: the page must
// not hand the script year 1's timestamp (rendered as millions of hours).
func TestReviewIndexWithoutDataShowsNoAge(t *testing.T) {
	f := newDashFixture(t)
	f.token["ghost"] = Viewer{Name: "ghost", Tenants: []tenant.ID{"no-such-tenant"}}
	code, body, _ := f.get(t, "ghost", "/")
	require.Equal(t, 200, code)
	require.Contains(t, body, "No tenants to show.")
	require.NotContains(t, body, `data-asof="-`)
	require.NotContains(t, body, "0001-01-01")
	require.Contains(t, body, "no data")
}

// Hours the ring no longer holds (older than 26 hours) or that have not
// happened yet cannot be observed: they must not count as down hours.
func TestReviewStatsObservesOnlyHoursTheRingHolds(t *testing.T) {
	clk := newFakeClock(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC))
	rec := NewRecorder(&RecorderOptions{Now: clk.Now})
	for range 72 {
		rec.Record("a", clk.Now(), time.Millisecond, false)
		clk.Advance(time.Hour)
	}
	rec.Record("a", clk.Now(), time.Millisecond, false)
	now := clk.Now()
	st := rec.Stats("a", now.Add(-48*time.Hour), now)
	require.LessOrEqual(t, st.Hours, 26)
	require.Equal(t, st.Hours, st.UpHours, "a tenant up every hour is up in every observable hour")
	st = rec.Stats("a", now.Add(-time.Hour), now.Add(10*time.Hour))
	require.Equal(t, 2, st.Hours, "future hours are not observed")
	require.Equal(t, 2, st.UpHours)
}
