package monitor

import (
	"cmp"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tenantkit/tenantkit/tenant"
)

//go:embed ui
var uiFS embed.FS

// Viewer is who is looking at the dashboard and which tenants they may see.
// The zero Viewer sees nothing.
type Viewer struct {
	Name    string      // for display only
	All     bool        // sees every tenant and the process-wide figures
	Tenants []tenant.ID // when not All: the only tenants visible
}

// CanSee reports whether v may see tenant id.
func (v Viewer) CanSee(id tenant.ID) bool {
	return v.All || (id != "" && slices.Contains(v.Tenants, id))
}

// Authorizer decides who a dashboard request comes from. It is the
// dashboard's only access control: every page and every API answer is
// filtered to the Viewer it returns.
type Authorizer interface {
	Authorize(r *http.Request) (Viewer, error)
}

// AuthorizerFunc adapts a function to Authorizer.
type AuthorizerFunc func(r *http.Request) (Viewer, error)

// Authorize calls f.
func (f AuthorizerFunc) Authorize(r *http.Request) (Viewer, error) { return f(r) }

var (
	_ http.Handler = (*Dashboard)(nil)
	_ Authorizer   = AuthorizerFunc(nil)
)

// ErrUnauthenticated is what an Authorizer returns (wrapped or not) when the
// request carries no acceptable credential: the dashboard answers 401. Any
// other error answers 403.
var ErrUnauthenticated = errors.New("monitor: unauthenticated")

// ErrNoAuthorizer is returned by NewDashboard without an Authorizer.
var ErrNoAuthorizer = errors.New("monitor: dashboard requires an Authorizer")

// DashboardOptions configures a Dashboard. nil means defaults.
type DashboardOptions struct {
	// Alerter supplies active and recent alerts. Default: none shown.
	Alerter *Alerter
	// Title of the page. Default "Tenant health".
	Title string
	// TrendDays is the span of the drill-down trends. Default 30.
	TrendDays int
	// Logger receives failures answered with 5xx. Default: discard.
	Logger *slog.Logger
}

// Dashboard is the monitoring UI and its JSON API, an http.Handler meant to
// be mounted under a prefix with http.StripPrefix:
//
//	mux.Handle("/admin/monitor/", http.StripPrefix("/admin/monitor", dash))
//
// Routes (relative to the prefix): GET / (page), GET /tenants/{id} (page),
// GET /api/summary, /api/tenants, /api/at-risk, /api/tenants/{id},
// /api/tenants/{id}/trends, /api/access-attempts, /api/alerts.
// It is safe for concurrent use; build one with NewDashboard (the zero value
// is not usable).
type Dashboard struct {
	m    *Monitor
	auth Authorizer
	o    DashboardOptions
	mux  *http.ServeMux
	tmpl *template.Template
}

// NewDashboard returns the dashboard for m. auth is required: a dashboard
// that would show every tenant to anyone is refused with ErrNoAuthorizer.
func NewDashboard(m *Monitor, auth Authorizer, opts *DashboardOptions) (*Dashboard, error) {
	if auth == nil {
		return nil, ErrNoAuthorizer
	}
	if af, ok := auth.(AuthorizerFunc); ok && af == nil {
		return nil, ErrNoAuthorizer
	}
	if m == nil {
		return nil, errors.New("monitor: NewDashboard with nil Monitor")
	}
	d := &Dashboard{m: m, auth: auth}
	if opts != nil {
		d.o = *opts
	}
	if d.o.Title == "" {
		d.o.Title = "Tenant health"
	}
	if d.o.TrendDays <= 0 || d.o.TrendDays > MaxTrendDays {
		d.o.TrendDays = 30
	}
	if d.o.Logger == nil {
		d.o.Logger = slog.New(slog.DiscardHandler)
	}
	t, err := template.New("").Funcs(template.FuncMap{
		"pct": func(v Value) string {
			if !v.Valid {
				return "n/a"
			}
			return v.String() + "%"
		},
		"msv": func(v Value) string {
			if !v.Valid {
				return "n/a"
			}
			return v.String() + " ms"
		},
		"sortv":     func(v Value) string { return sortValue(v) },
		"ago":       func(t time.Time) string { return ago(d.m.Now(), t) },
		"unixms":    func(t time.Time) int64 { return t.UnixMilli() },
		"spark":     sparkline,
		"sparkhour": sparkHours,
		"join":      strings.Join,
		"pathesc":   func(id tenant.ID) string { return url.PathEscape(string(id)) },
		"sub1":      func(n int) int { return n - 1 },
		"bandcount": func(m map[Band]int, b string) int { return m[Band(b)] },
	}).ParseFS(uiFS, "ui/*.html")
	if err != nil {
		return nil, fmt.Errorf("monitor: dashboard templates: %w", err)
	}
	d.tmpl = t
	static, _ := fs.Sub(uiFS, "ui")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", d.pageIndex)
	mux.HandleFunc("GET /tenants/{id}", d.pageTenant)
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(staticOnly{static})))
	mux.HandleFunc("GET /api/summary", d.apiSummary)
	mux.HandleFunc("GET /api/tenants", d.apiTenants)
	mux.HandleFunc("GET /api/at-risk", d.apiAtRisk)
	mux.HandleFunc("GET /api/tenants/{id}", d.apiTenant)
	mux.HandleFunc("GET /api/tenants/{id}/trends", d.apiTrends)
	mux.HandleFunc("GET /api/access-attempts", d.apiAccess)
	mux.HandleFunc("GET /api/alerts", d.apiAlerts)
	d.mux = mux
	return d, nil
}

