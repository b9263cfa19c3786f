package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/tenantkit/tenantkit/tenant"
)

const defaultDB = "./tenantkit-demo.db"

func serveCommand() command {
	return command{Name: "serve", Summary: "create, seed (first start only) and serve the demo API", Run: runServe}
}

// stringList is a repeatable, comma-separated flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

func runServe(ctx context.Context, e *env, args []string) error {
	started := time.Now()
	fs := newFlagSet(e, "serve", `Serves the demo API. On the first start the database is created and seeded
(deterministic data); later starts reuse it. Tenants are named by the subdomain
(http://acme.localhost:8080/api/tenant) or the path (/t/acme/api/tenant).`)
	addr := fs.String("addr", ":8080", "listen address host:port")
	db := fs.String("db", defaultDB, "database: a SQLite file path, postgres://user@host:port/db or mysql://user:pass@host:port/db")
	appDB := fs.String("app-db", "", "PostgreSQL only: URL of the request-path role (default: --db with user "+defaultAppRole+", created if missing)")
	size := fs.String("size", "medium", "seed size when the database is empty: small, medium or large")
	var bases stringList
	fs.Var(&bases, "base-domain", "base domain whose subdomains name tenants (repeatable, comma-separated; default localhost)")
	header := fs.String("tenant-header", "", "also resolve the tenant from this request header (e.g. X-Tenant); ignored unless --trust-tenant-header")
	trust := fs.Bool("trust-tenant-header", false, "trust --tenant-header (only behind a proxy that sets or strips it)")
	var proxies stringList
	fs.Var(&proxies, "trusted-proxy", "network of a reverse proxy in front of the demo, e.g. 10.0.0.0/8 or 127.0.0.1 (repeatable, comma-separated); behind it the client is the right-most untrusted X-Forwarded-For hop")
	redisAddr := fs.String("redis", e.Getenv(rateLimitRedisEnv), "Redis host:port (or comma-separated cluster nodes) for rate limits and quotas shared by every server process; default $"+rateLimitRedisEnv+", empty means in memory")
	adminEnv := "TENANTKIT_ADMIN_TOKEN"
	quiet := fs.Bool("quiet", false, "log warnings and errors only")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if _, err := sizeNamed(*size); err != nil {
		return usagef("--size: %v", err)
	}
	if _, _, err := net.SplitHostPort(*addr); err != nil {
		return usagef("--addr %q: want host:port (e.g. :8080)", *addr)
	}
	if src, err := parseDataSource(*db); err != nil {
		return usagef("--db: %v", err)
	} else if *appDB != "" && src.Dialect.String() != "postgres" {
		return usagef("--app-db applies to PostgreSQL only (--db is %s, which has no row-level security)", src.Dialect)
	}
	if *trust && *header == "" {
		return usagef("--trust-tenant-header needs --tenant-header")
	}
	trusted, err := parseProxies(proxies)
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if *quiet {
		level = slog.LevelWarn
	}
	logger := slog.New(slog.NewTextHandler(e.Stderr, &slog.HandlerOptions{Level: level}))
	cfg := Config{DB: *db, AppDB: *appDB, Size: *size, BaseDomains: bases, TenantHeader: *header,
		TrustTenantHeader: *trust, TrustedProxies: trusted, AdminToken: e.Getenv(adminEnv), Redis: *redisAddr, Logger: logger}

	if src, err := parseDataSource(*db); err == nil {
		logger.LogAttrs(ctx, slog.LevelInfo, "opening database", slog.String("dialect", src.Dialect.String()), slog.String("db", src.Display))
	}
	app, err := Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer app.Close()
	if app.Reused {
		logger.LogAttrs(ctx, slog.LevelInfo, "reusing seeded database", slog.String("size", app.Seeded.Size))
	} else {
		logger.LogAttrs(ctx, slog.LevelInfo, "seeded database", slog.String("size", app.Seeded.Size),
			slog.Int("meter_readings", app.Seeded.Readings), slog.Duration("elapsed", app.Seeded.Elapsed.Round(time.Millisecond)))
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           app.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	// Alerts are evaluated once a minute while the server runs, and the
	// loop has stopped before the deferred Close closes the database.
	actx, stopAlerts := context.WithCancel(ctx)
	alertsDone := make(chan struct{})
	go func() {
		defer close(alertsDone)
		if err := app.RunAlerts(actx); err != nil {
			logger.LogAttrs(actx, slog.LevelError, "monitor alerts stopped", slog.String("error", err.Error()))
		}
	}()
	defer func() { stopAlerts(); <-alertsDone }()
	printBanner(ctx, e.Stdout, app, ln.Addr().(*net.TCPAddr), time.Since(started))

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	logger.LogAttrs(context.Background(), slog.LevelInfo, "shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// printBanner prints where the demo listens and commands to try, with real
// slugs and IDs read through the normal tenant-scoped data layer.
func printBanner(ctx context.Context, out io.Writer, a *App, addr *net.TCPAddr, ready time.Duration) {
	// Written in one piece, so a reader never sees half a banner.
	w := new(bytes.Buffer)
	defer func() { _, _ = out.Write(w.Bytes()) }()
	host := "localhost"
	if ip := addr.IP; ip != nil && !ip.IsUnspecified() && !ip.IsLoopback() {
		host = ip.String()
	}
	port := strconv.Itoa(addr.Port)
	base := "http://" + net.JoinHostPort(host, port)
	sub := func(slug string) string {
		return "http://" + slug + "." + net.JoinHostPort(a.Config.BaseDomains[0], port)
	}

	s := a.Seeded
	fmt.Fprintf(w, "\ntenantkit demo ready in %.1fs — %s %s (%s data: %d organizations, %d properties, %d meters, %d meter readings, %d invoices)\n",
		ready.Seconds(), a.Dialect, a.Source.Display, s.Size, s.Organizations, s.Properties, s.Meters, s.Readings, s.Invoices)
	fmt.Fprintf(w, "Listening on %s\n\n", base)

	ex, err := a.examples(ctx)
	if err != nil {
		fmt.Fprintf(w, "(no examples: %v)\n", err)
		return
	}
	t := func(slug, path string) string { return base + "/t/" + slug + path }
	// Every /api request needs an API token of its tenant (token.go).
	fmt.Fprintf(w, "Every /api request needs an API token of its own tenant. Create one (it is printed once):\n")
	fmt.Fprintf(w, "  export TOKEN=$(go run ./examples/demo token create --db %s --tenant %s --scopes %s)\n", shellQuote(a.Source.Display), ex.Slug, strings.Join(demoScopes, ","))
	fmt.Fprintf(w, "Try it (the tenant comes from the subdomain or from the /t/{slug}/ path):\n")
	fmt.Fprintf(w, "  curl -H \"Authorization: Bearer $TOKEN\" %s/api/tenant\n", sub(ex.Slug))
	fmt.Fprintf(w, "  curl -H \"Authorization: Bearer $TOKEN\" %s\n", t(ex.Slug, "/api/properties"))
	fmt.Fprintf(w, "  curl -H \"Authorization: Bearer $TOKEN\" %s\n", t(ex.Slug, fmt.Sprintf("/api/properties/%d", ex.Property)))
	fmt.Fprintf(w, "  curl -H \"Authorization: Bearer $TOKEN\" %s\n", t(ex.Slug, fmt.Sprintf("/api/properties/%d/meters", ex.Property)))
	fmt.Fprintf(w, "  curl -H \"Authorization: Bearer $TOKEN\" '%s'\n", t(ex.Slug, fmt.Sprintf("/api/meters/%d/readings?from=%s&per_page=5", ex.Meter, ex.From)))
	fmt.Fprintf(w, "  curl -H \"Authorization: Bearer $TOKEN\" -X POST -H 'Content-Type: application/json' -d '{\"value\": %.3f}' %s\n", ex.NextValue, t(ex.Slug, fmt.Sprintf("/api/meters/%d/readings", ex.Meter)))
	fmt.Fprintf(w, "  curl -H \"Authorization: Bearer $TOKEN\" '%s'\n", t(ex.Slug, "/api/invoices?status=paid&per_page=5"))
	if ex.Invoice != 0 {
		fmt.Fprintf(w, "  curl -H \"Authorization: Bearer $TOKEN\" %s\n", t(ex.Slug, fmt.Sprintf("/api/invoices/%d", ex.Invoice)))
	}
	fmt.Fprintf(w, "Isolation:\n")
	if ex.Other != "" {
		fmt.Fprintf(w, "  curl -H \"Authorization: Bearer $TOKEN\" %s    # %s's token on %s: 403 tenant_mismatch\n", t(ex.Other, fmt.Sprintf("/api/properties/%d", ex.Property)), ex.Slug, ex.Other)
		fmt.Fprintf(w, "  curl -H \"Authorization: Bearer $TOKEN\" %s/t/%s/api/tenant    # subdomain and path disagree: 400\n", sub(ex.Other), ex.Slug)
	}
	if ex.Suspended != "" {
		fmt.Fprintf(w, "  curl -H \"Authorization: Bearer $TOKEN\" %s/api/tenant    # suspended: 403\n", sub(ex.Suspended))
	}
	fmt.Fprintf(w, "  curl %s/api/properties    # no tenant: 404\n\n", base)
}

type bannerExamples struct {
	Slug, Other, Suspended string
	Property, Meter        int64
	Invoice                int64
	From                   string
	NextValue              float64
}

// examples picks real slugs and IDs for the banner: the first active
// organization (acme in the seeded data), another one, and a suspended one.
func (a *App) examples(ctx context.Context) (bannerExamples, error) {
	var ex bannerExamples
	list, err := a.AllTenants(tenant.WithSystem(ctx))
	if err != nil {
		return ex, err
	}
	for _, t := range list {
		switch {
		case t.Status != string(tenant.StatusActive):
			if ex.Suspended == "" {
				ex.Suspended = t.Slug
			}
		case ex.Slug == "" && t.Properties > 0:
			ex.Slug = t.Slug
		case ex.Other == "":
			ex.Other = t.Slug
		}
	}
	if ex.Slug == "" {
		return ex, errors.New("no active organization with properties")
	}
	tn, err := a.Directory.Lookup(ctx, ex.Slug)
	if err != nil {
		return ex, err
	}
	tctx := tenant.NewContext(ctx, tn)
	props, _, err := a.Properties(tctx, page{Page: 1, PerPage: 1})
	if err != nil || len(props) == 0 {
		return ex, fmt.Errorf("first property: %v", err)
	}
	ex.Property = props[0].ID
	meters, _, err := a.PropertyMeters(tctx, ex.Property, page{Page: 1, PerPage: 10})
	if err != nil || len(meters) == 0 {
		return ex, fmt.Errorf("meters: %v", err)
	}
	ex.Meter = meters[0].ID
	for _, m := range meters {
		if m.Cumulative {
			ex.Meter = m.ID
			break
		}
	}
	ex.From = time.Now().UTC().AddDate(0, 0, -7).Format(time.DateOnly)
	_, total, err := a.Readings(tctx, ex.Meter, time.Time{}, time.Time{}, page{Page: 1, PerPage: 1})
	if err != nil {
		return ex, err
	}
	if total > 0 {
		last, _, err := a.Readings(tctx, ex.Meter, time.Time{}, time.Time{}, page{Page: total, PerPage: 1})
		if err == nil && len(last) == 1 {
			ex.NextValue = last[0].Value + 12.5
		}
	}
	inv, _, err := a.Invoices(tctx, "", page{Page: 1, PerPage: 1})
	if err == nil && len(inv) == 1 {
		ex.Invoice = inv[0].ID
	}
	return ex, nil
}

// shellQuote returns s as one POSIX shell word for a command the banner
// prints: as it is when every byte is one no shell treats specially, else
// in single quotes.
func shellQuote(s string) string {
	safe := s != ""
	for _, c := range []byte(s) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("@%+=:,./_-", c) >= 0:
		default:
			safe = false
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// parseProxies parses --trusted-proxy values: CIDR prefixes, or single
// addresses (a /32 or /128).
func parseProxies(vs []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(vs))
	for _, v := range vs {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			a, aerr := netip.ParseAddr(v)
			if aerr != nil || a.Zone() != "" {
				return nil, usagef("--trusted-proxy %q: want a network such as 10.0.0.0/8 or fd00::/8, or one address", v)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
