package migrate_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/sqldialect"
	"github.com/tenantkit/tenantkit/internal/testenv"
	"github.com/tenantkit/tenantkit/migrate"
)

func TestCheckFindsEveryViolation(t *testing.T) {
	for name, open := range openers() {
		t.Run(name, func(t *testing.T) {
			db, d := setup(t, open, cleanRows, badRows)
			rep, err := migrate.Check(t.Context(), db, nil)
			require.NoError(t, err)
			require.Equal(t, migrate.OutcomeViolations, rep.Outcome)
			require.False(t, rep.OK())
			require.Equal(t, d.String(), rep.Dialect)

			type want struct {
				kind       migrate.Kind
				table, ref string
				count      int64
				samples    [][]string
			}
			for _, w := range []want{
				{migrate.NullTenant, "audit_logs", "", 2, [][]string{{"30"}, {"31"}}},
				{migrate.MissingTenant, "properties", "organizations", 2, [][]string{{"3"}, {"4"}}},
				{migrate.MissingTenant, "buildings", "organizations", 1, [][]string{{"23"}}},
				{migrate.MissingTenant, "audit_logs", "organizations", 0, [][]string{}},
				{migrate.Orphan, "meters", "properties", 1, [][]string{{"12"}}},
				{migrate.Orphan, "buildings", "properties", 1, [][]string{{"21"}}},
				{migrate.Orphan, "invoice_items", "invoices", 1, [][]string{{"52"}}},
				{migrate.Orphan, "invoice_items", "meters", 0, [][]string{}},
				{migrate.Orphan, "invoices", "currencies", 0, [][]string{}},
				{migrate.CrossTenant, "meters", "properties", 1, [][]string{{"11"}}},
				{migrate.CrossTenant, "invoice_items", "meters", 1, [][]string{{"51"}}},
				{migrate.CrossTenant, "disputes", "invoice_items", 1, [][]string{{"71"}}},
				{migrate.Orphan, "disputes", "invoice_items", 0, [][]string{}},
			} {
				r := find(t, rep, w.kind, w.table, w.ref)
				require.Equal(t, w.count, r.Count, r.ID)
				require.Equal(t, w.samples, r.Samples, r.ID)
				require.Equal(t, []string{"id"}, r.KeyColumns)
				require.NotEmpty(t, r.SQL)
				require.NotEmpty(t, r.Plan)
				require.Positive(t, r.Duration)
				if w.count > 0 {
					require.Equal(t, migrate.StatusViolation, r.Status)
				} else {
					require.Equal(t, migrate.StatusClean, r.Status)
				}
			}
			require.Equal(t, []string{"ghost", "ghost2"}, find(t, rep, migrate.MissingTenant, "properties", "").TenantIDs)
			require.Equal(t, []string{"ghost"}, find(t, rep, migrate.MissingTenant, "buildings", "").TenantIDs)
			// The composite key pairs the tenants: no separate cross-tenant
			// check; the orphan check covers it. The closure table's own
			// tenant key is not compared with itself.
			for _, r := range rep.Results {
				require.False(t, r.Check == migrate.CrossTenant && r.Table == "buildings")
				require.False(t, r.Check == migrate.CrossTenant && r.RefTable == "invoices")
				require.False(t, r.Check == migrate.Orphan && r.RefTable == "organizations" && r.Table != "invoices" && r.Table != "properties" && r.Table != "meters",
					"tenant FK checked as missing_tenant: %s", r.ID)
			}
			if d == sqldialect.MySQL {
				require.Contains(t, find(t, rep, migrate.MissingTenant, "properties", "").Plan, "loose index scan")
			}
			if d == sqldialect.Postgres {
				// properties has an index led by tenant_id: the skip scan.
				require.Contains(t, find(t, rep, migrate.MissingTenant, "properties", "").Plan, "skip scan")
				require.Contains(t, find(t, rep, migrate.MissingTenant, "buildings", "").Plan, "one sequential pass")
			}

			// JSON with stable names, and the table.
			b, err := json.Marshal(rep)
			require.NoError(t, err)
			var m map[string]any
			require.NoError(t, json.Unmarshal(b, &m))
			require.Equal(t, false, m["ok"])
			require.EqualValues(t, 9, m["violations"])
			require.Equal(t, "violations", m["outcome"])
			res := m["results"].([]any)[0].(map[string]any)
			for _, k := range []string{"id", "check", "table", "status", "count", "key_columns", "samples", "plan", "sql", "duration_ns"} {
				require.Contains(t, res, k)
			}
			var buf bytes.Buffer
			require.NoError(t, rep.WriteTable(&buf))
			out := buf.String()
			require.Contains(t, out, "tenant integrity: VIOLATIONS")
			require.Contains(t, out, "missing_tenant:properties (violation): 2 rows")
			require.Contains(t, out, "unknown tenant ids: ghost, ghost2")
			require.Contains(t, out, "id = 11")
		})
	}
}