// staticOnly serves the .js and .css files of the ui directory, nothing else.
type staticOnly struct{ fs.FS }

func (s staticOnly) Open(name string) (fs.File, error) {
	if !strings.HasSuffix(name, ".js") && !strings.HasSuffix(name, ".css") {
		return nil, fs.ErrNotExist
	}
	return s.FS.Open(name)
}

type viewerKey struct{}

// ServeHTTP authorizes the request, then serves it filtered to the viewer.
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'self'; base-uri 'none'; form-action 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "SAMEORIGIN")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	v, err := d.auth.Authorize(r)
	if err != nil {
		if errors.Is(err, ErrUnauthenticated) {
			h.Set("WWW-Authenticate", `Bearer realm="monitor"`)
			d.fail(w, r, http.StatusUnauthorized, "unauthenticated")
			return
		}
		d.fail(w, r, http.StatusForbidden, "forbidden")
		return
	}
	if !v.All && len(v.Tenants) == 0 {
		d.fail(w, r, http.StatusForbidden, "forbidden")
		return
	}
	if r.URL.Path == "" {
		r2 := *r
		u := *r.URL
		u.Path = "/"
		r2.URL = &u
		r = &r2
	}
	d.mux.ServeHTTP(w, r.WithContext(contextWithViewer(r, v)))
}

func contextWithViewer(r *http.Request, v Viewer) context.Context {
	return context.WithValue(r.Context(), viewerKey{}, v)
}

func viewerOf(r *http.Request) Viewer {
	v, _ := r.Context().Value(viewerKey{}).(Viewer)
	return v
}

func (d *Dashboard) fail(w http.ResponseWriter, r *http.Request, code int, msg string) {
	if strings.Contains(r.URL.Path, "/api/") {
		writeJSON(w, code, map[string]string{"error": msg})
		return
	}
	http.Error(w, msg, code)
}

