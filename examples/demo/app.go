package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/go-sql-driver/mysql" // registers "mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	_ "modernc.org/sqlite"             // registers "sqlite"

	"github.com/tenantkit/tenantkit/internal/sqldialect"
	"github.com/tenantkit/tenantkit/ratelimit"
	"github.com/tenantkit/tenantkit/tenant"
)

// defaultAppRole is the PostgreSQL role the request path uses when --app-db
// is not given: the demo creates it (LOGIN, NOSUPERUSER, NOBYPASSRLS) and
// grants it only data privileges, so row-level security applies to it.
const defaultAppRole = "tenantkit_app"

// Config is what the serve and seed commands pass to Open.
type Config struct {
	// DB is the database location (--db): a SQLite path or a postgres://,
	// mysql:// URL. It is the schema owner connection: DDL and seed.
	DB string
	// AppDB is the PostgreSQL URL of the request path (--app-db). Default:
	// DB with the user replaced by tenantkit_app (created if missing).
	// Ignored on MySQL and SQLite, which have no row-level security.
	AppDB string
	// Size is the seed size used when the database is empty. Default medium.
	Size string
	// NoSeed makes Open fail on an empty database instead of seeding it.
	NoSeed bool
	// BaseDomains are the domains whose subdomains name tenants. Default
	// ["localhost"].
	BaseDomains []string
	// TenantHeader, when set, adds a header resolver (X-Tenant, say) to the
	// chain. It answers only when TrustTenantHeader is true: set that only
	// behind a proxy that sets or strips the header.
	TenantHeader      string
	TrustTenantHeader bool
	// AdminToken enables GET /admin/api/tenants (a cross-tenant overview in
	// system mode) for requests with "Authorization: Bearer <AdminToken>".
	// Empty: the admin routes answer 404.
	AdminToken string
	// MaxOpenConns caps the request-path pool. Default 0: the driver default
	// (SQLite: 8).
	MaxOpenConns int
	// Anchor is the seed's "today". Default: the current UTC day.
	Anchor time.Time
	// Redis is the Redis (host:port, or comma-separated cluster nodes) that
	// holds rate limits and quotas, shared by every server process (--redis,
	// default $TENANTKIT_REDIS). Empty: in memory, per process.
	Redis string
	// RedisPrefix starts every Redis key of the limiters. Default: the
	// redisstore default ("tk:rl:"); set it to let several demos share one
	// Redis.
	RedisPrefix string
	// TrustedProxies are the networks of reverse proxies in front of the
	// demo (--trusted-proxy). Only for a connection from one of them is
	// X-Forwarded-For read (right-most untrusted hop) to find the client
	// that the guest limit is keyed by and that cross-tenant attempts are
	// logged with. Default: none; the connection's address is the client.
	TrustedProxies []netip.Prefix
	// Logger receives the demo's logs. Default: discard.
	Logger *slog.Logger
}

// App is the composed demo: database handles, the tenant directory and the
// configuration the HTTP chain is built from. Engineers adding a part of
// tenantkit to the demo add its fields here (a rate limiter, a token
// verifier, a monitor recorder) and wire them in server.go.
//
// An App is safe for concurrent use once Open returns.
type App struct {
	Config  Config
	Dialect sqldialect.Dialect
	// Source is the parsed --db location (Display is safe to print).
	Source dataSource
	// Owner is the schema owner connection: DDL, seed, migrations, backup
	// and restore. Never used by request handlers. On MySQL and SQLite it is
	// the same pool as Pool.
	Owner *sql.DB
	// Pool is the request-path connection pool. On PostgreSQL it connects as
	// a role that is neither superuser, BYPASSRLS nor owner of a tenant
	// table (checked by Open).
	Pool *sql.DB
	// DB runs every request's data access: Tx for the request's tenant,
	// SystemTx for explicit cross-tenant work (the directory, admin).
	DB *tenant.DB
	// Directory looks tenants up by slug in organizations (cached).
	Directory *tenant.Cache
	// Logger is never nil.
	Logger *slog.Logger
	// Seeded describes the data: what was seeded now or found.
	Seeded seedStats
	// Reused reports whether Open found an already seeded database.
	Reused bool

	jobs sync.WaitGroup // background work started by handlers

	monitor atomic.Pointer[monitorParts] // of the last Handler; RunAlerts uses it

	limitsOnce  sync.Once
	limits      ratelimit.Store // shared by the guest and plan limiters
	limitsClose func() error    // closes the Redis client, if any
}

