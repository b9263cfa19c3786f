package ratelimit_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tenantkit/tenantkit/ratelimit"
)

// Where a zone change sets the clock back onto or across local midnight,
// the wall time 00:00 (or the whole previous date) is read twice. The
// period of every instant must still contain it, and consecutive periods
// must meet: start ≤ t < next, and the period after [start, next) starts
// at next.
func TestReviewPeriodBoundsClockBackOverMidnight(t *testing.T) {
	zone := func(name string) *time.Location {
		loc, err := time.LoadLocation(name)
		require.NoError(t, err)
		return loc
	}
	cases := []struct {
		name string
		loc  *time.Location
		at   time.Time // the instant of the change
	}{
		// 01:00 EEST → 00:00 EET: midnight read twice.
		{"Asia/Amman 2021", zone("Asia/Amman"), time.Date(2021, 10, 28, 22, 0, 0, 0, time.UTC)},
		// 03:00 +11 → 00:00 +08: 00:00–03:00 read twice.
		{"Antarctica/Casey 2023", zone("Antarctica/Casey"), time.Date(2023, 3, 8, 16, 0, 0, 0, time.UTC)},
		// 00:01 NDT → 23:01 NST: the previous date read again after midnight.
		{"America/St_Johns 2009", zone("America/St_Johns"), time.Date(2009, 11, 1, 2, 31, 0, 0, time.UTC)},
		// 2011-12-30 skipped entirely.
		{"Pacific/Apia 2011", zone("Pacific/Apia"), time.Date(2011, 12, 30, 10, 0, 0, 0, time.UTC)},
	}
	for _, tc := range cases {
		for _, p := range []ratelimit.QuotaPeriod{ratelimit.Day, ratelimit.Month} {
			q := ratelimit.Quota{Name: "api", Period: p, Location: tc.loc}
			for _, off := range []time.Duration{-25 * time.Hour, -3*time.Hour - time.Nanosecond, -time.Hour, -time.Nanosecond, 0, time.Nanosecond, time.Hour, 3 * time.Hour, 25 * time.Hour} {
				at := tc.at.Add(off)
				start, next := q.PeriodBounds(at)
				require.False(t, at.Before(start), "%s p=%d at %v: start %v is after it", tc.name, p, at.In(tc.loc), start.In(tc.loc))
				require.True(t, at.Before(next), "%s p=%d at %v: next %v is not after it", tc.name, p, at.In(tc.loc), next.In(tc.loc))
				s2, _ := q.PeriodBounds(next)
				require.True(t, s2.Equal(next), "%s p=%d at %v: the period after ends at %v starts at %v", tc.name, p, at.In(tc.loc), next.In(tc.loc), s2.In(tc.loc))
			}
		}
	}
}

// A day quota in a zone whose clock goes back onto or across midnight: a
// tenant that uses its whole day just after midnight is denied until the
// next day's midnight, with that wait as RetryAfter, on the memory store.
func TestReviewMemoryQuotaClockBackOverMidnight(t *testing.T) {
	zone := func(name string) *time.Location {
		loc, err := time.LoadLocation(name)
		require.NoError(t, err)
		return loc
	}
	amman, stJohns := zone("Asia/Amman"), zone("America/St_Johns")
	cases := []struct {
		name     string
		now      time.Time
		loc      *time.Location
		nextDay  time.Time
		nextFrom time.Time // a later instant of the same day
	}{
		// 00:30 EEST, the first pass of midnight.
		{"Asia/Amman", time.Date(2021, 10, 28, 21, 30, 0, 0, time.UTC), amman,
			time.Date(2021, 10, 30, 0, 0, 0, 0, amman), time.Date(2021, 10, 29, 12, 0, 0, 0, amman)},
		// 23:30 NST on Oct 31 again, after November 1st began at 00:00 NDT.
		{"America/St_Johns", time.Date(2009, 11, 1, 3, 0, 0, 0, time.UTC), stJohns,
			time.Date(2009, 11, 2, 0, 0, 0, 0, stJohns), time.Date(2009, 11, 1, 12, 0, 0, 0, stJohns)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newFakeClock(tc.now)
			m := ratelimit.NewMemory(&ratelimit.MemoryOptions{Now: c.Now})
			q := ratelimit.Quota{Name: "api", Period: ratelimit.Day, Max: 5, Location: tc.loc}
			req := ratelimit.Request{Key: "k", Limit: ratelimit.Limit{Rate: 1000, Period: time.Second}, Quotas: []ratelimit.Quota{q}}
			var d ratelimit.Decision
			for range 5 {
				require.NoError(t, m.Take(t.Context(), &req, &d))
				require.True(t, d.Allowed)
			}
			require.True(t, d.Quotas[0].ResetAt.Equal(tc.nextDay), "ResetAt %v, want %v", d.Quotas[0].ResetAt.In(tc.loc), tc.nextDay)
			require.NoError(t, m.Take(t.Context(), &req, &d))
			require.False(t, d.Allowed)
			require.Equal(t, tc.nextDay.Sub(c.Now()), d.RetryAfter, "a quota denial waits until the next day")
			c.Set(tc.nextFrom)
			require.NoError(t, m.Take(t.Context(), &req, &d))
			require.False(t, d.Allowed, "later the same day the quota is still used up")
			require.EqualValues(t, 5, d.Quotas[0].Used)
		})
	}
}

// Every zone of the system's time zone database, around every offset change
// from 1990 to 2040: each instant lies in its own period, and consecutive
// periods meet (the period after [start, next) starts at next).
func TestPeriodBoundsEveryZoneChange(t *testing.T) {
	const dir = "/usr/share/zoneinfo"
	var names []string
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if e.IsDir() {
			if rel == "posix" || rel == "right" || rel == "Etc" {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.Contains(rel, ".") || !e.Type().IsRegular() {
			return nil // zone.tab, tzdata.zi and the like
		}
		names = append(names, rel)
		return nil
	})
	if err != nil || len(names) == 0 {
		if os.Getenv("CI") != "" {
			t.Fatalf("no time zone database at %s (install tzdata): %v", dir, err)
		}
		t.Skipf("no time zone database at %s: %v", dir, err)
	}
	from, until := time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC)
	offsets := []time.Duration{-25 * time.Hour, -3 * time.Hour, -time.Hour, -time.Nanosecond, 0, time.Nanosecond, time.Hour, 3 * time.Hour, 25 * time.Hour}
	zones, changes := 0, 0
	for _, name := range names {
		loc, err := time.LoadLocation(name)
		if err != nil {
			continue // not a zone file
		}
		zones++
		for at := from; at.Before(until); {
			_, end := at.In(loc).ZoneBounds()
			if end.IsZero() {
				break
			}
			at = end
			changes++
			for _, p := range []ratelimit.QuotaPeriod{ratelimit.Day, ratelimit.Month} {
				q := ratelimit.Quota{Period: p, Location: loc}
				for _, off := range offsets {
					x := at.Add(off)
					start, next := q.PeriodBounds(x)
					if x.Before(start) || !x.Before(next) {
						t.Fatalf("%s p=%d at %v: period [%v, %v) does not hold it", name, p, x.In(loc), start.In(loc), next.In(loc))
					}
					if s2, _ := q.PeriodBounds(next); !s2.Equal(next) {
						t.Fatalf("%s p=%d at %v: the period after one ending %v starts at %v", name, p, x.In(loc), next.In(loc), s2.In(loc))
					}
				}
			}
		}
	}
	require.Greater(t, zones, 300, "zones read from %s", dir)
	t.Logf("%d zones, %d offset changes", zones, changes)
}
