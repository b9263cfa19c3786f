package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/pressly/goose/v3"

	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/sqldialect"
	"github.com/tenantkit/tenantkit/migrate"
)

func checkCommand() command {
	return command{Name: "check", Summary: "check tenant integrity of the database (exit 1 on violations)", Run: runCheck}
}

// errViolations makes `demo check` exit 1 after printing the report.
var errViolations = errors.New("tenant integrity violations found")

func runCheck(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "check", `Runs tenantkit's tenant-integrity checks on the demo database and prints the
report: rows with a NULL tenant_id, tenant ids missing from organizations,
orphaned foreign keys (every key, validated or not) and cross-tenant
references (a child whose parent belongs to another tenant, including
invoice_items through their invoice). Exits 1 when a violation is found.`)
	db := fs.String("db", defaultDB, "database: a SQLite file path, postgres://user@host:port/db or mysql://user:pass@host:port/db")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	samples := fs.Int("samples", migrate.DefaultSampleSize, "sample keys per violation")
	if err := parseFlags(fs, args); err != nil {
		return err
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
	has, err := tableExists(ctx, pool, src.Dialect, "organizations")
	if err != nil {
		return err
	}
	if !has {
		return fmt.Errorf("%s has no demo schema: run 'demo seed' first", src.Display)
	}
	rep, err := checkDemo(ctx, pool, src.Dialect, *samples)
	if rep != nil {
		if *asJSON {
			enc := json.NewEncoder(e.Stdout)
			enc.SetIndent("", "  ")
			if werr := enc.Encode(rep); werr != nil {
				return werr
			}
		} else if werr := rep.WriteTable(e.Stdout); werr != nil {
			return werr
		}
	}
	if err != nil {
		return err
	}
	if !rep.OK() {
		return fmt.Errorf("%w: %d", errViolations, len(rep.Violations()))
	}
	return nil
}

// demoCheckOptions are the migrate options for the demo schema: the
// defaults (tenant_id → organizations.id) minus the demo's bookkeeping and
// goose's version table.
func demoCheckOptions(d sqldialect.Dialect, samples int) *migrate.Options {
	if samples <= 0 {
		samples = -1
	}
	return &migrate.Options{
		Dialect:    d,
		SampleSize: samples,
		Catalog:    &catalog.Options{Exclude: []string{metaTable, goose.DefaultTablename}},
	}
}

// checkDemo runs the checks. On PostgreSQL the tenant tables FORCE row-level
// security, so the checks run in a read-only transaction in the policy's
// explicit cross-tenant mode (app.cross_tenant = on, transaction-local):
// they must see every tenant's rows, and a role that cannot is an error
// rather than a clean report.
func checkDemo(ctx context.Context, pool *sql.DB, d sqldialect.Dialect, samples int) (*migrate.Report, error) {
	opts := demoCheckOptions(d, samples)
	if d != sqldialect.Postgres {
		return migrate.Check(ctx, pool, opts)
	}
	tx, err := pool.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "SELECT set_config('app.cross_tenant', 'on', true)"); err != nil {
		return nil, err
	}
	return migrate.Check(ctx, tx, opts)
}
