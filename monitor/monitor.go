package monitor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tenantkit/tenantkit/tenant"
)

// Options configures a Monitor. nil means defaults; each field says its own.
type Options struct {
	// Scorer scores snapshots. Default: NewScorer(nil, nil), the original
	// design's table.
	Scorer *Scorer
	// Location is the zone of calendar days (today's API calls, days until
	// expiry, trend dates). Default: the Recorder's, or UTC.
	Location *time.Location
	// Now is the clock. Default: the Recorder's, or time.Now.
	Now func() time.Time
	// TTL is how long a tenant's health is cached. Default DefaultTTL (5 min).
	TTL time.Duration
	// Concurrency bounds the Source calls All makes at once. Default 8.
	Concurrency int
	// Logger receives source failures. Default: discard.
	Logger *slog.Logger
}

// Monitor computes, caches and ranks tenant health from a Source and a
// Recorder. It is safe for concurrent use; build one with New. It starts no
// goroutine: periodic work is Alerter.Run.
type Monitor struct {
	src    Source
	rec    *Recorder
	scorer *Scorer
	loc    *time.Location
	now    func() time.Time
	conc   int
	log    *slog.Logger

	health  *Cache[tenant.ID, Health]
	tenants *Cache[struct{}, []tenant.Tenant]

	lastEval atomic.Int64 // nanoseconds the last All took
	lastAt   atomic.Int64 // Unix nanoseconds of its end
}

// Health is a tenant's Snapshot with its score. Error is set when the Source
// failed for this tenant: the Result then has BandUnknown, score 0, and the
// tenant is at risk, because a tenant nobody can see into needs a look.
type Health struct {
	Snapshot Snapshot `json:"snapshot"`
	Result   Result   `json:"result"`
	Error    string   `json:"error,omitempty"`
}

// BandUnknown is the band of a tenant whose usage could not be read.
const BandUnknown Band = "unknown"

// CodeSourceError is the issue code of a tenant whose usage could not be read.
const CodeSourceError = "source_error"

// ID returns the tenant's ID.
func (h Health) ID() tenant.ID { return h.Snapshot.Tenant.ID }

