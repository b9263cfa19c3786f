package prom_test

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	"github.com/tenantkit/tenantkit/monitor"
	"github.com/tenantkit/tenantkit/monitor/prom"
	"github.com/tenantkit/tenantkit/tenant"
)

// Tenant IDs come from the application's data: one that is not valid UTF-8,
// or one spelled like the "other" bucket, must not panic the scrape nor
// make the registry reject it for duplicate series.
func TestReviewTopKHostileTenantIDs(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	rec := monitor.NewRecorder(&monitor.RecorderOptions{Now: func() time.Time { return now }})
	src := &source{u: map[tenant.ID]monitor.Usage{}}
	for i, id := range []tenant.ID{"bad\xff\xfe", prom.OtherTenant, "plain", "quiet"} {
		src.ts = append(src.ts, tenant.Tenant{ID: id, Name: string(id)})
		src.u[id] = monitor.Usage{Subscription: monitor.Subscription{Active: true}}
		for range 100 - i*10 {
			rec.Record(id, now, time.Millisecond, false)
		}
	}
	m := monitor.New(src, rec, &monitor.Options{Now: func() time.Time { return now }})
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(prom.New(m, &prom.Options{TopK: 3})))
	var mfs []*dto.MetricFamily
	require.NotPanics(t, func() {
		got, err := reg.Gather()
		require.NoError(t, err)
		mfs = got
	})
	reqs := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() == "tenantkit_monitor_tenant_series_truncated" {
			require.Equal(t, float64(2), mf.GetMetric()[0].GetGauge().GetValue(), "the two unusable IDs are folded")
		}
		if mf.GetName() != "tenantkit_monitor_tenant_requests" {
			continue
		}
		for _, mt := range mf.GetMetric() {
			reqs[mt.GetLabel()[0].GetValue()] += mt.GetGauge().GetValue()
		}
	}
	var total float64
	for _, v := range reqs {
		total += v
	}
	require.Equal(t, float64(100+90+80+70), total, "every request is counted once: %v", reqs)
	require.Equal(t, float64(80), reqs["plain"])
}
