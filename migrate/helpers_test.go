package migrate_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/sqldialect"
	"github.com/tenantkit/tenantkit/internal/testenv"
	"github.com/tenantkit/tenantkit/migrate"
)

type opener func(t *testing.T) (*sql.DB, sqldialect.Dialect)

func openers() map[string]opener {
	return map[string]opener{
		"postgres": func(t *testing.T) (*sql.DB, sqldialect.Dialect) { return testenv.PostgresDB(t), sqldialect.Postgres },
		"mysql":    func(t *testing.T) (*sql.DB, sqldialect.Dialect) { return testenv.MySQLDB(t), sqldialect.MySQL },
		"sqlite":   func(t *testing.T) (*sql.DB, sqldialect.Dialect) { return testenv.SQLiteDB(t), sqldialect.SQLite },
	}
}

// schema is a small billing schema: a composite FK (buildings), a plain FK
// between tenant tables that does not pair the tenants (meters.property_id),
// a closure table (invoice_items) with a second FK to a tenant table, a
// tenant table referencing the closure table (disputes), a table with a
// nullable tenant column (audit_logs) and a global table.
func schema(d sqldialect.Dialect) []string {
	txt := "VARCHAR(64)"
	return []string{
		`CREATE TABLE organizations (id ` + txt + ` PRIMARY KEY, name VARCHAR(100))`,
		`CREATE TABLE currencies (code CHAR(3) PRIMARY KEY)`,
		`CREATE TABLE properties (id BIGINT PRIMARY KEY, tenant_id ` + txt + ` NOT NULL, name VARCHAR(100),
			CONSTRAINT properties_tenant_fk FOREIGN KEY (tenant_id) REFERENCES organizations(id),
			CONSTRAINT properties_tenant_id_uq UNIQUE (tenant_id, id))`,
		`CREATE TABLE meters (id BIGINT PRIMARY KEY, tenant_id ` + txt + ` NOT NULL, property_id BIGINT,
			CONSTRAINT meters_tenant_fk FOREIGN KEY (tenant_id) REFERENCES organizations(id),
			CONSTRAINT meters_property_fk FOREIGN KEY (property_id) REFERENCES properties(id))`,
		`CREATE TABLE buildings (id BIGINT PRIMARY KEY, tenant_id ` + txt + ` NOT NULL, property_id BIGINT,
			CONSTRAINT buildings_property_fk FOREIGN KEY (tenant_id, property_id) REFERENCES properties(tenant_id, id))`,
		`CREATE TABLE invoices (id BIGINT PRIMARY KEY, tenant_id ` + txt + ` NOT NULL REFERENCES organizations(id), currency CHAR(3) REFERENCES currencies(code))`,
		`CREATE TABLE invoice_items (id BIGINT PRIMARY KEY, invoice_id BIGINT NOT NULL, meter_id BIGINT,
			CONSTRAINT items_invoice_fk FOREIGN KEY (invoice_id) REFERENCES invoices(id),
			CONSTRAINT items_meter_fk FOREIGN KEY (meter_id) REFERENCES meters(id))`,
		`CREATE TABLE audit_logs (id BIGINT PRIMARY KEY, tenant_id ` + txt + `, action VARCHAR(20))`,
		`CREATE TABLE disputes (id BIGINT PRIMARY KEY, tenant_id ` + txt + ` NOT NULL REFERENCES organizations(id),
			item_id BIGINT NOT NULL, CONSTRAINT disputes_item_fk FOREIGN KEY (item_id) REFERENCES invoice_items(id))`,
	}
}

// cleanRows is consistent data for two tenants.
var cleanRows = []string{
	`INSERT INTO organizations (id, name) VALUES ('acme', 'Acme'), ('globex', 'Globex')`,
	`INSERT INTO currencies (code) VALUES ('EUR')`,
	`INSERT INTO properties (id, tenant_id, name) VALUES (1, 'acme', 'a1'), (2, 'globex', 'g1')`,
	`INSERT INTO meters (id, tenant_id, property_id) VALUES (10, 'acme', 1), (14, 'globex', 2), (15, 'globex', NULL)`,
	`INSERT INTO buildings (id, tenant_id, property_id) VALUES (20, 'acme', 1), (22, 'acme', NULL)`,
	`INSERT INTO invoices (id, tenant_id, currency) VALUES (40, 'acme', 'EUR'), (41, 'globex', NULL)`,
	`INSERT INTO invoice_items (id, invoice_id, meter_id) VALUES (50, 40, 10), (53, 41, 14), (54, 41, NULL)`,
	`INSERT INTO audit_logs (id, tenant_id, action) VALUES (32, 'acme', 'login')`,
	`INSERT INTO disputes (id, tenant_id, item_id) VALUES (70, 'acme', 50)`,
}