func TestCheckCleanDatabase(t *testing.T) {
	for name, open := range openers() {
		t.Run(name, func(t *testing.T) {
			db, _ := setup(t, open, cleanRows)
			rep, err := migrate.Check(t.Context(), db, nil)
			require.NoError(t, err)
			require.True(t, rep.OK(), "%+v", rep.Violations())
			require.Equal(t, migrate.OutcomeClean, rep.Outcome)
			// 6 tenant tables x 2 + orphans (meters, buildings, invoices
			// currency, 2 x invoice_items, disputes) + cross (meters,
			// items->meters, disputes->items).
			require.Len(t, rep.Results, 12+6+3)
			for _, r := range rep.Results {
				require.Equal(t, migrate.StatusClean, r.Status, r.ID)
				require.Zero(t, r.Count)
				require.Empty(t, r.Samples)
			}
		})
	}
}

// An orphan inserted with triggers bypassed is found although PostgreSQL
// still marks the constraint validated.
func TestCheckIgnoresValidatedFlag(t *testing.T) {
	db, d := setup(t, openers()["postgres"], cleanRows,
		[]string{`INSERT INTO invoice_items (id, invoice_id) VALUES (60, 12345)`})
	c, err := catalog.Load(t.Context(), db, d, nil)
	require.NoError(t, err)
	require.True(t, c.Table("invoice_items").ForeignKeys[0].Validated)
	rep, err := migrate.Check(t.Context(), db, nil)
	require.NoError(t, err)
	r := find(t, rep, migrate.Orphan, "invoice_items", "invoices")
	require.EqualValues(t, 1, r.Count)
	require.Equal(t, [][]string{{"60"}}, r.Samples)
}

func TestCheckOptions(t *testing.T) {
	db, _ := setup(t, openers()["sqlite"], cleanRows, badRows)
	rep, err := migrate.Check(t.Context(), db, &migrate.Options{
		Tables: []string{"properties"}, Checks: []migrate.Kind{migrate.MissingTenant}, SampleSize: 1,
	})
	require.NoError(t, err)
	require.Len(t, rep.Results, 1)
	require.EqualValues(t, 2, rep.Results[0].Count)
	require.Equal(t, [][]string{{"3"}}, rep.Results[0].Samples)

	// A custom tenant table and column.
	exec(t, db, `CREATE TABLE accounts (account_key TEXT PRIMARY KEY)`,
		`CREATE TABLE notes (id INTEGER PRIMARY KEY, account TEXT)`,
		`INSERT INTO accounts VALUES ('a')`, `INSERT INTO notes VALUES (1, 'a'), (2, 'b'), (3, NULL)`)
	rep, err = migrate.Check(t.Context(), db, &migrate.Options{
		Catalog: &catalog.Options{TenantTable: "accounts", TenantColumn: "account", TenantKey: "account_key"},
		Checks:  []migrate.Kind{migrate.NullTenant, migrate.MissingTenant},
	})
	require.NoError(t, err)
	require.Len(t, rep.Results, 2)
	require.Equal(t, [][]string{{"3"}}, find(t, rep, migrate.NullTenant, "notes", "").Samples)
	require.Equal(t, []string{"b"}, find(t, rep, migrate.MissingTenant, "notes", "").TenantIDs)

	// No tenant table: a warning, not a failure.
	rep, err = migrate.Check(t.Context(), db, &migrate.Options{Catalog: &catalog.Options{TenantTable: "nope"}})
	require.NoError(t, err)
	require.NotEmpty(t, rep.Warnings)

	// A *sql.Conn needs the dialect.
	conn, err := db.Conn(t.Context())
	require.NoError(t, err)
	defer conn.Close()
	_, err = migrate.Check(t.Context(), conn, nil)
	require.ErrorIs(t, err, migrate.ErrNoDialect)
	_, err = migrate.Check(t.Context(), conn, &migrate.Options{Dialect: sqldialect.SQLite})
	require.NoError(t, err)
}

