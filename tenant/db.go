package tenant

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"github.com/tenantkit/tenantkit/internal/sqldialect"
)

// ErrNotSystem is returned by DB.SystemTx for a context not marked by
// WithSystem.
var ErrNotSystem = errors.New("tenant: cross-tenant transaction needs a context marked by WithSystem")

// DBOptions configures a DB. The zero value, like a nil pointer, means every
// default.
type DBOptions struct {
	// Dialect is "postgres", "mysql" or "sqlite". Default "": detected from
	// the driver, or by asking the server on the first transaction.
	Dialect string
	// Setting is the PostgreSQL setting that carries the tenant ID inside a
	// transaction. Default "app.tenant_id".
	Setting string
	// SystemSetting is the PostgreSQL setting that is 'on' inside a
	// SystemTx and 'off' inside a Tx. Default "app.cross_tenant".
	SystemSetting string
	// TxOptions are passed to BeginTx. Default nil (the driver's defaults).
	TxOptions *sql.TxOptions
}

// DB runs database/sql transactions scoped to the tenant of a context.
//
// On PostgreSQL, Tx first runs SELECT set_config(Setting, id, true),
// set_config(SystemSetting, 'off', true) inside the transaction: the values
// are transaction-local and die with it, so a pooled connection never
// carries one request's tenant into the next. Row-level security policies of
// the shape
//
//	USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::bigint
//	       OR current_setting('app.cross_tenant', true) = 'on')
//	WITH CHECK (same)
//
// on tables with RLS ENABLEd and FORCEd, queried by a role that is neither
// the owner nor a superuser nor BYPASSRLS, then make a query outside Tx see
// no rows and make writes for another tenant fail. On MySQL/MariaDB and
// SQLite there is no such mechanism: Tx still refuses to run without a
// tenant, but isolation rests on the application's WHERE tenant_id = ?.
//
// A DB is safe for concurrent use. Its zero value is not usable; call NewDB.
type DB struct {
	db        *sql.DB
	setting   string
	system    string
	txOpts    *sql.TxOptions
	configErr error

	mu      sync.Mutex
	dialect sqldialect.Dialect
}

// NewDB returns a DB over db. A nil opts means defaults. It does no I/O; an
// invalid Dialect is reported by every Tx and SystemTx.
func NewDB(db *sql.DB, opts *DBOptions) *DB {
	if db == nil {
		panic("tenant: NewDB: nil *sql.DB")
	}
	var o DBOptions
	if opts != nil {
		o = *opts
	}
	d := &DB{db: db, setting: o.Setting, system: o.SystemSetting, txOpts: o.TxOptions}
	if d.setting == "" {
		d.setting = "app.tenant_id"
	}
	if d.system == "" {
		d.system = "app.cross_tenant"
	}
	if o.Dialect != "" {
		dl, err := sqldialect.Parse(o.Dialect)
		if err != nil {
			d.configErr = fmt.Errorf("tenant: DBOptions.Dialect: %w", err)
		}
		d.dialect = dl
	} else {
		d.dialect = sqldialect.FromDriver(db.Driver())
	}
	return d
}

// Unwrap returns the underlying *sql.DB, for work that is not tenant-scoped
// (migrations, health checks). Queries on it run without a tenant: under
// row-level security they see no tenant rows.
func (d *DB) Unwrap() *sql.DB { return d.db }

// Tx runs fn in a transaction scoped to the tenant of ctx and commits when
// fn returns nil; it rolls back when fn returns an error or panics (and
// re-panics). Without a tenant in ctx it returns ErrNoTenant before touching
// the database. A context marked by WithSystem gets no cross-tenant powers
// here: use SystemTx. fn must not keep tx after it returns.
func (d *DB) Tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	t, err := Require(ctx)
	if err != nil {
		return err
	}
	return d.run(ctx, fn, string(t.ID), "off")
}

// SystemTx runs fn in an explicitly cross-tenant transaction: only for a
// context marked by WithSystem, else it returns ErrNotSystem before touching
// the database. On PostgreSQL it sets SystemSetting to 'on' (and Setting to
// the context's tenant ID, or empty) inside the transaction only, so the
// mode can never leak into another transaction on the same connection.
func (d *DB) SystemTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if !IsSystem(ctx) {
		return ErrNotSystem
	}
	return d.run(ctx, fn, string(IDFromContext(ctx)), "on")
}

func (d *DB) run(ctx context.Context, fn func(tx *sql.Tx) error, id, system string) (err error) {
	if fn == nil {
		return errors.New("tenant: nil transaction function")
	}
	dialect, err := d.resolveDialect(ctx)
	if err != nil {
		return err
	}
	tx, err := d.db.BeginTx(ctx, d.txOpts)
	if err != nil {
		return fmt.Errorf("tenant: begin transaction: %w", err)
	}
	done := false
	defer func() {
		if !done {
			_ = tx.Rollback()
		}
	}()
	if dialect == sqldialect.Postgres {
		if _, err := tx.ExecContext(ctx, "SELECT set_config($1, $2, true), set_config($3, $4, true)",
			d.setting, id, d.system, system); err != nil {
			return fmt.Errorf("tenant: set tenant for row-level security: %w", err)
		}
	}
	if err := fn(tx); err != nil {
		return err
	}
	done = true
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("tenant: commit: %w", err)
	}
	return nil
}

// resolveDialect returns the configured or detected dialect, asking the
// server once when the driver was not recognised. Failures are not
// remembered, so a database that comes up later is detected then.
func (d *DB) resolveDialect(ctx context.Context) (sqldialect.Dialect, error) {
	if d.configErr != nil {
		return sqldialect.Unknown, d.configErr
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dialect != sqldialect.Unknown {
		return d.dialect, nil
	}
	dl, err := sqldialect.Detect(ctx, d.db)
	if err != nil {
		return sqldialect.Unknown, fmt.Errorf("tenant: detect SQL dialect: %w", err)
	}
	d.dialect = dl
	return dl, nil
}