func (d *Dashboard) internal(w http.ResponseWriter, r *http.Request, err error) {
	d.o.Logger.LogAttrs(r.Context(), slog.LevelError, "monitor dashboard failed",
		slog.String("path", r.URL.Path), slog.String("error", err.Error()))
	d.fail(w, r, http.StatusInternalServerError, "internal error")
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// visible returns the tenants v may see, in SortHealth order.
func (d *Dashboard) visible(r *http.Request) ([]Health, error) {
	all, err := d.m.All(r.Context())
	if err != nil {
		return nil, err
	}
	v := viewerOf(r)
	out := make([]Health, 0, len(all))
	for _, h := range all {
		if v.CanSee(h.ID()) {
			out = append(out, h)
		}
	}
	return out, nil
}

// Summary is the dashboard's headline figures for one viewer.
type Summary struct {
	GeneratedAt      time.Time        `json:"generated_at"`
	DataAsOf         time.Time        `json:"data_as_of,omitzero"` // oldest snapshot shown
	DataAgeSeconds   int64            `json:"data_age_seconds"`
	Tenants          int              `json:"tenants"`
	Bands            map[Band]int     `json:"bands"`
	AtRisk           int              `json:"at_risk"`
	InsufficientData int              `json:"insufficient_data"`
	ActiveAlerts     int              `json:"active_alerts"`
	AccessAttempts   int              `json:"access_attempts_24h"`
	Recorder         *RecorderSummary `json:"recorder,omitempty"` // only for viewers who see all tenants
}

// RecorderSummary is process-wide Recorder state.
type RecorderSummary struct {
	Tracked    int    `json:"tracked"`
	Overflow   uint64 `json:"overflow"`
	Untenanted uint64 `json:"untenanted"`
}

func (d *Dashboard) summary(r *http.Request, hs []Health) Summary {
	now := d.m.Now()
	s := Summary{GeneratedAt: now, Tenants: len(hs), Bands: map[Band]int{BandHealthy: 0, BandWarning: 0, BandCritical: 0, BandUnknown: 0}}
	for _, h := range hs {
		s.Bands[h.Result.Band]++
		if h.Result.AtRisk {
			s.AtRisk++
		}
		if h.Result.InsufficientData {
			s.InsufficientData++
		}
		if s.DataAsOf.IsZero() || h.Snapshot.At.Before(s.DataAsOf) {
			s.DataAsOf = h.Snapshot.At
		}
	}
	if !s.DataAsOf.IsZero() {
		s.DataAgeSeconds = max(0, int64(now.Sub(s.DataAsOf)/time.Second))
	}
	s.ActiveAlerts = len(d.alerts(r, ""))
	for _, g := range d.access(r, "") {
		s.AccessAttempts += g.Count
	}
	if v := viewerOf(r); v.All && d.m.Recorder() != nil {
		rec := d.m.Recorder()
		s.Recorder = &RecorderSummary{Tracked: rec.Tracked(), Overflow: rec.Overflow(), Untenanted: rec.Untenanted()}
	}
	return s
}

// alerts returns the active alerts v may see (of tenant id when not empty).
func (d *Dashboard) alerts(r *http.Request, id tenant.ID) []Alert {
	out := []Alert{}
	if d.o.Alerter == nil {
		return out
	}
	v := viewerOf(r)
	for _, a := range d.o.Alerter.Active() {
		if v.CanSee(a.TenantID) && (id == "" || a.TenantID == id) {
			out = append(out, a)
		}
	}
	return out
}

func (d *Dashboard) recentAlerts(r *http.Request, id tenant.ID) []Alert {
	out := []Alert{}
	if d.o.Alerter == nil {
		return out
	}
	v := viewerOf(r)
	for _, a := range d.o.Alerter.Recent(id) {
		if v.CanSee(a.TenantID) {
			out = append(out, a)
		}
	}
	return out
}

// access returns the access groups v may see, involving id when not empty.
// A side v may not see is blanked (and groups that then look alike merged),
// so a scoped viewer learns that someone tried, never who.
func (d *Dashboard) access(r *http.Request, id tenant.ID) []AccessGroup {
	gs, err := d.m.AccessAttempts(r.Context())
	if err != nil {
		if !errors.Is(err, ErrNoAccessSource) {
			d.o.Logger.LogAttrs(r.Context(), slog.LevelWarn, "monitor access attempts failed", slog.String("error", err.Error()))
		}
		return []AccessGroup{}
	}
	return scopeAccess(gs, viewerOf(r), id)
}

func scopeAccess(gs []AccessGroup, v Viewer, id tenant.ID) []AccessGroup {
	type key struct{ s, t tenant.ID }
	idx := map[key]int{}
	out := []AccessGroup{}
	for _, g := range gs {
		if id != "" && g.Source != id && g.Target != id {
			continue
		}
		src, dst := v.CanSee(g.Source), v.CanSee(g.Target)
		if !src && !dst {
			continue
		}
		if !src {
			g.Source = ""
		}
		if !dst {
			g.Target = ""
		}
		k := key{g.Source, g.Target}
		if i, ok := idx[k]; ok {
			o := &out[i]
			o.Count += g.Count
			if g.First.Before(o.First) {
				o.First = g.First
			}
			if g.Last.After(o.Last) {
				o.Last = g.Last
			}
			for _, rs := range g.Reasons {
				if !slices.Contains(o.Reasons, rs) {
					o.Reasons = append(o.Reasons, rs)
				}
			}
			slices.Sort(o.Reasons)
			continue
		}
		g.Reasons = slices.Clone(g.Reasons)
		idx[k] = len(out)
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b AccessGroup) int {
		return cmp.Or(-cmp.Compare(a.Count, b.Count), cmp.Compare(a.Target, b.Target), cmp.Compare(a.Source, b.Source))
	})
	return out
}

