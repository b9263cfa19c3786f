package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tenantkit/tenantkit/internal/sqldialect"
	"github.com/tenantkit/tenantkit/ratelimit"
	"github.com/tenantkit/tenantkit/tenant"
	"github.com/tenantkit/tenantkit/tokenscope"
)

// The demo's API token scopes. A token carries any subset; each route needs
// the scopes in tokenRoutes.
const (
	scopeReadingsRead  = "readings:read"
	scopeReadingsWrite = "readings:write"
	scopeInvoicesRead  = "invoices:read"
)

var demoScopes = []string{scopeReadingsRead, scopeReadingsWrite, scopeInvoicesRead}

// tokenRoutes is the scope each API route requires, by the same patterns as
// routes(). The tenant's own description, its properties and their meters
// are what every client needs to find its way to readings or invoices, so
// any one of the demo scopes reads them. A request that matches no pattern
// here (an unknown /api path, a bad method) still needs a valid token of
// its tenant before the API answers 404 or 405: nothing under the tenant
// chain answers without one.
var tokenRoutes = []struct {
	pattern string
	req     tokenscope.Requirement
}{
	{"GET /api/tenant", tokenscope.AnyOf(demoScopes...)},
	{"GET /api/properties", tokenscope.AnyOf(demoScopes...)},
	{"GET /api/properties/{id}", tokenscope.AnyOf(demoScopes...)},
	{"GET /api/properties/{id}/meters", tokenscope.AnyOf(demoScopes...)},
	{"GET /api/meters/{id}/readings", tokenscope.AllOf(scopeReadingsRead)},
	{"POST /api/meters/{id}/readings", tokenscope.AllOf(scopeReadingsWrite)},
	{"GET /api/invoices", tokenscope.AllOf(scopeInvoicesRead)},
	{"GET /api/invoices/{id}", tokenscope.AllOf(scopeInvoicesRead)},
}

// tokenCacheTTL bounds how long a token revoked by `demo token revoke` (another
// process) keeps working in a running server.
const tokenCacheTTL = 5 * time.Second

// tokenStore returns the API token store on db. Tenant IDs are
// organizations.id, so the tenant column is a BIGINT like every other
// tenant_id of the demo.
func tokenStore(db *sql.DB, d sqldialect.Dialect, logger *slog.Logger) (*tokenscope.SQLStore, error) {
	return tokenscope.NewSQLStore(db, &tokenscope.SQLStoreOptions{Dialect: d.String(), TenantColumnType: "BIGINT", Logger: logger})
}

// ensureTokenSchema creates api_tokens (as the schema owner) if it is
// missing. On PostgreSQL the request-path role, when it is not the owner,
// gets SELECT and UPDATE (last_used_at) on it and nothing else: it verifies
// tokens but cannot mint or revoke them. api_tokens has no row-level
// security: a token is looked up by its ID before its tenant is known, and
// a token of another tenant must be found to be reported as a cross-tenant
// attempt rather than as unknown. It holds only SHA-256 hashes of secrets.
func ensureTokenSchema(ctx context.Context, owner, pool *sql.DB, d sqldialect.Dialect) error {
	s, err := tokenStore(owner, d, nil)
	if err != nil {
		return err
	}
	if err := s.CreateSchema(ctx); err != nil {
		return err
	}
	if d != sqldialect.Postgres || pool == nil || pool == owner {
		return nil
	}
	var role string
	if err := pool.QueryRowContext(ctx, "SELECT current_user").Scan(&role); err != nil {
		return fmt.Errorf("request-path role: %w", err)
	}
	q := d.Quote(role)
	for _, g := range []string{
		"GRANT SELECT ON api_tokens TO " + q,
		"GRANT UPDATE (last_used_at) ON api_tokens TO " + q,
	} {
		if _, err := owner.ExecContext(ctx, g); err != nil {
			return fmt.Errorf("grant api_tokens to %s: %w", role, err)
		}
	}
	return nil
}

