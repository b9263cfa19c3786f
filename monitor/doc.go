// Package monitor is tenantkit's monitoring and alerting guide and the code
// behind it: per-tenant request recording, health snapshots, a rule-table
// health score, trends, cross-tenant access reports, alerts, a Prometheus
// collector (monitor/prom) and an embedded dashboard.
//
// # Pieces and how they compose with net/http
//
//	rec := monitor.NewRecorder(nil)                 // per-tenant counters, no I/O
//	h = rec.Handler(h)                              // after the tenant is resolved
//	m := monitor.New(mySource, rec, nil)            // Source: your tables
//	al, _ := monitor.NewAlerter(m, nil, &monitor.AlerterOptions{Notifier: monitor.SlogNotifier{Logger: log}})
//	go al.Run(ctx)                                  // periodic evaluation; you own the goroutine
//	dash, _ := monitor.NewDashboard(m, myAuthorizer, &monitor.DashboardOptions{Alerter: al})
//	mux.Handle("/admin/monitor/", http.StripPrefix("/admin/monitor", dash))
//	prometheus.MustRegister(prom.New(m, nil))       // optional, aggregates only
//
// Nothing starts a goroutine or does I/O in a constructor. The Recorder is
// the only part on the request path.
//
// # Recorder: what is recorded, and what it costs
//
// Recorder.Handler reads the tenant with tenant.FromContext, so it must sit
// after the middleware that resolves and authenticates the tenant (in the
// demo: after tokenscope and the plan rate limit, so refused requests are not
// the tenant's traffic). Requests without a tenant pass through, counted in
// Untenanted. A request is a server error when its final status is ≥ 500 or
// the handler panicked (the panic is re-raised, not swallowed); 4xx answers
// are the client's errors and do not count against the tenant's health.
//
// Per tenant the Recorder keeps, in fixed memory (about 800 bytes with its
// table entry, measured by BenchmarkRecorderMemoryPerTenant):
//
//   - 26 hourly slots of request and error counts: the 24 hours of the
//     window, the current hour, and one more so a 25-hour local day (the DST
//     change in autumn) is still whole. Slots are aligned to the configured
//     zone's sub-hour offset, so local midnight is always a slot boundary
//     (Asia/Kolkata's +05:30 included).
//   - 5 latency histograms of 6 hours each, in 19 log₂ buckets from 0.122 ms
//     to 16 s. Bucket 14 ends at exactly 2000 ms, the original design's
//     "slow" threshold, so "p95 above 2000 ms" is decided from whole-bucket
//     counts: exact, not interpolated. Latency is the coarsest part: a
//     window's quantiles merge every 6-hour block that overlaps it, so they
//     may include up to 6 more hours of history.
//   - the time of the last request, to the second.
//
// Counters are atomics found through sharded copy-on-write hash tables that
// readers never lock: one keyed hash of the tenant ID picks both the shard
// and the slot. The response-writer wrapper (which implements Unwrap,
// Flush, FlushError, Hijack and ReadFrom, so http.ResponseController works
// through it) comes from a sync.Pool. With the default clock a request
// costs two monotonic clock reads and no wall-clock read: the hour slot's
// wall time is derived from a base that reads re-synchronise when the wall
// clock is stepped.
// BenchmarkRecorderHandler runs the bare handler beside the Recorder; the
// difference, the Recorder's own cost, is 0 allocations and about 75 ns per
// request on a quiet 2-core VM (about 120 ns when the VM was shared with
// other work), of which about 40 ns are the two clock reads (a monotonic
// read costs about 20 ns there) and about 20 ns tenant.FromContext.
//
// MaxTenants (default 10000) caps tracked tenants: requests of further
// tenants only increment Overflow, so memory is bounded whatever tenant IDs
// arrive. Recorder.Sweep (called by Alerter.Run) drops tenants idle for 26
// hours to make room again. The Recorder is per process: with several
// instances, aggregate through monitor/prom or sum the Sources.
//
// Failure semantics: recording cannot fail and never blocks or rejects a
// request; when the cap is reached the request is served and not recorded.
//
// # Source: what the application provides
//
// Source lists tenants and reports each one's Usage: storage used and quota,
// API calls today and the daily quota, users and maximum users, the
// subscription (status, active, end) and the last activity. A quota ≤ 0
// means "no quota": the percentage is absent and the quota rule does not
// apply. APICallsToday < 0 means the application does not count calls: the
// Recorder's count since local midnight (Options.Location) is used, so the
// "today" of a tenant in Asia/Tokyo resets at Tokyo midnight.
//
// Optional powers, found by type assertion (like database/sql/driver):
// HistorySource returns historical Samples for Trends; AccessSource returns
// cross-tenant access attempts (the demo reads them from its audit_logs
// table, where tokenscope's auditor writes tenant mismatches). monitor never
// imports tokenscope or ratelimit: the application adapts them.
//
// A Source error for one tenant does not fail the list: that tenant's Health
// carries the error, BandUnknown, score 0 and AtRisk, because a tenant nobody
// can see into needs a look. An error listing tenants fails the evaluation.
//
// # Snapshot: the figures, precisely
//
// Every figure that cannot be computed is an absent Value, which encodes as
// JSON null: no API of this package ever produces NaN or Inf.
//
//   - Requests, Errors, ErrorPercent: the last 24 hour slots, current
//     included. ErrorPercent is absent with no requests.
//   - LatencyP50/P95/P99MS: interpolated inside the bucket holding the rank;
//     a quantile in the last (unbounded) bucket reports 16 s, "at least".
//     LatencyMeanMS is a bucket-midpoint estimate.
//   - UptimePercent = UpHours / ObservedHours over the 24 complete hours
//     before the current one. An hour is up when it has at least one request
//     and at most half of them are server errors; an hour without any request
//     is DOWN, not ignored, so 9 silent hours in 24 give 62.5%. Hours that
//     ended before the Recorder was created are not observed (the monitor
//     could not see them; they are excluded, not counted down), and uptime is
//     absent when no hour was observed. Uptime therefore measures "served
//     traffic successfully", which for a tenant that is simply quiet at night
//     reads low: that is the honest reading of recorded data, and why uptime
//     is reported but not scored.
//   - DaysUntilExpiry: calendar days in the Monitor's zone from today to the
//     end date (0 = ends today, negative = ended), exact across DST.
//   - LastActivity: the later of the Source's and the Recorder's.
//
// # Score
//
// The Scorer evaluates a rule table; DefaultRules is the original design's:
//
//	storage_quota          storage > 90% of quota                     −20  warning
//	api_quota              API calls today > 90% of daily quota       −15  warning
//	slow_responses         p95 > 2000 ms (exact: > 5% slower)         −15  warning
//	error_rate             server errors > 5% of requests             −20  critical
//	subscription_expiring  subscription ends in < 7 days              −10  warning
//	subscription_inactive  no active subscription                     −30  critical
//
// The score starts at 100, loses the weight of every failing rule and is
// clamped to 0..100. subscription_inactive Replaces subscription_expiring:
// when both fail, only −30 applies and expiring is reported "suppressed".
// Below MinRequests (default 20) requests in the window the latency and error
// rules report insufficient_data: they deduct nothing but are listed as
// issues (severity info) and Result.InsufficientData is set, so an idle
// tenant is never silently "healthy". Each Result lists every rule's
// Contribution (outcome, points, message) and the Issues to show a person.
// Bands: healthy ≥ 80, warning ≥ 50, critical below. A tenant is at risk
// below 70 or when any critical rule fails. Thresholds, weights, bands and
// the table itself are configurable (RuleOptions, ScorerOptions, your own
// []Rule).
//
// The original design's "average response time" is kept as LatencyMeanMS but
// not scored: a mean hides the slow tail that p95 shows.
//
// # Caching
//
// Monitor caches each tenant's Health for 5 minutes (Options.TTL) with
// single-flight loading: a hundred requests for a tenant whose entry just
// expired cause one Source call. Loads run detached from the caller's
// cancellation but bounded by a timeout; errors are not cached. The
// dashboard shows the data's age; Alerter evaluations refresh the cache.
//
// # Trends
//
// Monitor.Trends returns one point per calendar day in the Monitor's zone
// for the last N days, today included. Days are built with
// time.Date(y, m, d+i, 0, 0, 0, 0, loc), never by adding 24 hours, so the
// 23- and 25-hour days of a DST change are one date each; where DST starts
// at midnight (America/Santiago), so that midnight does not exist, the day
// starts at the transition (01:00) and keeps its own date. Storage and users
// take the day's last sample, API calls are summed, latency averaged. A day
// without samples is a gap (null), not 0. Today's API calls and latency come
// from the Recorder when the HistorySource has none and the Recorder has run
// since local midnight.
//
// # Access attempts
//
// Monitor.AccessAttempts groups the AccessSource's attempts of the last 24
// hours by (source tenant, target tenant), most frequent first.
//
// # Alerts
//
// An Alerter evaluates AlertRules against every tenant on each tick of Run
// (default every minute). A (tenant, rule) whose condition holds becomes
// pending, fires once it has held for the rule's For, and resolves when the
// condition clears; a pending alert that clears is dropped silently. While
// a tenant's usage cannot be read, its other alerts hold their state (an
// unreadable tenant has not recovered), so a Source outage never sends
// "resolved" followed by a second "firing". The
// Notifier is called once on firing, again every RepeatInterval (default 4 h)
// while firing, and once on resolution. A failed delivery is retried at the
// next evaluation only, so an unreachable webhook never causes a storm.
// Notifiers: SlogNotifier, WebhookNotifier (JSON POST of the Alert with a
// timeout; any non-2xx status is an error), or a NotifierFunc.
//
// # Dashboard and security
//
// NewDashboard refuses to build without an Authorizer: the dashboard shows
// usage and errors of every tenant, and nobody should ever be able to mount
// it open by accident. The Authorizer maps a request to a Viewer — all
// tenants, or a set of tenant IDs — and every page and JSON endpoint is
// filtered to it: lists contain only visible tenants, a hidden tenant answers
// 404 exactly like a nonexistent one, summary counts cover only visible
// tenants, process-wide Recorder figures are shown only to viewers of all
// tenants, and in access attempts the side a viewer may not see is blanked
// (it learns that another tenant tried, never which). Responses carry a
// strict Content-Security-Policy (scripts from the page's own origin only,
// framing only by the same origin), nosniff and no-store. The page is
// embedded (html/template, one small script, server-rendered SVG sparklines,
// nothing from a CDN); it works, unsorted, without JavaScript. JSON lists are
// [] when empty, never null.
//
// # In the demo
//
// examples/demo puts the Recorder innermost in its chain (after tokenscope and
// the plan limit) and serves the dashboard at /admin/monitor/ when an admin
// token is configured; that token is the dashboard's only credential and
// shows every tenant. Its Source reads organizations (storage and quotas),
// users, subscriptions and audit_logs (last activity, and the
// cross_tenant_access_denied rows tokenscope's auditor writes):
//
//	TENANTKIT_ADMIN_TOKEN=s3cret go run ./examples/demo serve
//	curl -H "Authorization: Bearer s3cret" http://localhost:8080/admin/monitor/api/tenants
//	open http://localhost:8080/admin/monitor/?token=s3cret     # once; kept in a cookie
//	go run ./examples/demo health                              # from the database: usage, no traffic
//	go run ./examples/demo health --tenant acme --json
//	TENANTKIT_ADMIN_TOKEN=s3cret go run ./examples/demo health --server http://localhost:8080
//
// With --server, demo health reads the running server's JSON API, so its
// figures include the traffic that server recorded and agree with the
// dashboard.
package monitor
