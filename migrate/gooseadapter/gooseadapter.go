package gooseadapter

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"slices"
	"sync"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"

	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/sqldialect"
	"github.com/tenantkit/tenantkit/migrate"
)

// Options configures NewProvider. A nil *Options means all defaults.
type Options struct {
	// Dialect of db; sqldialect.Unknown (the default) derives it from the
	// driver without I/O and fails when the driver is not recognised.
	Dialect sqldialect.Dialect
	// Check configures the checks (tenant column and table, sample size,
	// Strict). Its Dialect is ignored; the version table is always
	// excluded from the catalog.
	Check *migrate.Options
	// TableName is goose's version table. Default goose.DefaultTablename
	// ("goose_db_version").
	TableName string
	// OnReport, if set, is called after each migration's post-checks with
	// the migration's version, direction ("up" or "down") and report,
	// before the version row is written. It must not block.
	OnReport func(version int64, direction string, rep *migrate.Report)
}

// Provider runs goose migrations with tenant-integrity checks around each
// one. It is safe for concurrent use; migrating calls are serialised.
type Provider struct {
	goose *goose.Provider
	db    *sql.DB
	store *checkedStore
	mu    sync.Mutex
}

// NewProvider returns a goose provider over db and fsys (as
// goose.NewProvider) whose migrations gain the checks. gooseOpts are passed
// to goose; goose.WithStore and goose.WithTableName must not be among them
// (use Options.TableName). It does no I/O.
func NewProvider(db *sql.DB, fsys fs.FS, opts *Options, gooseOpts ...goose.ProviderOption) (*Provider, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.TableName == "" {
		o.TableName = goose.DefaultTablename
	}
	d := o.Dialect
	if d == sqldialect.Unknown {
		d = sqldialect.FromDriver(db.Driver())
	}
	gd, ok := map[sqldialect.Dialect]database.Dialect{
		sqldialect.Postgres: database.DialectPostgres,
		sqldialect.MySQL:    database.DialectMySQL,
		sqldialect.SQLite:   database.DialectSQLite3,
	}[d]
	if !ok {
		return nil, fmt.Errorf("gooseadapter: unsupported or undetected dialect %v: set Options.Dialect", d)
	}
	inner, err := database.NewStore(gd, o.TableName)
	if err != nil {
		return nil, fmt.Errorf("gooseadapter: %w", err)
	}
	var co migrate.Options
	if o.Check != nil {
		co = *o.Check
	}
	co.Dialect = d
	var cat catalog.Options
	if co.Catalog != nil {
		cat = *co.Catalog
	}
	cat.Exclude = append(slices.Clone(cat.Exclude), o.TableName)
	co.Catalog = &cat
	s := &checkedStore{Store: inner, d: d, opts: co, onReport: o.OnReport}
	gp, err := goose.NewProvider(goose.DialectCustom, db, fsys, append(slices.Clone(gooseOpts), goose.WithStore(s))...)
	if err != nil {
		return nil, fmt.Errorf("gooseadapter: %w", err)
	}
	s.sources = map[int64]string{}
	for _, src := range gp.ListSources() {
		s.sources[src.Version] = src.Path
	}
	return &Provider{goose: gp, db: db, store: s}, nil
}

// Goose returns the wrapped goose provider for read-only use (Status,
// ListSources). Migrating through it directly still runs the post-checks,
// but against the baseline of the last migrating call of this Provider (or,
// before any, none: every violation counts as new), so use Provider's
// methods.
func (p *Provider) Goose() *goose.Provider { return p.goose }

// Reports returns the reports of the migrations run by the last migrating
// call, in order, including a failing one.
func (p *Provider) Reports() []VersionReport {
	p.store.mu.Lock()
	defer p.store.mu.Unlock()
	return slices.Clone(p.store.reports)
}

// VersionReport is the post-check report of one migration.
type VersionReport struct {
	Version   int64
	Direction string
	Report    *migrate.Report
}

// run takes a baseline of the database, then runs fn (a goose call).
func (p *Provider) run(ctx context.Context, fn func() error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	base, err := migrate.Check(ctx, p.db, &p.store.opts)
	if err != nil {
		return fmt.Errorf("gooseadapter: baseline checks: %w", err)
	}
	if p.store.opts.Strict && len(base.Violations()) > 0 {
		base.Outcome = migrate.OutcomeAborted
		return &migrate.ViolationError{Report: base}
	}
	p.store.start(base)
	return fn()
}

// Up applies every pending migration, each checked (see the package doc).
func (p *Provider) Up(ctx context.Context) (res []*goose.MigrationResult, err error) {
	err = p.run(ctx, func() error { res, err = p.goose.Up(ctx); return err })
	return res, err
}

// UpByOne applies the next pending migration.
func (p *Provider) UpByOne(ctx context.Context) (res *goose.MigrationResult, err error) {
	err = p.run(ctx, func() error { res, err = p.goose.UpByOne(ctx); return err })
	return res, err
}

