package main

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/tenantkit/tenantkit/internal/sqldialect"
	"github.com/tenantkit/tenantkit/monitor"
	"github.com/tenantkit/tenantkit/tenant"
)

// monitorParts is the monitor wiring of compose: one Recorder in the tenant
// chain, and the dashboard over the same Recorder at /admin/monitor/.
type monitorParts struct {
	rec  *monitor.Recorder
	mon  *monitor.Monitor
	al   *monitor.Alerter
	dash http.Handler // nil when no admin token is configured
	// looping is set while RunAlerts evaluates on its own schedule; the
	// dashboard then never evaluates on a view.
	looping atomic.Bool
}

// RunAlerts evaluates the monitor's alert rules once a minute until ctx is
// done (monitor.Alerter.Run: notifications are logged; idle tenants are
// swept from the Recorder), then returns nil. serve runs it for the
// lifetime of the server. It needs a handler built by Handler first.
func (a *App) RunAlerts(ctx context.Context) error {
	p := a.monitor.Load()
	if p == nil {
		return errors.New("demo: RunAlerts before Handler: there is no monitor to evaluate")
	}
	p.looping.Store(true)
	defer p.looping.Store(false)
	if err := p.al.Run(tenant.WithSystem(ctx)); !errors.Is(err, ctx.Err()) {
		return err
	}
	return nil
}

// newMonitor builds the monitor parts. The dashboard exists only with an
// admin token (TENANTKIT_ADMIN_TOKEN), which is also its only credential:
// an admin sees every tenant. Alerts are evaluated once a minute by
// RunAlerts (serve runs it) and logged; without that loop (a handler built
// in a test) they are evaluated when an admin views the dashboard, at most
// once a minute.
func (a *App) newMonitor() *monitorParts {
	rec := monitor.NewRecorder(nil)
	mon := monitor.New(demoSource{db: a.DB, d: a.Dialect}, rec, &monitor.Options{Logger: a.Logger})
	al, err := monitor.NewAlerter(mon, nil, &monitor.AlerterOptions{Notifier: monitor.SlogNotifier{Logger: a.Logger}, Logger: a.Logger})
	if err != nil {
		panic(err) // the default rules are valid
	}
	p := &monitorParts{rec: rec, mon: mon, al: al}
	if a.Config.AdminToken == "" {
		return p
	}
	auth := monitor.AuthorizerFunc(func(r *http.Request) (monitor.Viewer, error) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			// Browsers cannot send a header from the address bar: the token
			// may come once in ?token= and is then kept in a cookie.
			if c, err := r.Cookie(monitorCookie); err == nil {
				got, ok = c.Value, true
			}
		}
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(a.Config.AdminToken)) != 1 {
			return monitor.Viewer{}, monitor.ErrUnauthenticated
		}
		return monitor.Viewer{Name: "admin", All: true}, nil
	})
	dash, err := monitor.NewDashboard(mon, auth, &monitor.DashboardOptions{Alerter: al, Title: "tenantkit demo · tenant health", Logger: a.Logger})
	if err != nil {
		panic(err) // the authorizer is set
	}
	var mu sync.Mutex
	var last time.Time
	p.dash = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok := r.URL.Query().Get("token"); tok != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(a.Config.AdminToken)) == 1 {
			// Secure whenever the request came over TLS, so the admin token
			// is never sent back over plain HTTP.
			http.SetCookie(w, &http.Cookie{Name: monitorCookie, Value: tok, Path: "/admin/monitor/", HttpOnly: true,
				Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
			// Same page without the token in the URL; the path is under
			// /admin/monitor/ (the route), so this cannot redirect elsewhere.
			http.Redirect(w, r, r.URL.Path, http.StatusSeeOther)
			return
		}
		// Only a viewer's request may cost an evaluation (every tenant's
		// usage queried): anonymous requests go straight to the 401.
		if _, err := auth(r); err != nil {
			http.StripPrefix("/admin/monitor", dash).ServeHTTP(w, r)
			return
		}
		mu.Lock()
		if !p.looping.Load() && time.Since(last) >= time.Minute {
			last = time.Now()
			mu.Unlock()
			if err := al.Evaluate(tenant.WithSystem(r.Context())); err != nil {
				a.Logger.WarnContext(r.Context(), "monitor evaluation failed", "error", err.Error())
			}
			rec.Sweep()
		} else {
			mu.Unlock()
		}
		http.StripPrefix("/admin/monitor", dash).ServeHTTP(w, r)
	})
	return p
}

