package prom_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"github.com/tenantkit/tenantkit/monitor"
	"github.com/tenantkit/tenantkit/monitor/prom"
	"github.com/tenantkit/tenantkit/tenant"
)

type source struct {
	ts   []tenant.Tenant
	u    map[tenant.ID]monitor.Usage
	fail bool
}

func (s *source) Tenants(context.Context) ([]tenant.Tenant, error) {
	if s.fail {
		return nil, errors.New("down")
	}
	return s.ts, nil
}

func (s *source) Usage(_ context.Context, id tenant.ID) (monitor.Usage, error) { return s.u[id], nil }

func fixture(t *testing.T, n int) (*monitor.Monitor, *source) {
	t.Helper()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	rec := monitor.NewRecorder(&monitor.RecorderOptions{Now: func() time.Time { return now }, MaxTenants: n - 1})
	src := &source{u: map[tenant.ID]monitor.Usage{}}
	for i := range n {
		id := tenant.ID(fmt.Sprintf("t%02d", i))
		src.ts = append(src.ts, tenant.Tenant{ID: id, Name: string(id)})
		active := i%2 == 0
		src.u[id] = monitor.Usage{Subscription: monitor.Subscription{Status: "x", Active: active}}
		for range i*10 + 5 {
			rec.Record(id, now, time.Millisecond, i == 3)
		}
	}
	return monitor.New(src, rec, nil), src
}

func TestCollectorAggregatesOnlyByDefault(t *testing.T) {
	m, src := fixture(t, 6)
	c := prom.New(m, nil)
	// t05 is beyond the Recorder's cap of 5: its 55 requests overflow.
	expected := `
# HELP tenantkit_monitor_recorder_overflow_requests_total Requests not recorded because the tenant cap was reached.
# TYPE tenantkit_monitor_recorder_overflow_requests_total counter
tenantkit_monitor_recorder_overflow_requests_total 55
# HELP tenantkit_monitor_recorder_tracked_tenants Tenants the Recorder tracks.
# TYPE tenantkit_monitor_recorder_tracked_tenants gauge
tenantkit_monitor_recorder_tracked_tenants 5
# HELP tenantkit_monitor_source_up 1 if the Source listed tenants at this scrape, else 0.
# TYPE tenantkit_monitor_source_up gauge
tenantkit_monitor_source_up 1
# HELP tenantkit_monitor_tenants Tenants per health band.
# TYPE tenantkit_monitor_tenants gauge
tenantkit_monitor_tenants{band="critical"} 0
tenantkit_monitor_tenants{band="healthy"} 3
tenantkit_monitor_tenants{band="unknown"} 0
tenantkit_monitor_tenants{band="warning"} 3
# HELP tenantkit_monitor_tenants_at_risk Tenants at risk (low score or a failing critical rule).
# TYPE tenantkit_monitor_tenants_at_risk gauge
tenantkit_monitor_tenants_at_risk 3
`
	require.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(expected),
		"tenantkit_monitor_recorder_overflow_requests_total", "tenantkit_monitor_recorder_tracked_tenants",
		"tenantkit_monitor_source_up", "tenantkit_monitor_tenants", "tenantkit_monitor_tenants_at_risk"))
	// No per-tenant series at all.
	n, err := testutil.GatherAndCount(registry(t, c), "tenantkit_monitor_tenant_requests", "tenantkit_monitor_tenant_health_score")
	require.NoError(t, err)
	require.Zero(t, n)
	problems, err := testutil.CollectAndLint(c)
	require.NoError(t, err)
	require.Empty(t, problems)

	src.fail = true
	m2 := monitor.New(src, nil, nil)
	require.NoError(t, testutil.CollectAndCompare(prom.New(m2, nil), strings.NewReader(`
# HELP tenantkit_monitor_source_up 1 if the Source listed tenants at this scrape, else 0.
# TYPE tenantkit_monitor_source_up gauge
tenantkit_monitor_source_up 0
`), "tenantkit_monitor_source_up"))
}

func TestCollectorTopKWithOther(t *testing.T) {
	m, _ := fixture(t, 6)
	c := prom.New(m, &prom.Options{TopK: 2})
	// Recorded: t04 45, t03 35 (all errors), t02 25, t01 15, t00 5; t05 overflowed.
	expected := `
# HELP tenantkit_monitor_tenant_requests Requests in the last 24 h, top-K tenants and __other__.
# TYPE tenantkit_monitor_tenant_requests gauge
tenantkit_monitor_tenant_requests{tenant="__other__"} 45
tenantkit_monitor_tenant_requests{tenant="t03"} 35
tenantkit_monitor_tenant_requests{tenant="t04"} 45
# HELP tenantkit_monitor_tenant_errors Server errors in the last 24 h, top-K tenants and __other__.
# TYPE tenantkit_monitor_tenant_errors gauge
tenantkit_monitor_tenant_errors{tenant="__other__"} 0
tenantkit_monitor_tenant_errors{tenant="t03"} 35
tenantkit_monitor_tenant_errors{tenant="t04"} 0
# HELP tenantkit_monitor_tenant_health_score Health score 0..100 of the top-K tenants.
# TYPE tenantkit_monitor_tenant_health_score gauge
tenantkit_monitor_tenant_health_score{tenant="t03"} 50
tenantkit_monitor_tenant_health_score{tenant="t04"} 100
# HELP tenantkit_monitor_tenant_series_truncated Tenants folded into tenant="__other__".
# TYPE tenantkit_monitor_tenant_series_truncated gauge
tenantkit_monitor_tenant_series_truncated 4
`
	require.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(expected),
		"tenantkit_monitor_tenant_requests", "tenantkit_monitor_tenant_errors",
		"tenantkit_monitor_tenant_health_score", "tenantkit_monitor_tenant_series_truncated"))
	problems, err := testutil.CollectAndLint(c)
	require.NoError(t, err)
	require.Empty(t, problems)
	// Cardinality is bounded by K+1 however many tenants there are.
	require.Equal(t, 3, testutil.CollectAndCount(c, "tenantkit_monitor_tenant_requests"))
}

func registry(t *testing.T, c prometheus.Collector) *prometheus.Registry {
	t.Helper()
	r := prometheus.NewPedanticRegistry()
	require.NoError(t, r.Register(c))
	return r
}
