package migrations_test

import (
	"database/sql"
	"slices"
	"testing"

	"github.com/pressly/goose/v3"
	"github.com/stretchr/testify/require"

	"github.com/tenantkit/tenantkit/examples/demo/migrations"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/sqldialect"
	"github.com/tenantkit/tenantkit/internal/testenv"
	"github.com/tenantkit/tenantkit/migrate"
	"github.com/tenantkit/tenantkit/migrate/gooseadapter"
)

// schema is the part of the demo schema the migration touches, with its
// foreign keys and none of its secondary indexes.
func schema(d sqldialect.Dialect) []string {
	boolT := "BOOLEAN"
	if d == sqldialect.MySQL {
		boolT = "TINYINT(1)"
	}
	return []string{
		`CREATE TABLE organizations (id BIGINT PRIMARY KEY)`,
		`CREATE TABLE properties (id BIGINT PRIMARY KEY, tenant_id BIGINT NOT NULL REFERENCES organizations(id),
			is_active ` + boolT + ` NOT NULL DEFAULT TRUE, created_at VARCHAR(40) NOT NULL)`,
		`CREATE TABLE meters (id BIGINT PRIMARY KEY, tenant_id BIGINT NOT NULL REFERENCES organizations(id),
			property_id BIGINT NOT NULL REFERENCES properties(id), type VARCHAR(16) NOT NULL)`,
		`CREATE TABLE invoices (id BIGINT PRIMARY KEY, tenant_id BIGINT NOT NULL REFERENCES organizations(id),
			status VARCHAR(16) NOT NULL, billing_period_start DATE NOT NULL)`,
		`INSERT INTO organizations (id) VALUES (1), (2)`,
		`INSERT INTO properties (id, tenant_id, created_at) VALUES (1, 1, '2024-01-01'), (2, 2, '2024-01-01')`,
		`INSERT INTO meters (id, tenant_id, property_id, type) VALUES (1, 1, 1, 'water')`,
	}
}

func open(t *testing.T, name string) (*sql.DB, sqldialect.Dialect) {
	switch name {
	case "postgres":
		return testenv.PostgresDB(t), sqldialect.Postgres
	case "mysql":
		return testenv.MySQLDB(t), sqldialect.MySQL
	}
	return testenv.SQLiteDB(t), sqldialect.SQLite
}

func indexes(t *testing.T, db *sql.DB, d sqldialect.Dialect) map[string][]string {
	t.Helper()
	c, err := catalog.Load(t.Context(), db, d, nil)
	require.NoError(t, err)
	out := map[string][]string{}
	for _, tb := range c.Tables {
		for _, ix := range tb.Indexes {
			if !ix.Primary {
				out[tb.Name+"."+ix.Name] = ix.Columns
			}
		}
	}
	return out
}

func TestTenantIndexes(t *testing.T) {
	for _, name := range []string{"postgres", "mysql", "sqlite"} {
		t.Run(name, func(t *testing.T) {
			db, d := open(t, name)
			ctx := t.Context()
			for _, s := range schema(d) {
				_, err := db.ExecContext(ctx, s)
				require.NoError(t, err, s)
			}
			before := indexes(t, db, d)

			rep, err := migrate.Run(ctx, db, migrations.Step(true), nil)
			require.NoError(t, err)
			require.Equal(t, migrate.OutcomeApplied, rep.Outcome)
			require.True(t, rep.OK())
			after := indexes(t, db, d)
			for _, ix := range migrations.TenantIndexes {
				require.Equal(t, ix.Columns, after[ix.Table+"."+ix.Name], ix.Name)
			}

			// Idempotent.
			rep, err = migrate.Run(ctx, db, migrations.Step(true), nil)
			require.NoError(t, err)
			require.Empty(t, rep.Statements)

			// Down drops exactly those (MySQL keeps an index for each
			// foreign key the dropped index was serving).
			_, err = migrate.Run(ctx, db, migrations.Step(false), nil)
			require.NoError(t, err)
			down := indexes(t, db, d)
			for _, ix := range migrations.TenantIndexes {
				require.NotContains(t, down, ix.Table+"."+ix.Name)
			}
			if d != sqldialect.MySQL {
				require.Equal(t, before, down)
			}
			c, err := catalog.Load(ctx, db, d, nil)
			require.NoError(t, err)
			for _, tb := range c.Tables {
				for _, fk := range tb.ForeignKeys {
					if d == sqldialect.MySQL {
						require.NotNil(t, tb.IndexLedBy(fk.Columns...), "index for %s", fk.Name)
					}
				}
			}
		})
	}
}

// On a database that already has indexes led by the same columns (the
// demo's seed creates them), up creates nothing and down drops nothing.
func TestTenantIndexesCovered(t *testing.T) {
	db, d := open(t, "sqlite")
	ctx := t.Context()
	for _, s := range append(schema(d), `CREATE INDEX ix_meters_tenant_id_property_id ON meters (tenant_id, property_id)`) {
		_, err := db.ExecContext(ctx, s)
		require.NoError(t, err)
	}
	rep, err := migrate.Run(ctx, db, migrations.Step(true), nil)
	require.NoError(t, err)
	require.Len(t, rep.Statements, 5)
	require.NotContains(t, indexes(t, db, d), "meters.meters_tenant_property_idx")
	_, err = migrate.Run(ctx, db, migrations.Step(false), nil)
	require.NoError(t, err)
	require.Contains(t, indexes(t, db, d), "meters.ix_meters_tenant_id_property_id")
}

func TestGoose(t *testing.T) {
	for _, name := range []string{"postgres", "mysql", "sqlite"} {
		t.Run(name, func(t *testing.T) {
			db, d := open(t, name)
			ctx := t.Context()
			for _, s := range schema(d) {
				_, err := db.ExecContext(ctx, s)
				require.NoError(t, err, s)
			}
			p, err := gooseadapter.NewProvider(db, nil, nil,
				goose.WithGoMigrations(migrations.Goose(d)...), goose.WithDisableGlobalRegistry(true))
			require.NoError(t, err)
			_, err = p.Up(ctx)
			require.NoError(t, err)
			v, err := p.GetDBVersion(ctx)
			require.NoError(t, err)
			require.Equal(t, migrations.TenantIndexesVersion, v)
			got := indexes(t, db, d)
			require.Contains(t, got, "invoices.invoices_tenant_period_idx")
			require.True(t, slices.Equal([]string{"tenant_id", "billing_period_start"}, got["invoices.invoices_tenant_period_idx"]))
			_, err = p.Down(ctx)
			require.NoError(t, err)
			require.NotContains(t, indexes(t, db, d), "invoices.invoices_tenant_period_idx")
		})
	}
}