const monitorCookie = "tenantkit_monitor"

// demoSource is the monitor.Source over the demo's tables: organizations
// (quotas, storage), users, subscriptions and audit_logs. It reads across
// tenants, so every query runs in explicit system mode. API calls today are
// not counted in the database: APICallsToday is -1 and the monitor uses the
// Recorder's count since midnight (this process only).
type demoSource struct {
	db *tenant.DB
	d  sqldialect.Dialect
}

var (
	_ monitor.Source        = demoSource{}
	_ monitor.HistorySource = demoSource{}
	_ monitor.AccessSource  = demoSource{}
)

func (s demoSource) q(query string) string { return s.d.Rebind(query) }

func (s demoSource) Tenants(ctx context.Context) ([]tenant.Tenant, error) {
	var out []tenant.Tenant
	err := s.db.SystemTx(tenant.WithSystem(ctx), func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, "SELECT id, slug, name, plan, status FROM organizations ORDER BY id")
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			var t tenant.Tenant
			if err := rows.Scan(&id, &t.Slug, &t.Name, &t.Plan, &t.Status); err != nil {
				return err
			}
			t.ID = tenant.ID(strconv.FormatInt(id, 10))
			out = append(out, t)
		}
		return rows.Err()
	})
	return out, err
}

func (s demoSource) Usage(ctx context.Context, id tenant.ID) (monitor.Usage, error) {
	u := monitor.Usage{APICallsToday: -1}
	err := s.db.SystemTx(tenant.WithSystem(ctx), func(tx *sql.Tx) error {
		var ends sql.NullTime
		if err := tx.QueryRowContext(ctx, s.q(`SELECT storage_used_bytes, storage_quota_bytes, api_calls_per_day, max_users, subscription_ends_at
			FROM organizations WHERE id = ?`), id).Scan(&u.StorageBytes, &u.StorageQuotaBytes, &u.APICallsQuota, &u.MaxUsers, &ends); err != nil {
			return fmt.Errorf("organization: %w", err)
		}
		if err := tx.QueryRowContext(ctx, s.q("SELECT COUNT(*) FROM users WHERE tenant_id = ?"), id).Scan(&u.Users); err != nil {
			return fmt.Errorf("users: %w", err)
		}
		var status string
		var subEnd time.Time
		err := tx.QueryRowContext(ctx, s.q("SELECT status, ends_at FROM subscriptions WHERE tenant_id = ? ORDER BY ends_at DESC LIMIT 1"), id).Scan(&status, &subEnd)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			u.Subscription = monitor.Subscription{Status: "none"}
		case err != nil:
			return fmt.Errorf("subscription: %w", err)
		default:
			u.Subscription = monitor.Subscription{Status: status, EndsAt: subEnd.UTC(),
				Active: status == "active" && subEnd.After(time.Now())}
		}
		for _, qr := range []string{
			"SELECT last_login_at FROM users WHERE tenant_id = ? AND last_login_at IS NOT NULL ORDER BY last_login_at DESC LIMIT 1",
			"SELECT created_at FROM audit_logs WHERE tenant_id = ? ORDER BY created_at DESC LIMIT 1",
		} {
			var at sql.NullTime
			if err := tx.QueryRowContext(ctx, s.q(qr), id).Scan(&at); err != nil && !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("last activity: %w", err)
			}
			if at.Valid && at.Time.After(u.LastActivity) {
				u.LastActivity = at.Time.UTC()
			}
		}
		return nil
	})
	return u, err
}