// UpTo applies pending migrations up to and including version.
func (p *Provider) UpTo(ctx context.Context, version int64) (res []*goose.MigrationResult, err error) {
	err = p.run(ctx, func() error { res, err = p.goose.UpTo(ctx, version); return err })
	return res, err
}

// Down rolls back the most recent migration.
func (p *Provider) Down(ctx context.Context) (res *goose.MigrationResult, err error) {
	err = p.run(ctx, func() error { res, err = p.goose.Down(ctx); return err })
	return res, err
}

// DownTo rolls back migrations down to, not including, version.
func (p *Provider) DownTo(ctx context.Context, version int64) (res []*goose.MigrationResult, err error) {
	err = p.run(ctx, func() error { res, err = p.goose.DownTo(ctx, version); return err })
	return res, err
}

// ApplyVersion applies (up=true) or rolls back one version.
func (p *Provider) ApplyVersion(ctx context.Context, version int64, up bool) (res *goose.MigrationResult, err error) {
	err = p.run(ctx, func() error { res, err = p.goose.ApplyVersion(ctx, version, up); return err })
	return res, err
}

// Status returns goose's status of every migration.
func (p *Provider) Status(ctx context.Context) ([]*goose.MigrationStatus, error) {
	return p.goose.Status(ctx)
}

// GetDBVersion returns the highest applied version.
func (p *Provider) GetDBVersion(ctx context.Context) (int64, error) { return p.goose.GetDBVersion(ctx) }

// HasPending reports whether migrations are pending.
func (p *Provider) HasPending(ctx context.Context) (bool, error) { return p.goose.HasPending(ctx) }

// ListSources lists the migration sources.
func (p *Provider) ListSources() []*goose.Source { return p.goose.ListSources() }

// Close closes the database handle goose holds (the *sql.DB passed in).
func (p *Provider) Close() error { return p.goose.Close() }

// checkedStore is goose's version store with the post-checks in front of
// every version write: goose calls Insert (up) or Delete (down) with the
// migration's own transaction right after running it, so an error here
// makes goose roll the migration back with its version row unwritten.
type checkedStore struct {
	database.Store
	d        sqldialect.Dialect
	opts     migrate.Options
	onReport func(int64, string, *migrate.Report)
	sources  map[int64]string

	mu       sync.Mutex
	baseline *migrate.Report
	reports  []VersionReport
}

func (s *checkedStore) start(base *migrate.Report) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.baseline, s.reports = base, nil
}

func (s *checkedStore) Insert(ctx context.Context, db database.DBTxConn, req database.InsertRequest) error {
	if req.Version != 0 { // version 0 is goose's own bootstrap row
		if err := s.check(ctx, db, req.Version, "up"); err != nil {
			return err
		}
	}
	return s.Store.Insert(ctx, db, req)
}

func (s *checkedStore) Delete(ctx context.Context, db database.DBTxConn, version int64) error {
	if err := s.check(ctx, db, version, "down"); err != nil {
		return err
	}
	return s.Store.Delete(ctx, db, version)
}

func (s *checkedStore) check(ctx context.Context, db database.DBTxConn, version int64, dir string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, inTx := db.(*sql.Tx)
	if inTx && s.d == sqldialect.Postgres {
		// As migrate.Run: a role subject to row-level security must fail
		// loudly, not check a filtered view. Local to goose's transaction.
		if _, err := db.ExecContext(ctx, "SET LOCAL row_security = off"); err != nil {
			return fmt.Errorf("gooseadapter: %w", err)
		}
	}
	rep, err := migrate.Check(ctx, db, &s.opts)
	if rep != nil {
		rep.Since(s.baseline)
		s.reports = append(s.reports, VersionReport{Version: version, Direction: dir, Report: rep})
		if s.onReport != nil {
			s.onReport(version, dir, rep)
		}
	}
	if err != nil {
		return fmt.Errorf("gooseadapter: post-checks of version %d: %w", version, err)
	}
	// Inside goose's transaction on PostgreSQL/SQLite the error rolls the
	// migration back; a migration run without a transaction (-- +goose NO
	// TRANSACTION), and any DDL on MySQL/MariaDB, has already committed.
	rolledBack := inTx && s.d.TransactionalDDL()
	if len(rep.New()) > 0 {
		if rolledBack {
			rep.Outcome = migrate.OutcomeRolledBack
			return &migrate.ViolationError{Report: rep}
		}
		rep.Outcome = migrate.OutcomePartiallyApplied
		rep.Statements = []migrate.Statement{{
			SQL:   fmt.Sprintf("goose %s %d (%s)", dir, version, s.sources[version]),
			State: migrate.StateCommitted, ImplicitCommit: inTx,
		}}
		return &migrate.PartialError{Report: rep, Err: &migrate.ViolationError{Report: rep}}
	}
	rep.Outcome = migrate.OutcomeApplied
	s.baseline = rep
	return nil
}

var _ database.Store = (*checkedStore)(nil)

// ErrViolation is migrate.ErrViolation, for callers that import only this
// package.
var ErrViolation = migrate.ErrViolation