func pageParams(r *http.Request) (page, per int) {
	page, _ = strconv.Atoi(r.URL.Query().Get("page"))
	per, _ = strconv.Atoi(r.URL.Query().Get("per_page"))
	return page, per
}

func (d *Dashboard) apiSummary(w http.ResponseWriter, r *http.Request) {
	hs, err := d.visible(r)
	if err != nil {
		d.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d.summary(r, hs))
}

func (d *Dashboard) apiTenants(w http.ResponseWriter, r *http.Request) {
	hs, err := d.visible(r)
	if err != nil {
		d.internal(w, r, err)
		return
	}
	if r.URL.Query().Get("at_risk") == "true" {
		hs = AtRisk(hs)
	}
	page, per := pageParams(r)
	writeJSON(w, http.StatusOK, Paginate(hs, page, per))
}

func (d *Dashboard) apiAtRisk(w http.ResponseWriter, r *http.Request) {
	hs, err := d.visible(r)
	if err != nil {
		d.internal(w, r, err)
		return
	}
	page, per := pageParams(r)
	writeJSON(w, http.StatusOK, Paginate(AtRisk(hs), page, per))
}

// TenantDetail is the drill-down of one tenant.
type TenantDetail struct {
	Health         Health        `json:"health"`
	Trends         Trends        `json:"trends"`
	ActiveAlerts   []Alert       `json:"active_alerts"`
	RecentAlerts   []Alert       `json:"recent_alerts"`
	AccessAttempts []AccessGroup `json:"access_attempts"`
	HourlyRequests []uint64      `json:"hourly_requests"` // last 24 hour slots, oldest first
}

// detail loads id's drill-down, or reports false when v may not see it or
// it does not exist (the same answer, so existence does not leak).
func (d *Dashboard) detail(r *http.Request, id tenant.ID) (TenantDetail, bool, error) {
	if !viewerOf(r).CanSee(id) {
		return TenantDetail{}, false, nil
	}
	h, err := d.m.Health(r.Context(), id)
	if errors.Is(err, ErrUnknownTenant) {
		return TenantDetail{}, false, nil
	}
	if err != nil {
		return TenantDetail{}, false, err
	}
	tr, err := d.m.Trends(r.Context(), id, d.o.TrendDays)
	if err != nil {
		return TenantDetail{}, false, err
	}
	td := TenantDetail{Health: h, Trends: tr, ActiveAlerts: d.alerts(r, id), RecentAlerts: d.recentAlerts(r, id),
		AccessAttempts: d.access(r, id), HourlyRequests: make([]uint64, 24)}
	if rec := d.m.Recorder(); rec != nil {
		td.HourlyRequests = rec.Hourly(id, d.m.Now(), 24)
	}
	return td, true, nil
}

func (d *Dashboard) apiTenant(w http.ResponseWriter, r *http.Request) {
	td, ok, err := d.detail(r, tenant.ID(r.PathValue("id")))
	switch {
	case err != nil:
		d.internal(w, r, err)
	case !ok:
		d.fail(w, r, http.StatusNotFound, "unknown tenant")
	default:
		writeJSON(w, http.StatusOK, td)
	}
}

func (d *Dashboard) apiTrends(w http.ResponseWriter, r *http.Request) {
	id := tenant.ID(r.PathValue("id"))
	days := d.o.TrendDays
	if s := r.URL.Query().Get("days"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxTrendDays {
			d.fail(w, r, http.StatusBadRequest, fmt.Sprintf("days must be 1..%d", MaxTrendDays))
			return
		}
		days = n
	}
	if !viewerOf(r).CanSee(id) {
		d.fail(w, r, http.StatusNotFound, "unknown tenant")
		return
	}
	tr, err := d.m.Trends(r.Context(), id, days)
	switch {
	case errors.Is(err, ErrUnknownTenant):
		d.fail(w, r, http.StatusNotFound, "unknown tenant")
	case err != nil:
		d.internal(w, r, err)
	default:
		writeJSON(w, http.StatusOK, tr)
	}
}