// New returns a Monitor over src and rec. rec may be nil (no traffic data).
// It panics when src is nil, as a nil Source is a programming error.
func New(src Source, rec *Recorder, opts *Options) *Monitor {
	if src == nil {
		panic("monitor: New with nil Source")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Scorer == nil {
		o.Scorer, _ = NewScorer(nil, nil)
	}
	if o.Location == nil {
		o.Location = time.UTC
		if rec != nil {
			o.Location = rec.Location()
		}
	}
	if o.Now == nil {
		o.Now = time.Now
		if rec != nil {
			o.Now = rec.Now
		}
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Monitor{
		src: src, rec: rec, scorer: o.Scorer, loc: o.Location, now: o.Now, conc: o.Concurrency, log: o.Logger,
		health:  NewCache[tenant.ID, Health](o.TTL, o.Now, 0),
		tenants: NewCache[struct{}, []tenant.Tenant](o.TTL, o.Now, 0),
	}
}

// Scorer returns the Monitor's Scorer.
func (m *Monitor) Scorer() *Scorer { return m.scorer }

// Recorder returns the Monitor's Recorder (possibly nil).
func (m *Monitor) Recorder() *Recorder { return m.rec }

// Location returns the zone of the Monitor's calendar days.
func (m *Monitor) Location() *time.Location { return m.loc }

// Now returns the Monitor's clock reading.
func (m *Monitor) Now() time.Time { return m.now() }

// ErrUnknownTenant is returned for a tenant the Source does not list.
var ErrUnknownTenant = errors.New("monitor: unknown tenant")

// Tenants returns the Source's tenants (cached for the TTL).
func (m *Monitor) Tenants(ctx context.Context) ([]tenant.Tenant, error) {
	ts, err := m.tenants.Get(ctx, struct{}{}, func(ctx context.Context) ([]tenant.Tenant, error) {
		ts, err := m.src.Tenants(ctx)
		if err != nil {
			return nil, fmt.Errorf("monitor: list tenants: %w", err)
		}
		return ts, nil
	})
	return slices.Clone(ts), err
}

// Lookup returns the tenant with id, or ErrUnknownTenant.
func (m *Monitor) Lookup(ctx context.Context, id tenant.ID) (tenant.Tenant, error) {
	ts, err := m.Tenants(ctx)
	if err != nil {
		return tenant.Tenant{}, err
	}
	for _, t := range ts {
		if t.ID == id {
			return t, nil
		}
	}
	return tenant.Tenant{}, fmt.Errorf("%w: %q", ErrUnknownTenant, id)
}

// Health returns tenant id's health, from the cache when fresh. It returns
// ErrUnknownTenant for a tenant the Source does not list.
func (m *Monitor) Health(ctx context.Context, id tenant.ID) (Health, error) {
	t, err := m.Lookup(ctx, id)
	if err != nil {
		return Health{}, err
	}
	return m.health.Get(ctx, id, func(ctx context.Context) (Health, error) { return m.compute(ctx, t), nil })
}

// compute computes t's health now, bypassing the cache. It never fails: a
// Source error becomes the Health's Error.
func (m *Monitor) compute(ctx context.Context, t tenant.Tenant) Health {
	at := m.now()
	u, err := m.src.Usage(ctx, t.ID)
	if err != nil {
		m.log.LogAttrs(ctx, slog.LevelWarn, "monitor source usage failed",
			slog.String("tenant_id", string(t.ID)), slog.String("error", err.Error()))
		msg := "usage could not be read: " + err.Error()
		return Health{
			Snapshot: Snapshot{Tenant: t, At: at},
			Result: Result{Band: BandUnknown, AtRisk: true, Contributions: []Contribution{},
				Issues: []Issue{{Code: CodeSourceError, Severity: SeverityCritical, Message: msg}}},
			Error: msg,
		}
	}
	s := NewSnapshot(t, u, m.rec, at, m.loc)
	return Health{Snapshot: s, Result: m.scorer.Score(&s)}
}

// All returns every tenant's health (cached entries when fresh), sorted by
// SortHealth. Only a failure to list tenants is an error; a tenant whose
// usage cannot be read is reported in its Health.
func (m *Monitor) All(ctx context.Context) ([]Health, error) { return m.all(ctx, false) }

// Refresh recomputes every tenant's health, stores it in the cache and
// returns it sorted. Alerter evaluations use it.
func (m *Monitor) Refresh(ctx context.Context) ([]Health, error) {
	if _, err := m.tenants.Refresh(ctx, struct{}{}, func(ctx context.Context) ([]tenant.Tenant, error) {
		return m.src.Tenants(ctx)
	}); err != nil {
		return nil, fmt.Errorf("monitor: list tenants: %w", err)
	}
	return m.all(ctx, true)
}

func (m *Monitor) all(ctx context.Context, fresh bool) ([]Health, error) {
	start := time.Now()
	ts, err := m.Tenants(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Health, len(ts))
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr error
	var errMu sync.Mutex
	for range min(m.conc, len(ts)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(ts) {
					return
				}
				t := ts[i]
				load := func(ctx context.Context) (Health, error) { return m.compute(ctx, t), nil }
				var h Health
				var err error
				if fresh {
					h, err = m.health.Refresh(ctx, t.ID, load)
				} else {
					h, err = m.health.Get(ctx, t.ID, load)
				}
				if err != nil {
					errMu.Lock()
					firstErr = cmp.Or(firstErr, err)
					errMu.Unlock()
					return
				}
				out[i] = h
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr // only ctx errors: compute never fails
	}
	SortHealth(out)
	m.lastEval.Store(int64(time.Since(start)))
	m.lastAt.Store(time.Now().UnixNano())
	return out, nil
}

// LastEvaluation returns how long the last All or Refresh took and when it
// ended (zero before the first).
func (m *Monitor) LastEvaluation() (time.Duration, time.Time) {
	at := m.lastAt.Load()
	if at == 0 {
		return 0, time.Time{}
	}
	return time.Duration(m.lastEval.Load()), time.Unix(0, at)
}

// SortHealth orders tenants for people: at risk first, then by ascending
// score, then by name and ID.
func SortHealth(hs []Health) {
	slices.SortStableFunc(hs, func(a, b Health) int {
		if a.Result.AtRisk != b.Result.AtRisk {
			if a.Result.AtRisk {
				return -1
			}
			return 1
		}
		return cmp.Or(
			cmp.Compare(a.Result.Score, b.Result.Score),
			cmp.Compare(a.Snapshot.Tenant.Name, b.Snapshot.Tenant.Name),
			cmp.Compare(a.Snapshot.Tenant.ID, b.Snapshot.Tenant.ID),
		)
	})
}

// AtRisk returns the tenants of hs that are at risk (below the Scorer's
// AtRiskBelow or failing a critical rule), in SortHealth order.
func AtRisk(hs []Health) []Health {
	out := []Health{}
	for _, h := range hs {
		if h.Result.AtRisk {
			out = append(out, h)
		}
	}
	SortHealth(out)
	return out
}

// Page is one page of a list. Items is never nil.
type Page[T any] struct {
	Items   []T `json:"items"`
	Total   int `json:"total"`
	Page    int `json:"page"`     // 1-based
	PerPage int `json:"per_page"` // items per page
}

// Paginate returns page (1-based; < 1 means 1) of items with perPage items
// (< 1 means 50, capped at 500).
func Paginate[T any](items []T, page, perPage int) Page[T] {
	if page < 1 {
		page = 1
	}
	if perPage < 1 {
		perPage = 50
	}
	perPage = min(perPage, 500)
	p := Page[T]{Items: []T{}, Total: len(items), Page: page, PerPage: perPage}
	if page-1 > len(items)/perPage {
		return p // past the end; checked first so the product cannot overflow
	}
	lo := (page - 1) * perPage
	if lo >= len(items) {
		return p
	}
	p.Items = append(p.Items, items[lo:min(lo+perPage, len(items))]...)
	return p
}

// AccessGroup is the cross-tenant attempts of one (source, target) pair.
type AccessGroup struct {
	Source  tenant.ID `json:"source"` // credential's tenant; "" when unknown or hidden
	Target  tenant.ID `json:"target"` // tenant whose data was asked for; "" when hidden
	Count   int       `json:"count"`
	First   time.Time `json:"first"`
	Last    time.Time `json:"last"`
	Reasons []string  `json:"reasons"` // distinct, sorted
}

// ErrNoAccessSource is returned by AccessAttempts when the Source does not
// implement AccessSource.
var ErrNoAccessSource = errors.New("monitor: source does not report access attempts")

// AccessAttempts returns the cross-tenant access attempts of the last 24
// hours grouped by source and target tenant, most frequent first.
func (m *Monitor) AccessAttempts(ctx context.Context) ([]AccessGroup, error) {
	as, ok := m.src.(AccessSource)
	if !ok {
		return []AccessGroup{}, ErrNoAccessSource
	}
	now := m.now()
	since := now.Add(-24 * time.Hour)
	atts, err := as.AccessAttempts(ctx, since)
	if err != nil {
		return nil, fmt.Errorf("monitor: access attempts: %w", err)
	}
	return GroupAccess(atts, since, now), nil
}

// GroupAccess groups attempts in [since, until] by (Source, Target).
func GroupAccess(atts []AccessAttempt, since, until time.Time) []AccessGroup {
	type key struct{ s, t tenant.ID }
	idx := map[key]int{}
	out := []AccessGroup{}
	for _, a := range atts {
		if a.At.Before(since) || a.At.After(until) {
			continue
		}
		k := key{a.Source, a.Target}
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, AccessGroup{Source: a.Source, Target: a.Target, First: a.At, Last: a.At, Reasons: []string{}})
		}
		g := &out[i]
		g.Count++
		if a.At.Before(g.First) {
			g.First = a.At
		}
		if a.At.After(g.Last) {
			g.Last = a.At
		}
		if a.Reason != "" && !slices.Contains(g.Reasons, a.Reason) {
			g.Reasons = append(g.Reasons, a.Reason)
		}
	}
	for i := range out {
		slices.Sort(out[i].Reasons)
	}
	slices.SortFunc(out, func(a, b AccessGroup) int {
		return cmp.Or(-cmp.Compare(a.Count, b.Count), cmp.Compare(a.Target, b.Target), cmp.Compare(a.Source, b.Source))
	})
	return out
}
