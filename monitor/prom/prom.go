package prom

import (
	"cmp"
	"context"
	"log/slog"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tenantkit/tenantkit/monitor"
)

// OtherTenant is the label value of the bucket that sums tenants beyond TopK.
const OtherTenant = "__other__"

// Options configures a Collector. nil means defaults.
type Options struct {
	// Namespace prefixes every metric. Default "tenantkit".
	Namespace string
	// TopK enables per-tenant series for the K busiest tenants. Default 0:
	// aggregates only.
	TopK int
	// Timeout bounds one scrape's health evaluation. Default 10 s.
	Timeout time.Duration
	// Logger receives evaluation failures. Default: discard.
	Logger *slog.Logger
}

// Collector is a prometheus.Collector over a monitor.Monitor.
type Collector struct {
	m *monitor.Monitor
	o Options

	tenants, atRisk, insufficient, tracked, overflow, untenanted, evalSeconds, up *prometheus.Desc
	tReq, tErr, tScore, truncated                                                 *prometheus.Desc
}

var _ prometheus.Collector = (*Collector)(nil)

// New returns a Collector for m.
func New(m *monitor.Monitor, opts *Options) *Collector {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Namespace == "" {
		o.Namespace = "tenantkit"
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	name := func(n string) string { return prometheus.BuildFQName(o.Namespace, "monitor", n) }
	return &Collector{
		m: m, o: o,
		tenants:      prometheus.NewDesc(name("tenants"), "Tenants per health band.", []string{"band"}, nil),
		atRisk:       prometheus.NewDesc(name("tenants_at_risk"), "Tenants at risk (low score or a failing critical rule).", nil, nil),
		insufficient: prometheus.NewDesc(name("tenants_insufficient_data"), "Tenants for which some rule lacked data.", nil, nil),
		tracked:      prometheus.NewDesc(name("recorder_tracked_tenants"), "Tenants the Recorder tracks.", nil, nil),
		overflow:     prometheus.NewDesc(name("recorder_overflow_requests_total"), "Requests not recorded because the tenant cap was reached.", nil, nil),
		untenanted:   prometheus.NewDesc(name("recorder_untenanted_requests_total"), "Requests that reached the Recorder without a tenant.", nil, nil),
		evalSeconds:  prometheus.NewDesc(name("evaluation_seconds"), "Duration of the last health evaluation of all tenants.", nil, nil),
		up:           prometheus.NewDesc(name("source_up"), "1 if the Source listed tenants at this scrape, else 0.", nil, nil),
		tReq:         prometheus.NewDesc(name("tenant_requests"), "Requests in the last 24 h, top-K tenants and __other__.", []string{"tenant"}, nil),
		tErr:         prometheus.NewDesc(name("tenant_errors"), "Server errors in the last 24 h, top-K tenants and __other__.", []string{"tenant"}, nil),
		tScore:       prometheus.NewDesc(name("tenant_health_score"), "Health score 0..100 of the top-K tenants.", []string{"tenant"}, nil),
		truncated:    prometheus.NewDesc(name("tenant_series_truncated"), "Tenants folded into tenant=\"__other__\".", nil, nil),
	}
}

// Describe sends every descriptor the Collector may emit.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.tenants, c.atRisk, c.insufficient, c.tracked, c.overflow, c.untenanted, c.evalSeconds, c.up} {
		ch <- d
	}
	if c.o.TopK > 0 {
		for _, d := range []*prometheus.Desc{c.tReq, c.tErr, c.tScore, c.truncated} {
			ch <- d
		}
	}
}

// Collect evaluates (or reads cached) health and sends the metrics.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	if rec := c.m.Recorder(); rec != nil {
		gauge(c.tracked, float64(rec.Tracked()))
		ch <- prometheus.MustNewConstMetric(c.overflow, prometheus.CounterValue, float64(rec.Overflow()))
		ch <- prometheus.MustNewConstMetric(c.untenanted, prometheus.CounterValue, float64(rec.Untenanted()))
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.o.Timeout)
	defer cancel()
	hs, err := c.m.All(ctx)
	if err != nil {
		c.o.Logger.LogAttrs(ctx, slog.LevelWarn, "monitor prometheus evaluation failed", slog.String("error", err.Error()))
		gauge(c.up, 0)
		return
	}
	gauge(c.up, 1)
	if d, at := c.m.LastEvaluation(); !at.IsZero() {
		gauge(c.evalSeconds, d.Seconds())
	}
	bands := map[monitor.Band]int{monitor.BandHealthy: 0, monitor.BandWarning: 0, monitor.BandCritical: 0, monitor.BandUnknown: 0}
	risk, insufficient := 0, 0
	for _, h := range hs {
		bands[h.Result.Band]++
		if h.Result.AtRisk {
			risk++
		}
		if h.Result.InsufficientData {
			insufficient++
		}
	}
	for b, n := range bands {
		gauge(c.tenants, float64(n), string(b))
	}
	gauge(c.atRisk, float64(risk))
	gauge(c.insufficient, float64(insufficient))
	if c.o.TopK <= 0 {
		return
	}
	slices.SortFunc(hs, func(a, b monitor.Health) int {
		return cmp.Or(cmp.Compare(b.Snapshot.Requests, a.Snapshot.Requests), cmp.Compare(a.ID(), b.ID()))
	})
	// A tenant gets its own series only when its ID is a valid label value
	// that cannot be mistaken for the other bucket; the rest are folded.
	var top []monitor.Health
	var req, errs uint64
	folded := 0
	for _, h := range hs {
		id := string(h.ID())
		if len(top) < c.o.TopK && id != OtherTenant && utf8.ValidString(id) {
			top = append(top, h)
			continue
		}
		req += h.Snapshot.Requests
		errs += h.Snapshot.Errors
		folded++
	}
	for _, h := range top {
		id := string(h.ID())
		gauge(c.tReq, float64(h.Snapshot.Requests), id)
		gauge(c.tErr, float64(h.Snapshot.Errors), id)
		if h.Error == "" {
			gauge(c.tScore, float64(h.Result.Score), id)
		}
	}
	gauge(c.tReq, float64(req), OtherTenant)
	gauge(c.tErr, float64(errs), OtherTenant)
	gauge(c.truncated, float64(folded))
}