func (d *Dashboard) apiAccess(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, d.access(r, ""))
}

func (d *Dashboard) apiAlerts(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string][]Alert{"active": d.alerts(r, ""), "recent": d.recentAlerts(r, "")})
}

type indexPage struct {
	Title   string
	Viewer  Viewer
	Summary Summary
	Rows    []indexRow
}

type indexRow struct {
	Health
	Hourly []uint64
}

func (d *Dashboard) pageIndex(w http.ResponseWriter, r *http.Request) {
	hs, err := d.visible(r)
	if err != nil {
		d.internal(w, r, err)
		return
	}
	p := indexPage{Title: d.o.Title, Viewer: viewerOf(r), Summary: d.summary(r, hs)}
	now := d.m.Now()
	for _, h := range hs {
		row := indexRow{Health: h, Hourly: make([]uint64, 24)}
		if rec := d.m.Recorder(); rec != nil {
			row.Hourly = rec.Hourly(h.ID(), now, 24)
		}
		p.Rows = append(p.Rows, row)
	}
	d.render(w, r, "index.html", p)
}

type tenantPage struct {
	Title  string
	Detail TenantDetail
	Now    time.Time
}

func (d *Dashboard) pageTenant(w http.ResponseWriter, r *http.Request) {
	td, ok, err := d.detail(r, tenant.ID(r.PathValue("id")))
	switch {
	case err != nil:
		d.internal(w, r, err)
	case !ok:
		d.fail(w, r, http.StatusNotFound, "unknown tenant")
	default:
		d.render(w, r, "tenant.html", tenantPage{Title: d.o.Title, Detail: td, Now: d.m.Now()})
	}
}

func (d *Dashboard) render(w http.ResponseWriter, r *http.Request, name string, data any) {
	var b strings.Builder
	if err := d.tmpl.ExecuteTemplate(&b, name, data); err != nil {
		d.internal(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write([]byte(b.String()))
}

// sortValue is the data-v attribute the table sorts by; absent sorts last.
func sortValue(v Value) string {
	if !v.Valid {
		return ""
	}
	return strconv.FormatFloat(v.V, 'f', -1, 64)
}

func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d/time.Hour))
	default:
		return fmt.Sprintf("%d days ago", int(d/(24*time.Hour)))
	}
}

// sparkline renders vs as an inline SVG polyline; absent values break the
// line so gaps show as gaps. Only numbers reach the markup.
func sparkline(vs []Value, label string) template.HTML {
	const w, h = 160.0, 32.0
	lo, hi, any := 0.0, 0.0, false
	for _, v := range vs {
		if !v.Valid {
			continue
		}
		if !any {
			lo, hi, any = v.V, v.V, true
		}
		lo, hi = min(lo, v.V), max(hi, v.V)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="spark" viewBox="0 0 %g %g" width="%g" height="%g" role="img" aria-label="%s">`, w, h, w, h, template.HTMLEscapeString(label))
	if !any {
		b.WriteString(`<text x="4" y="20" class="nodata">no data</text></svg>`)
		return template.HTML(b.String())
	}
	step := w
	if len(vs) > 1 {
		step = w / float64(len(vs)-1)
	}
	span := hi - lo
	var seg []string
	flush := func() {
		switch len(seg) {
		case 0:
		case 1:
			xy := strings.Split(seg[0], ",")
			fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="1.5"/>`, xy[0], xy[1])
		default:
			fmt.Fprintf(&b, `<polyline points="%s"/>`, strings.Join(seg, " "))
		}
		seg = seg[:0]
	}
	for i, v := range vs {
		if !v.Valid {
			flush()
			continue
		}
		y := h / 2
		if span > 0 {
			y = h - 2 - (v.V-lo)/span*(h-4)
		}
		seg = append(seg, fmt.Sprintf("%.1f,%.1f", float64(i)*step, y))
	}
	flush()
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func sparkHours(counts []uint64) template.HTML {
	vs := make([]Value, len(counts))
	for i, c := range counts {
		vs[i] = Some(float64(c))
	}
	return sparkline(vs, "requests per hour, last 24 hours")
}
