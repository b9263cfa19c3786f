// Package migrations holds the demo's schema migrations, written through
// tenantkit's migrate package: the original design's example migration,
// composite indexes led by tenant_id, with its down step.
//
// The demo's seed already creates indexes led by the same columns
// (ix_properties_tenant_id_created_at and so on), so on a seeded demo
// database the up step finds each index covered and creates nothing, and
// the down step drops only what the up step created (by name). Both steps
// decide from the catalog read inside the migration's own transaction, so
// they are correct on a database in any state and safe to run twice.
package migrations

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/pressly/goose/v3"

	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/sqldialect"
	"github.com/tenantkit/tenantkit/migrate"
)

// Index is one index the migration adds.
type Index struct {
	Table   string
	Name    string
	Columns []string
}

// TenantIndexes are the indexes of the original design's example
// migration (2024_01_01_000000_add_tenant_aware_indexes).
var TenantIndexes = []Index{
	{"properties", "properties_tenant_created_idx", []string{"tenant_id", "created_at"}},
	{"properties", "properties_tenant_active_idx", []string{"tenant_id", "is_active"}},
	{"meters", "meters_tenant_property_idx", []string{"tenant_id", "property_id"}},
	{"meters", "meters_tenant_type_idx", []string{"tenant_id", "type"}},
	{"invoices", "invoices_tenant_status_idx", []string{"tenant_id", "status"}},
	{"invoices", "invoices_tenant_period_idx", []string{"tenant_id", "billing_period_start"}},
}

// TenantIndexesVersion is the goose version of the migration, after the
// original file name.
const TenantIndexesVersion int64 = 20240101000000

// Execer is what the steps run through: a *sql.Tx (goose) or a *migrate.Tx
// (migrate.Run).
type Execer interface {
	catalog.Querier
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// UpTenantIndexes creates every index of TenantIndexes that is missing.
// An index is skipped when one of that name exists or when another
// complete index is already led by the same columns (it serves the same
// queries; a second copy would only slow writes). A missing table is an
// error naming it.
func UpTenantIndexes(ctx context.Context, x Execer, d sqldialect.Dialect) error {
	c, err := catalog.Load(ctx, x, d, nil)
	if err != nil {
		return err
	}
	for _, ix := range TenantIndexes {
		t := c.Table(ix.Table)
		if t == nil {
			return fmt.Errorf("migrations: table %q not found (create the demo schema first: demo seed)", ix.Table)
		}
		if hasIndex(t, ix.Name) || t.IndexLedBy(ix.Columns...) != nil {
			continue
		}
		for _, col := range ix.Columns {
			if !t.HasColumn(col) {
				return fmt.Errorf("migrations: table %q has no column %q", ix.Table, col)
			}
		}
		if _, err := x.ExecContext(ctx, createIndex(d, ix.Name, ix.Table, ix.Columns)); err != nil {
			return fmt.Errorf("migrations: create index %s: %w", ix.Name, err)
		}
	}
	return nil
}

// DownTenantIndexes drops the indexes of TenantIndexes that exist, by
// name, in reverse order. On MySQL/MariaDB, which refuses to drop the last
// index a foreign key can use (error 1553) and silently drops its own
// implicit foreign-key index when a better one is created, it first
// creates a plain index on the key's columns when the index being dropped
// is the only one serving a foreign key.
func DownTenantIndexes(ctx context.Context, x Execer, d sqldialect.Dialect) error {
	for _, ix := range slices.Backward(TenantIndexes) {
		c, err := catalog.Load(ctx, x, d, nil)
		if err != nil {
			return err
		}
		t := c.Table(ix.Table)
		if t == nil || !hasIndex(t, ix.Name) {
			continue
		}
		if d == sqldialect.MySQL {
			for _, fk := range t.ForeignKeys {
				if servedOnlyBy(t, fk.Columns, ix.Name) {
					name := fk.Name + "_idx"
					if len(name) > 64 {
						name = name[:64]
					}
					if _, err := x.ExecContext(ctx, createIndex(d, name, t.Name, fk.Columns)); err != nil {
						return fmt.Errorf("migrations: keep an index for foreign key %s: %w", fk.Name, err)
					}
				}
			}
		}
		q := "DROP INDEX " + d.Quote(ix.Name)
		if d == sqldialect.MySQL {
			q += " ON " + d.Quote(ix.Table)
		}
		if _, err := x.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("migrations: drop index %s: %w", ix.Name, err)
		}
	}
	return nil
}

func createIndex(d sqldialect.Dialect, name, table string, cols []string) string {
	q := make([]string, len(cols))
	for i, c := range cols {
		q[i] = d.Quote(c)
	}
	return "CREATE INDEX " + d.Quote(name) + " ON " + d.Quote(table) + " (" + strings.Join(q, ", ") + ")"
}

func hasIndex(t *catalog.Table, name string) bool {
	return slices.ContainsFunc(t.Indexes, func(ix catalog.Index) bool { return ix.Name == name })
}

// servedOnlyBy reports whether the only index led by cols is the one named.
func servedOnlyBy(t *catalog.Table, cols []string, name string) bool {
	served := false
	for _, ix := range t.Indexes {
		if ix.Partial || len(ix.Columns) < len(cols) || !slices.Equal(ix.Columns[:len(cols)], cols) {
			continue
		}
		if ix.Name != name {
			return false
		}
		served = true
	}
	return served
}

// Step returns the migration as a migrate.Step: up creates, down drops.
func Step(up bool) migrate.Step {
	return func(ctx context.Context, tx *migrate.Tx) error {
		if up {
			return UpTenantIndexes(ctx, tx, tx.Dialect())
		}
		return DownTenantIndexes(ctx, tx, tx.Dialect())
	}
}

// Goose returns the demo's migrations as goose Go migrations for dialect d,
// each running in goose's transaction.
func Goose(d sqldialect.Dialect) []*goose.Migration {
	return []*goose.Migration{
		goose.NewGoMigration(TenantIndexesVersion,
			&goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error { return UpTenantIndexes(ctx, tx, d) }},
			&goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error { return DownTenantIndexes(ctx, tx, d) }},
		),
	}
}