// badRows seeds one instance (or two) of every violation kind.
var badRows = []string{
	`INSERT INTO properties (id, tenant_id, name) VALUES (3, 'ghost', 'x'), (4, 'ghost2', 'y')`,
	`INSERT INTO meters (id, tenant_id, property_id) VALUES (11, 'acme', 2), (12, 'acme', 99)`,
	`INSERT INTO buildings (id, tenant_id, property_id) VALUES (21, 'globex', 1), (23, 'ghost', NULL)`,
	`INSERT INTO invoice_items (id, invoice_id, meter_id) VALUES (51, 41, 10), (52, 999, NULL)`,
	`INSERT INTO audit_logs (id, tenant_id, action) VALUES (30, NULL, 'a'), (31, NULL, 'b')`,
	`INSERT INTO disputes (id, tenant_id, item_id) VALUES (71, 'acme', 53)`, // item 53 is on globex's invoice
}

func setup(t *testing.T, open opener, rows ...[]string) (*sql.DB, sqldialect.Dialect) {
	t.Helper()
	db, d := open(t)
	exec(t, db, schema(d)...)
	for _, r := range rows {
		bypass(t, db, d, r...)
	}
	return db, d
}

func exec(t *testing.T, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		_, err := db.ExecContext(t.Context(), s)
		require.NoError(t, err, s)
	}
}

// bypass runs stmts on one connection with foreign-key enforcement off, the
// way a trigger-bypassing load or a bug would: PostgreSQL
// session_replication_role = replica (the constraints stay marked
// validated), MySQL foreign_key_checks = 0, SQLite PRAGMA foreign_keys = OFF.
func bypass(t *testing.T, db *sql.DB, d sqldialect.Dialect, stmts ...string) {
	t.Helper()
	ctx := t.Context()
	conn, err := db.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	off, on := map[sqldialect.Dialect][2]string{
		sqldialect.Postgres: {"SET session_replication_role = replica", "SET session_replication_role = DEFAULT"},
		sqldialect.MySQL:    {"SET foreign_key_checks = 0", "SET foreign_key_checks = 1"},
		sqldialect.SQLite:   {"PRAGMA foreign_keys = OFF", "PRAGMA foreign_keys = ON"},
	}[d][0], map[sqldialect.Dialect][2]string{
		sqldialect.Postgres: {"", "SET session_replication_role = DEFAULT"},
		sqldialect.MySQL:    {"", "SET foreign_key_checks = 1"},
		sqldialect.SQLite:   {"", "PRAGMA foreign_keys = ON"},
	}[d][1]
	_, err = conn.ExecContext(ctx, off)
	require.NoError(t, err)
	defer conn.ExecContext(context.WithoutCancel(ctx), on)
	for _, s := range stmts {
		_, err := conn.ExecContext(ctx, s)
		require.NoError(t, err, s)
	}
}

func find(t *testing.T, rep *migrate.Report, k migrate.Kind, table, ref string) migrate.Result {
	t.Helper()
	var found []migrate.Result
	for _, r := range rep.Results {
		if r.Check == k && r.Table == table && (ref == "" || r.RefTable == ref) {
			found = append(found, r)
		}
	}
	require.Len(t, found, 1, "%s on %s -> %s", k, table, ref)
	return found[0]
}

// state is the catalog fingerprint plus a checksum of every table's rows.
func state(t *testing.T, db *sql.DB, d sqldialect.Dialect) string {
	t.Helper()
	ctx := t.Context()
	c, err := catalog.Load(ctx, db, d, nil)
	require.NoError(t, err)
	h := sha256.New()
	fmt.Fprintln(h, c.Fingerprint(nil))
	for _, tb := range c.Tables {
		fmt.Fprintln(h, "table", tb.Name, len(tb.Indexes))
		for _, ix := range tb.Indexes {
			fmt.Fprintln(h, "index", ix.Name, ix.Columns)
		}
		rows, err := db.QueryContext(ctx, "SELECT * FROM "+d.Quote(tb.Name)+" ORDER BY 1")
		require.NoError(t, err)
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			require.NoError(t, rows.Scan(ptrs...))
			for _, v := range vals {
				if b, ok := v.([]byte); ok {
					v = string(b)
				}
				fmt.Fprintf(h, "%v|", v)
			}
			fmt.Fprintln(h)
		}
		require.NoError(t, rows.Err())
		rows.Close()
	}
	return hex.EncodeToString(h.Sum(nil))
}

func count(t *testing.T, db *sql.DB, query string) int {
	t.Helper()
	var n int
	require.NoError(t, db.QueryRowContext(t.Context(), query).Scan(&n))
	return n
}