// History returns the users level: the count before from, then one sample
// per user created in [from, to). Storage has no history in the demo
// schema; its trend shows today's value only.
func (s demoSource) History(ctx context.Context, id tenant.ID, from, to time.Time) ([]monitor.Sample, error) {
	var out []monitor.Sample
	err := s.db.SystemTx(tenant.WithSystem(ctx), func(tx *sql.Tx) error {
		var n int64
		if err := tx.QueryRowContext(ctx, s.q("SELECT COUNT(*) FROM users WHERE tenant_id = ? AND created_at < ?"), id, from.UTC()).Scan(&n); err != nil {
			return err
		}
		out = append(out, monitor.Sample{At: from, Metric: monitor.MetricUsers, Value: float64(n)})
		rows, err := tx.QueryContext(ctx, s.q("SELECT created_at FROM users WHERE tenant_id = ? AND created_at >= ? AND created_at < ? ORDER BY created_at"), id, from.UTC(), to.UTC())
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var at time.Time
			if err := rows.Scan(&at); err != nil {
				return err
			}
			n++
			out = append(out, monitor.Sample{At: at, Metric: monitor.MetricUsers, Value: float64(n)})
		}
		if err := rows.Err(); err != nil {
			return err
		}
		var used int64
		if err := tx.QueryRowContext(ctx, s.q("SELECT storage_used_bytes FROM organizations WHERE id = ?"), id).Scan(&used); err != nil {
			return err
		}
		if now := time.Now(); now.Before(to) {
			out = append(out, monitor.Sample{At: now, Metric: monitor.MetricStorage, Value: float64(used)},
				monitor.Sample{At: now, Metric: monitor.MetricUsers, Value: float64(n)})
		}
		return nil
	})
	return out, err
}

// AccessAttempts reads tokenscope's cross-tenant refusals from audit_logs:
// the row belongs to the tenant asked for, and its notes name the token's
// tenant ("token X of tenant 7 presented for tenant 3: GET /api/...").
func (s demoSource) AccessAttempts(ctx context.Context, since time.Time) ([]monitor.AccessAttempt, error) {
	var out []monitor.AccessAttempt
	err := s.db.SystemTx(tenant.WithSystem(ctx), func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, s.q(`SELECT tenant_id, notes, created_at FROM audit_logs
			WHERE action = 'cross_tenant_access_denied' AND created_at >= ? ORDER BY created_at`), since.UTC().Truncate(time.Second))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var target int64
			var notes sql.NullString
			var at time.Time
			if err := rows.Scan(&target, &notes, &at); err != nil {
				return err
			}
			out = append(out, monitor.AccessAttempt{At: at.UTC(), Target: tenant.ID(strconv.FormatInt(target, 10)),
				Source: tokenTenantFromNotes(notes.String), Reason: "tenant_mismatch"})
		}
		return rows.Err()
	})
	return out, err
}

// tokenTenantFromNotes extracts the token's tenant from an audit note, or ""
// when the note does not have the expected shape.
func tokenTenantFromNotes(notes string) tenant.ID {
	_, rest, ok := strings.Cut(notes, " of tenant ")
	if !ok {
		return ""
	}
	id, _, ok := strings.Cut(rest, " presented")
	if !ok || id == "" || strings.ContainsAny(id, " \t\n") {
		return ""
	}
	return tenant.ID(id)
}

func healthCommand() command {
	return command{Name: "health", Summary: "print tenant health scores (table or --json)", Run: runHealth}
}