// Open connects to cfg.DB, creates and seeds the schema when the database is
// empty (or reuses it when it carries the seeded marker), connects the
// request path and, on PostgreSQL, refuses a request-path role that would
// bypass row-level security.
func Open(ctx context.Context, cfg Config) (*App, error) {
	src, err := parseDataSource(cfg.DB)
	if err != nil {
		return nil, fmt.Errorf("--db: %w", err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if len(cfg.BaseDomains) == 0 {
		cfg.BaseDomains = []string{"localhost"}
	}
	size, err := sizeNamed(cfg.Size)
	if err != nil {
		return nil, fmt.Errorf("--size: %w", err)
	}
	a := &App{Config: cfg, Dialect: src.Dialect, Source: src, Logger: cfg.Logger}
	ok := false
	defer func() {
		if !ok {
			a.Close()
		}
	}()
	a.Owner, err = openPool(ctx, src)
	if err != nil {
		return nil, err
	}
	stats, reused, err := ensureSeeded(ctx, a.Owner, src.Dialect, size, cfg.Anchor, cfg.NoSeed)
	if err != nil {
		return nil, err
	}
	a.Seeded, a.Reused = stats, reused
	if src.Dialect == sqldialect.Postgres {
		if err := a.openPostgresRequestPath(ctx); err != nil {
			return nil, err
		}
	} else {
		a.Pool = a.Owner
	}
	if cfg.MaxOpenConns > 0 {
		a.Pool.SetMaxOpenConns(cfg.MaxOpenConns)
	}
	a.DB = tenant.NewDB(a.Pool, &tenant.DBOptions{Dialect: src.Dialect.String()})
	a.Directory = tenant.NewCache(tenant.DirectoryFunc(a.lookupTenant), nil)
	ok = true
	return a, nil
}

// openPool opens and pings a pool for src.
func openPool(ctx context.Context, src dataSource) (*sql.DB, error) {
	db, err := sql.Open(src.Driver, src.DSN)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", src.Display, err)
	}
	if src.Dialect == sqldialect.SQLite {
		// One writer at a time anyway; a few readers beside it under WAL.
		db.SetMaxOpenConns(8)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to %s: %w", src.Display, err)
	}
	return db, nil
}

// openPostgresRequestPath connects the request-path pool and checks its role.
func (a *App) openPostgresRequestPath(ctx context.Context) error {
	appURL := a.Config.AppDB
	if appURL == "" {
		var err error
		appURL, err = withPostgresUser(a.Config.DB, defaultAppRole)
		if err != nil {
			return err
		}
		if err := ensureAppRole(ctx, a.Owner, defaultAppRole); err != nil {
			// Not fatal: the role may exist already, created by an operator.
			a.Logger.LogAttrs(ctx, slog.LevelWarn, "cannot create the request-path role",
				slog.String("role", defaultAppRole), slog.String("error", err.Error()))
		}
	}
	src, err := parseDataSource(appURL)
	if err != nil {
		return fmt.Errorf("--app-db: %w", err)
	}
	if src.Dialect != sqldialect.Postgres {
		return fmt.Errorf("--app-db must be a postgres:// URL when --db is PostgreSQL, got %s", src.Display)
	}
	a.Pool, err = openPool(ctx, src)
	if err != nil {
		return fmt.Errorf("request-path connection (--app-db, default role %s): %w", defaultAppRole, err)
	}
	return checkRequestRole(ctx, a.Pool)
}

// Close waits for background jobs and closes the pools.
func (a *App) Close() error {
	a.jobs.Wait()
	var errs []error
	if a.limitsClose != nil {
		errs = append(errs, a.limitsClose())
	}
	if a.Pool != nil && a.Pool != a.Owner {
		errs = append(errs, a.Pool.Close())
	}
	if a.Owner != nil {
		errs = append(errs, a.Owner.Close())
	}
	return errors.Join(errs...)
}

// Go runs fn in a background goroutine that Close waits for. ctx must come
// from tenant.Detach(r.Context()) (or another context that carries the
// tenant): a goroutine handed context.Background() has no tenant and its
// data access fails with tenant.ErrNoTenant.
func (a *App) Go(ctx context.Context, name string, fn func(ctx context.Context) error) {
	a.jobs.Add(1)
	go func() {
		defer a.jobs.Done()
		if err := fn(ctx); err != nil {
			a.Logger.LogAttrs(ctx, slog.LevelWarn, "background job failed", slog.String("job", name),
				slog.String("tenant_id", string(tenant.IDFromContext(ctx))), slog.String("error", err.Error()))
		}
	}()
}

// lookupTenant is the tenant directory: organizations by slug. It precedes
// the tenant, so it runs in explicit system mode, in its own derived context
// that is not handed on.
func (a *App) lookupTenant(ctx context.Context, slug string) (tenant.Tenant, error) {
	var t tenant.Tenant
	var id int64
	err := a.DB.SystemTx(tenant.WithSystem(ctx), func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, a.Dialect.Rebind("SELECT id, slug, name, plan, status FROM organizations WHERE slug = ?"),
			strings.ToLower(slug)).Scan(&id, &t.Slug, &t.Name, &t.Plan, &t.Status)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return tenant.Tenant{}, tenant.ErrNotFound
	}
	if err != nil {
		return tenant.Tenant{}, fmt.Errorf("demo: look up tenant: %w", err)
	}
	t.ID = tenant.ID(strconv.FormatInt(id, 10))
	return t, nil
}