// A role subject to row-level security would see a filtered, falsely clean
// table: the check fails loudly instead.
func TestCheckRowSecurity(t *testing.T) {
	dsn := testenv.PostgresDatabase(t)
	admin, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	defer admin.Close()
	ctx := t.Context()
	role := testenv.Name("tkrole")
	exec(t, admin, `CREATE ROLE `+role+` LOGIN NOSUPERUSER NOBYPASSRLS`, `GRANT ALL ON SCHEMA public TO `+role)
	t.Cleanup(func() {
		_, _ = admin.ExecContext(context.Background(), `DROP OWNED BY `+role)
		_, _ = admin.ExecContext(context.Background(), `DROP ROLE `+role)
	})
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	u.User = url.User(role)
	owner, err := sql.Open("pgx", u.String())
	require.NoError(t, err)
	defer owner.Close()
	exec(t, owner, `CREATE TABLE organizations (id text PRIMARY KEY)`,
		`CREATE TABLE things (id int PRIMARY KEY, tenant_id text)`,
		`INSERT INTO things VALUES (1, NULL)`,
		`ALTER TABLE things ENABLE ROW LEVEL SECURITY`, `ALTER TABLE things FORCE ROW LEVEL SECURITY`,
		`CREATE POLICY hide ON things USING (false)`)
	var visible int
	require.NoError(t, owner.QueryRowContext(ctx, `SELECT COUNT(*) FROM things`).Scan(&visible))
	require.Zero(t, visible, "the owner sees nothing through the policy")

	rep, err := migrate.Check(ctx, owner, nil)
	require.Error(t, err)
	require.Contains(t, err.Error(), "row-level security")
	require.Equal(t, migrate.OutcomeFailed, rep.Outcome)
	_, err = migrate.Run(ctx, owner, migrate.SQL(`SELECT 1`), nil)
	require.Error(t, err)

	rep, err = migrate.Check(ctx, admin, nil) // superuser: bypasses RLS
	require.NoError(t, err)
	require.EqualValues(t, 1, find(t, rep, migrate.NullTenant, "things", "").Count)
}

// A hash index led by tenant_id cannot serve the skip scan (no ordered
// probes): the plan falls back to one sequential pass, never a scan per
// tenant.
func TestCheckPlanNeedsBtree(t *testing.T) {
	db, _ := setup(t, openers()["postgres"], cleanRows)
	exec(t, db, `CREATE INDEX audit_logs_tenant_hash ON audit_logs USING hash (tenant_id)`)
	rep, err := migrate.Check(t.Context(), db, nil)
	require.NoError(t, err)
	require.Contains(t, find(t, rep, migrate.MissingTenant, "audit_logs", "").Plan, "one sequential pass")
	require.Contains(t, find(t, rep, migrate.NullTenant, "audit_logs", "").Plan, "one sequential pass")
	require.Contains(t, find(t, rep, migrate.MissingTenant, "properties", "").Plan, "skip scan")
}

