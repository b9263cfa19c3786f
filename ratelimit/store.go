package ratelimit

import (
	"context"
	"time"
)

// Limit is a rate: Rate units per Period, with up to Burst units admitted at
// once. Burst 0 means Burst = Rate. See the package doc for exact semantics.
type Limit struct {
	Name   string        // policy name shown in RateLimit-Policy, e.g. "basic"
	Rate   int           // units per Period; must be > 0
	Period time.Duration // must be > 0
	Burst  int           // 0 means Rate
}

// Result is the outcome of one decision against a Limit.
type Result struct {
	Allowed    bool
	Limit      Limit
	Remaining  int           // units that could be taken right now after this decision
	RetryAfter time.Duration // when denied: wait this long and the same request is admitted; 0 when allowed
	ResetAfter time.Duration // time until the limit is fully replenished
}

// QuotaPeriod is the calendar period of a Quota.
type QuotaPeriod uint8

// Quota periods.
const (
	Day QuotaPeriod = iota + 1
	Month
)

// Quota is a calendar counter (daily or monthly, in a time zone) counted with
// every admitted decision. Max 0 counts without enforcing.
type Quota struct {
	Name     string // e.g. "api_calls"
	Period   QuotaPeriod
	Max      int64          // 0: count only
	Location *time.Location // calendar time zone; nil means UTC
}

// QuotaResult is the state of one Quota after a decision.
type QuotaResult struct {
	Quota   Quota
	Used    int64     // units counted in the current period, including this decision when admitted
	Allowed bool      // false when this decision would exceed Max
	ResetAt time.Time // start of the next period
}

// Request asks a Store to take N units for Key against Limit and, in the same
// atomic step, to count them against each Quota (each Name at most once
// per Period: a name and period is one counter). The decision is
// all-or-nothing: when the limit or any enforcing quota denies, nothing is
// consumed or counted.
type Request struct {
	Key    string
	Limit  Limit
	N      int // units to take; 0 means 1
	Quotas []Quota
}

// reset makes req one unit for key against lim, with no quotas. It assigns
// field by field on purpose: the composite literal Request{Key: key,
// Limit: lim} can be built in a temporary that the compiler copies with
// 16-byte moves reading across the 8-byte stores of Key, which defeats
// store forwarding (about 14 ns per Take in examples/bench, where a
// caller builds a fresh Request for each decision).
func (req *Request) reset(key string, lim Limit) {
	req.Key = key
	req.Limit = lim
	req.N = 0
	req.Quotas = nil
}

// Decision semantics every Store follows (internal/ratelimittest holds them):
//   - Allowed is true only when the limit and every enforcing quota admit.
//   - Remaining and ResetAfter describe the Limit (never a quota) after the
//     decision; a denial consumes nothing.
//   - RetryAfter, when denied, is the exact (nanosecond ceiling) wait after
//     which the same request is admitted if nothing else is taken meanwhile:
//     the larger of the limit's wait and, for each denying quota, the time
//     until its ResetAt.
//   - QuotaResult.Used counts this decision only when it was admitted;
//     QuotaResult.Allowed is evaluated for each quota on its own.
//
// Decision is what a Store answers for a Request. Quotas is in the order of
// Request.Quotas; implementations may reuse the caller-provided slice in
// Decision.Quotas to avoid allocating.
type Decision struct {
	Result
	Quotas []QuotaResult

	// Degraded reports that the decision was made by a fallback (for
	// example a per-instance limiter while a shared backend is down) and
	// is therefore approximate. Stores that never degrade leave it false.
	// A store that admits without deciding at all (failing open) sets
	// Degraded with Allowed true and ResetAfter 0 (which no real admission
	// has): Limiter.Handler then claims no state, setting only
	// RateLimit-Policy, as for its own FailOpen.
	Degraded bool
}

// Store decides requests atomically. Implementations are safe for concurrent
// use and exact under concurrency: across any number of goroutines (and, for
// shared stores, processes) no more than the limit is ever admitted.
//
// Take returns an error wrapping ErrInvalid when req fails Request.Validate
// (nothing is consumed), and an error wrapping ErrUnavailable when the
// backend could not decide; then d is meaningless and the Limiter applies its
// FailPolicy.
type Store interface {
	// Take decides req at the store's notion of now and fills d.
	Take(ctx context.Context, req *Request, d *Decision) error
}