// tenantID returns the numeric organizations.id of the context's tenant.
func tenantID(ctx context.Context) (int64, error) {
	t, err := tenant.Require(ctx)
	if err != nil {
		return 0, err
	}
	id, err := strconv.ParseInt(string(t.ID), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("demo: tenant ID %q is not an organizations.id: %w", t.ID, err)
	}
	return id, nil
}

// ensureSeeded creates and seeds the schema on an empty database, or reuses
// a database that carries the seeded marker. It refuses a database that has
// an organizations table but is not a demo database.
func ensureSeeded(ctx context.Context, db *sql.DB, d sqldialect.Dialect, size seedSize, anchor time.Time, noSeed bool) (seedStats, bool, error) {
	hasMeta, err := tableExists(ctx, db, d, metaTable)
	if err != nil {
		return seedStats{}, false, err
	}
	if hasMeta {
		marker, err := readMarker(ctx, db, d)
		if err != nil {
			return seedStats{}, false, err
		}
		if marker != "" {
			st, err := countRows(ctx, db, d)
			st.Size = marker
			return st, true, err
		}
		// Only MySQL can get here (its DDL is not transactional): the tables
		// exist but the seed did not finish. Start over.
		if err := dropSchema(ctx, db, d); err != nil {
			return seedStats{}, false, err
		}
	} else if has, err := tableExists(ctx, db, d, "organizations"); err != nil {
		return seedStats{}, false, err
	} else if has {
		return seedStats{}, false, errors.New("the database has an organizations table but no demo_meta marker: it is not a tenantkit demo database; point --db at an empty database")
	}
	if noSeed {
		return seedStats{}, false, errors.New("the database is empty (run `demo seed` first)")
	}
	if anchor.IsZero() {
		anchor = time.Now()
	}
	st, err := seedDatabase(ctx, db, d, size, anchor)
	return st, false, err
}

// readMarker returns the seeded size recorded in demo_meta, or "".
func readMarker(ctx context.Context, db *sql.DB, d sqldialect.Dialect) (string, error) {
	var v string
	err := db.QueryRowContext(ctx, d.Rebind("SELECT value FROM "+metaTable+" WHERE name = ?"), "seeded_size").Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read seeded marker: %w", err)
	}
	return v, nil
}

// countRows counts the seeded rows, as the owner in system mode.
func countRows(ctx context.Context, db *sql.DB, d sqldialect.Dialect) (seedStats, error) {
	var st seedStats
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: d != sqldialect.SQLite})
	if err != nil {
		return st, err
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	if d == sqldialect.Postgres {
		if _, err := tx.ExecContext(ctx, "SELECT set_config('app.cross_tenant', 'on', true)"); err != nil {
			return st, err
		}
	}
	for _, c := range []struct {
		table string
		n     *int
	}{
		{"organizations", &st.Organizations}, {"properties", &st.Properties}, {"meters", &st.Meters},
		{"meter_readings", &st.Readings}, {"invoices", &st.Invoices}, {"invoice_items", &st.InvoiceItems},
	} {
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+c.table).Scan(c.n); err != nil {
			return st, fmt.Errorf("count %s: %w", c.table, err)
		}
	}
	return st, nil
}