// The skip scan and the NULL probe really are index plans on PostgreSQL:
// EXPLAIN the SQL a check reports and look for a sequential scan.
func TestCheckPlansUseIndex(t *testing.T) {
	db := testenv.PostgresDB(t)
	exec(t, db,
		`CREATE TABLE organizations (id bigint PRIMARY KEY)`,
		`INSERT INTO organizations SELECT g FROM generate_series(1, 20) g`,
		`CREATE TABLE readings (id bigint PRIMARY KEY, tenant_id bigint NOT NULL, created_at timestamptz NOT NULL DEFAULT now())`,
		`INSERT INTO readings (id, tenant_id) SELECT g, (g % 20) + 1 FROM generate_series(1, 50000) g`,
		`CREATE INDEX readings_tenant_created_idx ON readings (tenant_id, created_at)`,
		`ANALYZE readings`, `ANALYZE organizations`)
	rep, err := migrate.Check(t.Context(), db, nil)
	require.NoError(t, err)
	require.True(t, rep.OK())
	for _, k := range []migrate.Kind{migrate.NullTenant, migrate.MissingTenant} {
		r := find(t, rep, k, "readings", "")
		var plan []string
		rows, err := db.QueryContext(t.Context(), "EXPLAIN "+r.SQL)
		require.NoError(t, err)
		for rows.Next() {
			var line string
			require.NoError(t, rows.Scan(&line))
			plan = append(plan, line)
		}
		require.NoError(t, rows.Err())
		rows.Close()
		text := strings.Join(plan, "\n")
		require.NotContains(t, text, "Seq Scan on readings", "%s:\n%s", k, text)
		require.Contains(t, text, "readings_tenant_created_idx", "%s:\n%s", k, text)
	}
}

// On MariaDB/MySQL the missing-tenant check's DISTINCT is a loose index
// scan ("Using index for group-by"), not a pass over the rows.
func TestCheckPlansUseIndexMySQL(t *testing.T) {
	db := testenv.MySQLDB(t)
	exec(t, db,
		`CREATE TABLE organizations (id BIGINT PRIMARY KEY)`,
		`INSERT INTO organizations VALUES (1), (2), (3), (4), (5)`,
		`CREATE TABLE readings (id BIGINT PRIMARY KEY, tenant_id BIGINT NOT NULL, created_at DATETIME NOT NULL)`,
		`CREATE TABLE digits (i INT PRIMARY KEY)`,
		`INSERT INTO digits VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9)`,
		`INSERT INTO readings SELECT n, (n % 5) + 1, NOW() FROM
			(SELECT a.i + b.i * 10 + c.i * 100 + d.i * 1000 AS n FROM digits a, digits b, digits c, digits d) x`,
		`CREATE INDEX readings_tenant_created_idx ON readings (tenant_id, created_at)`)
	_, err := db.ExecContext(t.Context(), `ANALYZE TABLE readings`)
	require.NoError(t, err)
	rep, err := migrate.Check(t.Context(), db, nil)
	require.NoError(t, err)
	require.True(t, rep.OK())
	r := find(t, rep, migrate.MissingTenant, "readings", "")
	rows, err := db.QueryContext(t.Context(), "EXPLAIN "+r.SQL)
	require.NoError(t, err)
	defer rows.Close()
	cols, err := rows.Columns()
	require.NoError(t, err)
	var text string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		require.NoError(t, rows.Scan(ptrs...))
		for _, v := range vals {
			text += v.String + " "
		}
		text += "\n"
	}
	require.NoError(t, rows.Err())
	require.Contains(t, text, "Using index for group-by", text)
}

// More unknown tenants than the indexed plan lists: it falls back to one
// anti-join pass and still counts every row.
func TestCheckManyMissingTenants(t *testing.T) {
	db, _ := setup(t, openers()["sqlite"], cleanRows)
	var stmts []string
	for i := range 250 {
		stmts = append(stmts, fmt.Sprintf(`INSERT INTO properties (id, tenant_id) VALUES (%d, 'ghost%03d'), (%d, 'ghost%03d')`, 1000+2*i, i, 1001+2*i, i))
	}
	bypass(t, db, sqldialect.SQLite, stmts...)
	rep, err := migrate.Check(t.Context(), db, nil)
	require.NoError(t, err)
	r := find(t, rep, migrate.MissingTenant, "properties", "")
	require.EqualValues(t, 500, r.Count)
	require.Equal(t, [][]string{{"1000"}, {"1001"}, {"1002"}, {"1003"}, {"1004"}}, r.Samples)
	require.Equal(t, []string{"ghost000", "ghost001", "ghost002"}, r.TenantIDs[:3])
	require.Contains(t, r.SQL, "NOT EXISTS")
	require.Len(t, strings.Split(r.SQL, ";\n"), 2)
}
