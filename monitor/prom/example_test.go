package prom_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/tenantkit/tenantkit/monitor"
	"github.com/tenantkit/tenantkit/monitor/prom"
	"github.com/tenantkit/tenantkit/tenant"
)

type oneTenant struct{}

func (oneTenant) Tenants(context.Context) ([]tenant.Tenant, error) {
	return []tenant.Tenant{{ID: "acme", Name: "Acme"}}, nil
}

func (oneTenant) Usage(context.Context, tenant.ID) (monitor.Usage, error) {
	return monitor.Usage{Subscription: monitor.Subscription{Status: "canceled"}}, nil
}

// Register the collector; aggregates only, so cardinality is fixed.
func Example() {
	rec := monitor.NewRecorder(&monitor.RecorderOptions{Now: func() time.Time { return time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC) }})
	m := monitor.New(oneTenant{}, rec, nil)
	reg := prometheus.NewRegistry()
	reg.MustRegister(prom.New(m, nil))
	n, _ := testutil.GatherAndCount(reg, "tenantkit_monitor_tenants_at_risk")
	err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP tenantkit_monitor_tenants_at_risk Tenants at risk (low score or a failing critical rule).
# TYPE tenantkit_monitor_tenants_at_risk gauge
tenantkit_monitor_tenants_at_risk 1
`), "tenantkit_monitor_tenants_at_risk")
	fmt.Println(n, err)
	// Output: 1 <nil>
}
