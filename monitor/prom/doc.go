// Package prom exports tenantkit monitor state to Prometheus.
//
// By default the Collector exports aggregates only, whose cardinality does
// not grow with the number of tenants:
//
//	tenantkit_monitor_tenants{band}                  tenants per health band
//	tenantkit_monitor_tenants_at_risk                tenants at risk
//	tenantkit_monitor_tenants_insufficient_data      tenants some rule could not judge
//	tenantkit_monitor_recorder_tracked_tenants       tenants the Recorder tracks
//	tenantkit_monitor_recorder_overflow_requests_total  requests not recorded (tenant cap reached)
//	tenantkit_monitor_recorder_untenanted_requests_total requests without a tenant
//	tenantkit_monitor_evaluation_seconds             duration of the last health evaluation
//	tenantkit_monitor_source_up                      1 when the Source listed tenants at the last scrape
//
// Per-tenant series are opt-in (Options.TopK): the K tenants with the most
// requests in the last 24 hours get
//
//	tenantkit_monitor_tenant_requests{tenant}        requests in the last 24 h
//	tenantkit_monitor_tenant_errors{tenant}          server errors in the last 24 h
//	tenantkit_monitor_tenant_health_score{tenant}    health score (no "other" row)
//
// and every other tenant is summed into tenant="__other__" (so a tenant
// whose ID is literally "other" cannot collide with the bucket; a tenant
// whose ID is "__other__" itself, or is not valid UTF-8 and so cannot be a
// label value, is always folded into the bucket), with
// tenantkit_monitor_tenant_series_truncated saying how many tenants were
// folded. Label values are tenant IDs, never names.
//
// A scrape reads the Monitor's cached health (Monitor.All): it costs a Source
// call per tenant only when the cache has expired. The Collector is safe for
// concurrent use.
package prom