func runHealth(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "health", `Prints every tenant's health: score, band, usage against quotas and the
issues behind the score, computed by package monitor from the database.
With --server it asks a running "demo serve" instead (its /admin/monitor
JSON API, authorised by TENANTKIT_ADMIN_TOKEN), so the figures include the
traffic that server recorded and agree with its dashboard. In ISSUES a
trailing "?" marks a rule that was not judged for lack of traffic.`)
	db := fs.String("db", defaultDB, "database: a SQLite file path, postgres://user@host:port/db or mysql://user:pass@host:port/db")
	slug := fs.String("tenant", "", "only this tenant (slug)")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	server := fs.String("server", "", "base URL of a running demo server, e.g. http://localhost:8080")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var hs []monitor.Health
	var err error
	if *server != "" {
		hs, err = healthFromServer(ctx, *server, e.Getenv("TENANTKIT_ADMIN_TOKEN"))
	} else {
		hs, err = healthFromDB(ctx, *db)
	}
	if err != nil {
		return err
	}
	if *slug != "" {
		var one []monitor.Health
		for _, h := range hs {
			if h.Snapshot.Tenant.Slug == *slug {
				one = append(one, h)
			}
		}
		if len(one) == 0 {
			return fmt.Errorf("health: no tenant with slug %q", *slug)
		}
		hs = one
	}
	if *asJSON {
		enc := json.NewEncoder(e.Stdout)
		enc.SetIndent("", "  ")
		if *slug != "" {
			return enc.Encode(hs[0])
		}
		if hs == nil {
			hs = []monitor.Health{}
		}
		return enc.Encode(hs)
	}
	printHealth(e.Stdout, hs)
	return nil
}

func healthFromDB(ctx context.Context, location string) ([]monitor.Health, error) {
	src, err := parseDataSource(location)
	if err != nil {
		return nil, usagef("--db: %v", err)
	}
	pool, err := openPool(ctx, src)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	db := tenant.NewDB(pool, &tenant.DBOptions{Dialect: src.Dialect.String()})
	return monitor.New(demoSource{db: db, d: src.Dialect}, nil, nil).All(ctx)
}

func healthFromServer(ctx context.Context, base, token string) ([]monitor.Health, error) {
	if token == "" {
		return nil, usagef("--server needs TENANTKIT_ADMIN_TOKEN (the server's admin token)")
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var out []monitor.Health
	for page := 1; ; page++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet,
			strings.TrimRight(base, "/")+"/admin/monitor/api/tenants?per_page=500&page="+strconv.Itoa(page), nil)
		if err != nil {
			return nil, usagef("--server: %v", err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, fmt.Errorf("health: %w", err)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("health: read answer: %w", err)
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("health: %s answered %d: %s", base, resp.StatusCode, strings.TrimSpace(string(body)))
		}
		var p monitor.Page[monitor.Health]
		if err := json.Unmarshal(body, &p); err != nil {
			return nil, fmt.Errorf("health: decode answer: %w", err)
		}
		out = append(out, p.Items...)
		if len(p.Items) == 0 || len(out) >= p.Total {
			return out, nil
		}
	}
}

func printHealth(w io.Writer, hs []monitor.Health) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TENANT\tSCORE\tBAND\tRISK\tSTORAGE\tAPI TODAY\tUSERS\tREQ 24H\tERRORS\tP95 MS\tUPTIME\tSUBSCRIPTION\tISSUES")
	for _, h := range hs {
		s, r := h.Snapshot, h.Result
		risk := ""
		if r.AtRisk {
			risk = "AT RISK"
		}
		score := strconv.Itoa(r.Score)
		if h.Error != "" {
			score = "?"
		}
		sub := s.Subscription.Status
		if s.DaysUntilExpiry.Valid {
			sub += " (" + s.DaysUntilExpiry.String() + " d)"
		}
		var issues []string
		for _, is := range r.Issues {
			if is.Severity == monitor.SeverityInfo {
				issues = append(issues, is.Code+"?") // not judged: too little traffic
			} else {
				issues = append(issues, is.Code)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\n",
			s.Tenant.Slug, score, r.Band, risk, pctString(s.StoragePercent), s.APICallsToday, s.Users,
			s.Requests, pctString(s.ErrorPercent), s.LatencyP95MS, pctString(s.UptimePercent), sub, strings.Join(issues, ","))
	}
	tw.Flush()
}

func pctString(v monitor.Value) string {
	if !v.Valid {
		return "n/a"
	}
	return v.String() + "%"
}
