package monitor

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/tenantkit/tenantkit/tenant"
)

// MaxTrendDays bounds the days of one Trends call.
const MaxTrendDays = 366

// Trends is a tenant's daily series over consecutive calendar days. Every
// series has one entry per date; a day without data is an absent Value (JSON
// null), never 0.
type Trends struct {
	TenantID     tenant.ID `json:"tenant_id"`
	Location     string    `json:"location"`
	Dates        []string  `json:"dates"` // YYYY-MM-DD, ascending, consecutive
	Storage      []Value   `json:"storage_bytes"`
	APICalls     []Value   `json:"api_calls"`
	Users        []Value   `json:"users"`
	LatencyP95MS []Value   `json:"latency_p95_ms"`
}

// ErrBadDays reports a days argument out of 1..MaxTrendDays.
var ErrBadDays = errors.New("monitor: trend days out of range")

// Trends returns tenant id's trends over the last days calendar days in the
// Monitor's zone, today included. Days are built with time.Date(y, m, d+i)
// so a 23- or 25-hour DST day is still one date. History comes from the
// Source's HistorySource (without it every past day is a gap); today's API
// calls and latency fall back to the Recorder when the Source has no sample
// for them and the Recorder has run since local midnight.
func (m *Monitor) Trends(ctx context.Context, id tenant.ID, days int) (Trends, error) {
	if days < 1 || days > MaxTrendDays {
		return Trends{}, fmt.Errorf("%w: %d (want 1..%d)", ErrBadDays, days, MaxTrendDays)
	}
	if _, err := m.Lookup(ctx, id); err != nil {
		return Trends{}, err
	}
	now := m.now()
	bounds := DayBounds(now, days, m.loc)
	var samples []Sample
	if hs, ok := m.src.(HistorySource); ok {
		var err error
		samples, err = hs.History(ctx, id, bounds[0], bounds[days])
		if err != nil {
			return Trends{}, fmt.Errorf("monitor: history of %q: %w", id, err)
		}
	}
	tr := BuildTrends(id, samples, bounds, m.loc)
	if m.rec != nil && !m.rec.Created().After(bounds[days-1]) {
		st := m.rec.Stats(id, bounds[days-1], now)
		if !tr.APICalls[days-1].Valid {
			tr.APICalls[days-1] = Some(float64(st.Requests))
		}
		if !tr.LatencyP95MS[days-1].Valid {
			tr.LatencyP95MS[days-1] = st.Latency.Quantile(0.95)
		}
	}
	return tr, nil
}

// DayBounds returns days+1 instants: the local midnights that start each of
// the last days calendar days in loc (today last) and the midnight that ends
// today.
func DayBounds(now time.Time, days int, loc *time.Location) []time.Time {
	y, mo, d := now.In(loc).Date()
	b := make([]time.Time, days+1)
	for i := range b {
		b[i] = midnight(y, mo, d-(days-1)+i, loc)
	}
	return b
}

// BuildTrends buckets samples into the days delimited by bounds (from
// DayBounds): levels (storage, users) take the day's last sample, API calls
// are summed, latency is averaged. Samples outside the bounds or not finite
// are ignored.
func BuildTrends(id tenant.ID, samples []Sample, bounds []time.Time, loc *time.Location) Trends {
	n := len(bounds) - 1
	tr := Trends{
		TenantID: id, Location: loc.String(), Dates: make([]string, n),
		Storage: make([]Value, n), APICalls: make([]Value, n), Users: make([]Value, n), LatencyP95MS: make([]Value, n),
	}
	// Labels are consecutive calendar dates from the first bound's, so a
	// date that has no midnight (or, like Samoa's 2011-12-30, no hours at
	// all) still gets its own label.
	y0, m0, d0 := bounds[0].In(loc).Date()
	for i := range n {
		tr.Dates[i] = time.Date(y0, m0, d0+i, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
	}
	lastAt := map[Metric][]time.Time{MetricStorage: make([]time.Time, n), MetricUsers: make([]time.Time, n)}
	latN := make([]int, n)
	for _, s := range samples {
		if math.IsNaN(s.Value) || math.IsInf(s.Value, 0) {
			continue
		}
		i := sort.Search(n+1, func(k int) bool { return bounds[k].After(s.At) }) - 1
		if i < 0 || i >= n {
			continue
		}
		switch s.Metric {
		case MetricStorage, MetricUsers:
			series := tr.Storage
			if s.Metric == MetricUsers {
				series = tr.Users
			}
			if at := lastAt[s.Metric]; !series[i].Valid || !s.At.Before(at[i]) {
				series[i], at[i] = Some(s.Value), s.At
			}
		case MetricAPICalls:
			tr.APICalls[i] = Some(tr.APICalls[i].V + s.Value)
		case MetricLatencyMS:
			tr.LatencyP95MS[i] = Some(tr.LatencyP95MS[i].V + s.Value)
			latN[i]++
		}
	}
	for i, c := range latN {
		if c > 0 {
			tr.LatencyP95MS[i] = Some(tr.LatencyP95MS[i].V / float64(c))
		}
	}
	return tr
}
