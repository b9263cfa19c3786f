package monitor

import (
	"context"
	"time"

	"github.com/tenantkit/tenantkit/tenant"
)

// Source is what the application tells the monitor about its tenants: who
// they are and how much of their quotas they use. Implementations query the
// application's own tables; the monitor caches what they return (see
// Options.TTL), so a Source may be slow but must be correct.
//
// Optional powers are separate interfaces found by type assertion:
// HistorySource (trends) and AccessSource (cross-tenant access attempts).
type Source interface {
	// Tenants lists the tenants to monitor.
	Tenants(ctx context.Context) ([]tenant.Tenant, error)
	// Usage reports one tenant's usage. An error fails that tenant's
	// health, not the whole list.
	Usage(ctx context.Context, id tenant.ID) (Usage, error)
}

// Usage is one tenant's resource usage and subscription as the application
// knows it. A quota of 0 (or less) means "no quota": the percentage is
// absent and the quota rule does not apply.
type Usage struct {
	StorageBytes      int64
	StorageQuotaBytes int64
	// APICallsToday counts calls since local midnight (the Monitor's
	// Location). Negative means the application does not count them: the
	// Recorder's count since local midnight is used instead.
	APICallsToday int64
	APICallsQuota int64 // daily quota
	Users         int64
	MaxUsers      int64
	Subscription  Subscription
	// LastActivity is the application's idea of the tenant's last activity
	// (a login, a write); the Snapshot reports the later of it and the
	// Recorder's last request.
	LastActivity time.Time
}

// Subscription is a tenant's plan subscription.
type Subscription struct {
	Status string    `json:"status"`           // free text from the application, e.g. "active", "past_due"
	Active bool      `json:"active"`           // whether the tenant currently has an active subscription
	EndsAt time.Time `json:"ends_at,omitzero"` // zero when open-ended
}

// Metric names a series in trends and history.
type Metric string

// The trend metrics and how samples of one calendar day combine into the
// day's point.
const (
	MetricStorage   Metric = "storage_bytes" // level: the day's last sample
	MetricUsers     Metric = "users"         // level: the day's last sample
	MetricAPICalls  Metric = "api_calls"     // count: samples of the day are summed
	MetricLatencyMS Metric = "latency_p95_ms"
	// MetricLatencyMS samples are averaged over the day.
)

// Sample is one historical reading of a metric for a tenant.
type Sample struct {
	At     time.Time
	Metric Metric
	Value  float64
}

// HistorySource is the optional Source power behind Trends: the application
// returns the samples it keeps (daily rollups, audit rows, growth tables) of
// tenant id in [from, to). Samples may come in any order; non-finite values
// are ignored.
type HistorySource interface {
	History(ctx context.Context, id tenant.ID, from, to time.Time) ([]Sample, error)
}

// AccessAttempt is one request that presented a credential of one tenant
// against another (tokenscope's tenant mismatch), as recorded by the
// application's audit log.
type AccessAttempt struct {
	At     time.Time
	Source tenant.ID // the tenant the credential belongs to; empty if unknown
	Target tenant.ID // the tenant whose data was requested
	Reason string    // e.g. "tenant_mismatch"
}

// AccessSource is the optional Source power behind AccessAttempts: the
// application returns the attempts recorded at or after since.
type AccessSource interface {
	AccessAttempts(ctx context.Context, since time.Time) ([]AccessAttempt, error)
}