// tokenGate is the tokenscope slot of compose: every request that reached
// the tenant chain needs a valid token of its own tenant with the scopes of
// its route. Rejected cross-tenant attempts are written to the requested
// tenant's audit_logs (action cross_tenant_access_denied), which the
// monitor counts. The store is read through the request-path pool behind a
// 5-second cache. If api_tokens cannot be created the server still starts,
// and every request is refused with 503: tokens never fail open.
func (a *App) tokenGate(next http.Handler) http.Handler {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := ensureTokenSchema(ctx, a.Owner, a.Pool, a.Dialect); err != nil {
		a.Logger.LogAttrs(ctx, slog.LevelError, "api tokens unavailable", slog.String("error", err.Error()))
	}
	store, err := tokenStore(a.Pool, a.Dialect, a.Logger)
	if err != nil {
		panic(err) // the options are constants
	}
	check := tokenscope.New(tokenscope.NewCachedVerifier(store, &tokenscope.CacheOptions{TTL: tokenCacheTTL}),
		&tokenscope.Options{Realm: "tenantkit-demo", Auditor: tokenscope.AuditorFunc(a.auditCrossTenant),
			ClientIP: clientAddr(a.clientIP()), Logger: a.Logger})

	next = a.recordTokenUse(store, next)
	classify := http.NewServeMux()
	gated := map[string]http.Handler{}
	for _, r := range tokenRoutes {
		classify.Handle(r.pattern, http.NotFoundHandler())
		gated[r.pattern] = check.Require(r.req)(next)
	}
	fallback := check.Handler(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Handler only matches; it does not serve or modify r.
		if _, pattern := classify.Handler(r); gated[pattern] != nil {
			gated[pattern].ServeHTTP(w, r)
			return
		}
		fallback.ServeHTTP(w, r)
	})
}

// recordTokenUse runs after a token was accepted: the store notes uses in
// memory, and at most once a minute a background job (which Close waits
// for) writes them to last_used_at, off the request path.
func (a *App) recordTokenUse(store *tokenscope.SQLStore, next http.Handler) http.Handler {
	var lastFlush atomic.Int64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r)
		now, last := time.Now().UnixNano(), lastFlush.Load()
		if now-last >= int64(time.Minute) && lastFlush.CompareAndSwap(last, now) {
			a.Go(context.Background(), "record api token use", func(ctx context.Context) error {
				ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				return store.Flush(ctx)
			})
		}
	})
}

// auditCrossTenant writes one audit_logs row for the tenant that was asked
// for (the context's tenant): its admins see who tried to reach their data.
// The notes have the shape "token <id> of tenant <token tenant> presented
// for tenant <requested tenant>: <method> <path>", which monitor.go
// (tokenTenantFromNotes) reads back: keep it.
//
// The write does not follow the request's cancellation: a client that hangs
// up right after sending a cross-tenant request must not leave no trace.
func (a *App) auditCrossTenant(ctx context.Context, at tokenscope.Attempt) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	notes := fmt.Sprintf("token %s of tenant %s presented for tenant %s: %s %s", at.TokenID, at.TokenTenant, at.RequestTenant, at.Method, at.Path)
	return a.tx(ctx, func(tx *sql.Tx, tid int64) error {
		_, err := tx.ExecContext(ctx, a.q(`INSERT INTO audit_logs (tenant_id, action, entity_type, notes, ip, created_at)
			VALUES (?, ?, ?, ?, ?, ?)`), tid, "cross_tenant_access_denied", "api_token", notes, truncateIP(at.ClientIP), at.Time.UTC().Truncate(time.Second))
		return err
	})
}

func truncateIP(ip string) any {
	if ip == "" {
		return nil
	}
	if len(ip) > 45 {
		ip = ip[:45]
	}
	return ip
}

func tokenCommand() command {
	return command{Name: "token", Summary: "create and revoke API tokens (token create | token revoke)", Run: runToken}
}

func runToken(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usagef("want a subcommand: token create --tenant <slug> --scopes <list> [--ttl d], or token revoke <id>")
	}
	switch args[0] {
	case "create":
		return runTokenCreate(ctx, e, args[1:])
	case "revoke":
		return runTokenRevoke(ctx, e, args[1:])
	case "-h", "-help", "--help", "help":
		fmt.Fprintf(e.Stdout, "Usage:\n  demo token create --tenant <slug> --scopes <list> [--ttl 720h] [--name label] [--db ...]\n  demo token revoke <id> [--db ...]\n\nScopes: %s.\n", strings.Join(demoScopes, ", "))
		return errHelp
	}
	return usagef("unknown token subcommand %q (want create or revoke)", args[0])
}

