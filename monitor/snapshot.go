package monitor

import (
	"time"

	"github.com/tenantkit/tenantkit/tenant"
)

// Window is the period a Snapshot's traffic figures cover: the last 24 hour
// slots, the current one included.
const Window = 24 * time.Hour

// Snapshot is one tenant's state at one instant: the application's Usage
// combined with what the Recorder saw. Percentages are 0..100 (and may exceed
// 100 when a quota is overrun); every figure that cannot be computed is an
// absent Value, never NaN.
type Snapshot struct {
	Tenant tenant.Tenant `json:"tenant"`
	At     time.Time     `json:"at"`

	StorageBytes      int64 `json:"storage_bytes"`
	StorageQuotaBytes int64 `json:"storage_quota_bytes"`
	StoragePercent    Value `json:"storage_percent"`

	APICallsToday int64 `json:"api_calls_today"`
	APICallsQuota int64 `json:"api_calls_quota"`
	APIPercent    Value `json:"api_percent"`
	// APICallsFromRecorder reports that the Source did not count calls, so
	// APICallsToday is the Recorder's count since local midnight.
	APICallsFromRecorder bool `json:"api_calls_from_recorder"`

	Users        int64 `json:"users"`
	MaxUsers     int64 `json:"max_users"`
	UsersPercent Value `json:"users_percent"`

	// Requests and Errors (status ≥ 500) over Window.
	Requests     uint64 `json:"requests"`
	Errors       uint64 `json:"errors"`
	ErrorPercent Value  `json:"error_percent"`

	// Latency over Window (6-hour resolution; see Stats.Latency), in ms.
	LatencyP50MS  Value     `json:"latency_p50_ms"`
	LatencyP95MS  Value     `json:"latency_p95_ms"`
	LatencyP99MS  Value     `json:"latency_p99_ms"`
	LatencyMeanMS Value     `json:"latency_mean_ms"` // bucket-midpoint estimate
	Latency       Histogram `json:"-"`

	// UptimePercent is UpHours / ObservedHours over the 24 complete hours
	// before the current one; absent when none could be observed.
	UptimePercent Value `json:"uptime_percent"`
	UpHours       int   `json:"up_hours"`
	ObservedHours int   `json:"observed_hours"`

	LastActivity time.Time `json:"last_activity,omitzero"`

	Subscription Subscription `json:"subscription"`
	// DaysUntilExpiry counts calendar days in the Monitor's zone from today
	// to the subscription's end date (0 = ends today, negative = ended);
	// absent for an open-ended subscription.
	DaysUntilExpiry Value `json:"days_until_expiry"`
}

func percent(used, quota int64) Value {
	if quota <= 0 {
		return Value{}
	}
	return Some(float64(used) / float64(quota) * 100)
}

// NewSnapshot combines u with the recorded stats of t at instant at in loc.
// rec may be nil (no traffic data: every traffic figure is absent).
func NewSnapshot(t tenant.Tenant, u Usage, rec *Recorder, at time.Time, loc *time.Location) Snapshot {
	if loc == nil {
		loc = time.UTC
	}
	s := Snapshot{
		Tenant:            t,
		At:                at,
		StorageBytes:      u.StorageBytes,
		StorageQuotaBytes: u.StorageQuotaBytes,
		StoragePercent:    percent(u.StorageBytes, u.StorageQuotaBytes),
		APICallsToday:     u.APICallsToday,
		APICallsQuota:     u.APICallsQuota,
		Users:             u.Users,
		MaxUsers:          u.MaxUsers,
		UsersPercent:      percent(u.Users, u.MaxUsers),
		Subscription:      u.Subscription,
		LastActivity:      u.LastActivity,
	}
	if rec != nil {
		win := rec.Stats(t.ID, at.Add(-Window+time.Hour), at)
		s.Requests, s.Errors, s.Latency = win.Requests, win.Errors, win.Latency
		up := rec.Stats(t.ID, at.Add(-Window), at.Add(-time.Hour))
		s.UpHours, s.ObservedHours = up.UpHours, up.Hours
		if up.Hours > 0 {
			s.UptimePercent = Some(float64(up.UpHours) / float64(up.Hours) * 100)
		}
		if win.LastActivity.After(s.LastActivity) {
			s.LastActivity = win.LastActivity
		}
		if u.APICallsToday < 0 {
			s.APICallsToday = int64(rec.Stats(t.ID, StartOfDay(at, loc), at).Requests)
			s.APICallsFromRecorder = true
		}
	} else if s.APICallsToday < 0 {
		s.APICallsToday = 0
	}
	s.APIPercent = percent(s.APICallsToday, s.APICallsQuota)
	if s.Requests > 0 {
		s.ErrorPercent = Some(float64(s.Errors) / float64(s.Requests) * 100)
	}
	s.LatencyP50MS = s.Latency.Quantile(0.50)
	s.LatencyP95MS = s.Latency.Quantile(0.95)
	s.LatencyP99MS = s.Latency.Quantile(0.99)
	s.LatencyMeanMS = s.Latency.Mean()
	if !u.Subscription.EndsAt.IsZero() {
		s.DaysUntilExpiry = Some(float64(daysBetween(at, u.Subscription.EndsAt, loc)))
	}
	return s
}

// daysBetween returns the number of calendar days in loc from a's date to
// b's date, exact across DST changes.
func daysBetween(a, b time.Time, loc *time.Location) int {
	ya, ma, da := a.In(loc).Date()
	yb, mb, db := b.In(loc).Date()
	ua := time.Date(ya, ma, da, 0, 0, 0, 0, time.UTC)
	ub := time.Date(yb, mb, db, 0, 0, 0, 0, time.UTC)
	return int(ub.Sub(ua) / (24 * time.Hour))
}