func runTokenCreate(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "token create", `Creates an API token for one tenant and prints it once: only its SHA-256
is stored, so it cannot be shown again (revoke it and create another).
The token works only on its own tenant's URLs, with the scopes given:
`+strings.Join(demoScopes, ", ")+`.`)
	db := fs.String("db", defaultDB, "database: a SQLite file path, postgres://user@host:port/db or mysql://user:pass@host:port/db")
	slug := fs.String("tenant", "", "the tenant's slug (required)")
	scopes := fs.String("scopes", "", "comma-separated scopes (required), e.g. readings:read,invoices:read")
	ttl := fs.Duration("ttl", 0, "lifetime, e.g. 720h; 0 never expires")
	name := fs.String("name", "", "a label for the token")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *slug == "" {
		return usagef("--tenant is required")
	}
	var sc []string
	for s := range strings.SplitSeq(*scopes, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		known := false
		for _, k := range demoScopes {
			known = known || s == k
		}
		if !known {
			return usagef("--scopes: unknown scope %q (want %s)", s, strings.Join(demoScopes, ", "))
		}
		sc = append(sc, s)
	}
	if len(sc) == 0 {
		return usagef("--scopes is required (%s)", strings.Join(demoScopes, ", "))
	}
	if *ttl < 0 {
		return usagef("--ttl must not be negative")
	}
	src, err := parseDataSource(*db)
	if err != nil {
		return usagef("--db: %v", err)
	}
	pool, err := openPool(ctx, src)
	if err != nil {
		return err
	}
	defer pool.Close()
	id, status, err := organizationBySlug(ctx, pool, src.Dialect, *slug)
	if err != nil {
		return err
	}
	if err := ensureTokenSchema(ctx, pool, nil, src.Dialect); err != nil {
		return err
	}
	store, err := tokenStore(pool, src.Dialect, nil)
	if err != nil {
		return err
	}
	raw, tok, err := store.Issue(ctx, tenant.ID(strconv.FormatInt(id, 10)), sc, *ttl, *name)
	if err != nil {
		return err
	}
	expires := "never"
	if !tok.ExpiresAt.IsZero() {
		expires = tok.ExpiresAt.Format(time.RFC3339)
	}
	fmt.Fprintf(e.Stdout, "%s\n", string(raw))
	fmt.Fprintf(e.Stderr, "Token %s for tenant %s (organization %d, %s), scopes %s, expires %s.\n",
		tok.ID, *slug, id, status, strings.Join(tok.Scopes, " "), expires)
	fmt.Fprintf(e.Stderr, "It is shown only this once (above, on standard output). Use it as:\n  curl -H \"Authorization: Bearer $TOKEN\" http://%s.localhost:8080/api/tenant\nRevoke it with: demo token revoke %s\n", *slug, tok.ID)
	return nil
}

func runTokenRevoke(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "token revoke <id>", `Revokes an API token by its ID (the part before "|"). A running server stops
accepting it within 5 seconds (its verification cache); tokens are kept,
marked revoked, so audit records still name them.`)
	db := fs.String("db", defaultDB, "database: a SQLite file path, postgres://user@host:port/db or mysql://user:pass@host:port/db")
	id, err := parseFlagsArg(fs, args)
	if err != nil {
		return err
	}
	if id == "" {
		return usagef("want the token ID: demo token revoke <id>")
	}
	id, _, _ = strings.Cut(id, "|") // a whole token pasted by mistake: use its ID only
	src, err := parseDataSource(*db)
	if err != nil {
		return usagef("--db: %v", err)
	}
	pool, err := openPool(ctx, src)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := ensureTokenSchema(ctx, pool, nil, src.Dialect); err != nil {
		return err
	}
	store, err := tokenStore(pool, src.Dialect, nil)
	if err != nil {
		return err
	}
	if err := store.Revoke(ctx, id); err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "revoked token %s\n", id)
	return nil
}

// organizationBySlug finds an organization as the schema owner, in
// explicit cross-tenant mode on PostgreSQL.
func organizationBySlug(ctx context.Context, db *sql.DB, d sqldialect.Dialect, slug string) (int64, string, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, "", err
	}
	defer tx.Rollback() //nolint:errcheck // read only
	if d == sqldialect.Postgres {
		if _, err := tx.ExecContext(ctx, "SELECT set_config('app.cross_tenant', 'on', true)"); err != nil {
			return 0, "", err
		}
	}
	var id int64
	var status string
	err = tx.QueryRowContext(ctx, d.Rebind("SELECT id, status FROM organizations WHERE slug = ?"), strings.ToLower(slug)).Scan(&id, &status)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", fmt.Errorf("no tenant with slug %q", slug)
	}
	if err != nil {
		return 0, "", fmt.Errorf("look up tenant %q (is the database seeded?): %w", slug, err)
	}
	return id, status, nil
}

// clientAddr is tokenscope's Options.ClientIP over the guest limiter's
// notion of the client, so an audited attempt names the address that was
// charged for it.
func clientAddr(c *ratelimit.ClientIP) func(*http.Request) string {
	return func(r *http.Request) string {
		if ip, ok := c.Addr(r); ok {
			return ip.String()
		}
		return ""
	}
}
