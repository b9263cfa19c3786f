package backup_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tenantkit/tenantkit/internal/sqldialect"
	"github.com/tenantkit/tenantkit/internal/testenv"
	"github.com/tenantkit/tenantkit/tenant"
)

// dbCase is one real database the tests run against.
type dbCase struct {
	name string
	d    sqldialect.Dialect
	open func(t testing.TB) *sql.DB
}

var dbCases = []dbCase{
	{"sqlite", sqldialect.SQLite, func(t testing.TB) *sql.DB { return testenv.SQLiteDB(t) }},
	{"postgres", sqldialect.Postgres, func(t testing.TB) *sql.DB { return testenv.PostgresDB(t) }},
	{"mysql", sqldialect.MySQL, func(t testing.TB) *sql.DB { return testenv.MySQLDB(t) }},
}

func forEachDB(t *testing.T, f func(t *testing.T, c dbCase, db *sql.DB)) {
	for _, c := range dbCases {
		t.Run(c.name, func(t *testing.T) {
			db := c.open(t)
			f(t, c, db)
		})
	}
}

// The test schema: a tenant table, a global table, a three-level chain
// (properties → buildings → meters), a closure table (invoice_items
// through invoices), a two-table cycle (departments ⇄ employees) and a
// table of tricky types.
func schema(d sqldialect.Dialect) []string {
	type types struct{ id, serial, text, key, num, num30, flt, bin, js, tstz, ts, boolean, suffix string }
	var ty types
	switch d {
	case sqldialect.Postgres:
		ty = types{"bigint", "bigserial", "text", "varchar(100)", "numeric(12,2)", "numeric(30,10)", "double precision", "bytea", "json", "timestamptz", "timestamp", "boolean", ""}
	case sqldialect.MySQL:
		ty = types{"bigint", "bigint AUTO_INCREMENT", "text", "varchar(100)", "decimal(12,2)", "decimal(30,10)", "double", "longblob", "json", "timestamp(6) NULL", "datetime(6)", "tinyint(1)", " ENGINE=InnoDB"}
	default:
		ty = types{"bigint", "integer", "text", "varchar(100)", "numeric(12,2)", "numeric(30,10)", "double precision", "blob", "json", "timestamptz", "timestamp", "boolean", ""}
	}
	r := strings.NewReplacer("$ID", ty.id, "$SERIAL", ty.serial, "$TEXT", ty.text, "$KEY", ty.key, "$NUM30", ty.num30, "$NUM", ty.num,
		"$FLT", ty.flt, "$BIN", ty.bin, "$JS", ty.js, "$TSTZ", ty.tstz, "$TS", ty.ts, "$BOOL", ty.boolean, "$E", ty.suffix)
	stmts := []string{
		`CREATE TABLE organizations (id $ID PRIMARY KEY, slug $KEY NOT NULL UNIQUE, name $TEXT NOT NULL)$E`,
		`CREATE TABLE tariffs (id $ID PRIMARY KEY, name $TEXT NOT NULL)$E`,
		`CREATE TABLE properties (id $SERIAL PRIMARY KEY, tenant_id $ID NOT NULL REFERENCES organizations(id), name $TEXT NOT NULL, tariff_id $ID REFERENCES tariffs(id))$E`,
		`CREATE TABLE buildings (id $SERIAL PRIMARY KEY, tenant_id $ID NOT NULL REFERENCES organizations(id), property_id $ID NOT NULL REFERENCES properties(id), name $TEXT NOT NULL)$E`,
		`CREATE TABLE meters (id $SERIAL PRIMARY KEY, tenant_id $ID NOT NULL REFERENCES organizations(id), building_id $ID NOT NULL REFERENCES buildings(id), serial $TEXT NOT NULL)$E`,
		`CREATE TABLE invoices (id $SERIAL PRIMARY KEY, tenant_id $ID NOT NULL REFERENCES organizations(id), total $NUM NOT NULL)$E`,
		`CREATE TABLE invoice_items (id $SERIAL PRIMARY KEY, invoice_id $ID NOT NULL REFERENCES invoices(id), amount $NUM NOT NULL, note $TEXT)$E`,
		`CREATE TABLE oddities (id $ID PRIMARY KEY, tenant_id $ID NOT NULL REFERENCES organizations(id), big $ID, num $NUM30, flt $FLT, bin $BIN, txt $TEXT, js $JS, tstz $TSTZ, ts $TS, flag $BOOL)$E`,
	}
	if d == sqldialect.SQLite {
		stmts = append(stmts,
			`CREATE TABLE departments (id $ID PRIMARY KEY, tenant_id $ID NOT NULL REFERENCES organizations(id), name $TEXT NOT NULL, manager_id $ID REFERENCES employees(id))`,
			`CREATE TABLE employees (id $ID PRIMARY KEY, tenant_id $ID NOT NULL REFERENCES organizations(id), name $TEXT NOT NULL, department_id $ID NOT NULL REFERENCES departments(id))`)
	} else {
		stmts = append(stmts,
			`CREATE TABLE departments (id $ID PRIMARY KEY, tenant_id $ID NOT NULL REFERENCES organizations(id), name $TEXT NOT NULL, manager_id $ID)$E`,
			`CREATE TABLE employees (id $ID PRIMARY KEY, tenant_id $ID NOT NULL REFERENCES organizations(id), name $TEXT NOT NULL, department_id $ID NOT NULL REFERENCES departments(id))$E`,
			`ALTER TABLE departments ADD CONSTRAINT departments_manager_fk FOREIGN KEY (manager_id) REFERENCES employees(id)`)
	}
	if d == sqldialect.MySQL {
		// MySQL ignores inline REFERENCES; declare the keys as constraints.
		for i, s := range stmts {
			stmts[i] = mysqlInlineFKs(s)
		}
	}
	for i, s := range stmts {
		stmts[i] = r.Replace(s)
	}
	return stmts
}

// mysqlInlineFKs rewrites "col type ... REFERENCES p(c)" column clauses
// into table-level FOREIGN KEY constraints, which MySQL honours.
func mysqlInlineFKs(s string) string {
	if !strings.HasPrefix(s, "CREATE TABLE") {
		return s
	}
	open := strings.Index(s, "(")
	closeIdx := strings.LastIndex(s, ")")
	body := s[open+1 : closeIdx]
	var cols, fks []string
	for _, part := range splitTop(body) {
		part = strings.TrimSpace(part)
		if i := strings.Index(part, " REFERENCES "); i >= 0 {
			name := strings.Fields(part)[0]
			fks = append(fks, "FOREIGN KEY ("+name+")"+part[i:])
			part = part[:i]
		}
		cols = append(cols, part)
	}
	return s[:open+1] + strings.Join(append(cols, fks...), ", ") + s[closeIdx:]
}

func splitTop(s string) []string {
	var out []string
	depth, start := 0, 0
	for i, c := range s {
		switch c {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

func mustExec(t testing.TB, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		_, err := db.ExecContext(context.Background(), s)
		require.NoError(t, err, s)
	}
}

func createSchema(t testing.TB, db *sql.DB, d sqldialect.Dialect) {
	t.Helper()
	mustExec(t, db, schema(d)...)
}

// seed fills two tenants, 1 (acme) and 2 (globex), with ids offset by
// 1000 for tenant 2.
func seed(t testing.TB, db *sql.DB, d sqldialect.Dialect) {
	t.Helper()
	tx, err := db.Begin()
	require.NoError(t, err)
	defer func() { require.NoError(t, tx.Commit()) }()
	q := func(s string, args ...any) {
		t.Helper()
		_, err := tx.ExecContext(context.Background(), d.Rebind(s), args...)
		require.NoError(t, err, s)
	}
	q(`INSERT INTO tariffs (id, name) VALUES (1, 'standard'), (2, 'night')`)
	for _, org := range []struct {
		id         int
		slug, name string
	}{{1, "acme", "Acme"}, {2, "globex", "Globex"}} {
		base := (org.id - 1) * 1000
		q(`INSERT INTO organizations (id, slug, name) VALUES (?, ?, ?)`, org.id, org.slug, org.name)
		for p := 1; p <= 3; p++ {
			pid := base + p
			var tariff any = p%2 + 1
			if p == 3 {
				tariff = nil
			}
			q(`INSERT INTO properties (id, tenant_id, name, tariff_id) VALUES (?, ?, ?, ?)`, pid, org.id, fmt.Sprintf("%s property %d", org.name, p), tariff)
			for b := 1; b <= 2; b++ {
				bid := base + p*10 + b
				q(`INSERT INTO buildings (id, tenant_id, property_id, name) VALUES (?, ?, ?, ?)`, bid, org.id, pid, fmt.Sprintf("B%d", b))
				for m := 1; m <= 2; m++ {
					q(`INSERT INTO meters (id, tenant_id, building_id, serial) VALUES (?, ?, ?, ?)`, base+p*100+b*10+m, org.id, bid, fmt.Sprintf("SN-%d-%d-%d", p, b, m))
				}
			}
		}
		for i := 1; i <= 3; i++ {
			iid := base + i
			q(`INSERT INTO invoices (id, tenant_id, total) VALUES (?, ?, ?)`, iid, org.id, fmt.Sprintf("%d.50", i*100))
			for j := 1; j <= 2; j++ {
				q(`INSERT INTO invoice_items (id, invoice_id, amount, note) VALUES (?, ?, ?, ?)`, base+i*10+j, iid, fmt.Sprintf("%d.25", j*50), fmt.Sprintf("item %d", j))
			}
		}
		for dep := 1; dep <= 2; dep++ {
			q(`INSERT INTO departments (id, tenant_id, name) VALUES (?, ?, ?)`, base+dep, org.id, fmt.Sprintf("dept %d", dep))
			for e := 1; e <= 2; e++ {
				q(`INSERT INTO employees (id, tenant_id, name, department_id) VALUES (?, ?, ?, ?)`, base+dep*10+e, org.id, fmt.Sprintf("emp %d.%d", dep, e), base+dep)
			}
			q(`UPDATE departments SET manager_id = ? WHERE id = ?`, base+dep*10+1, base+dep)
		}
		seedOddities(t, q, d, org.id, base)
	}
}

func seedOddities(t testing.TB, q func(string, ...any), d sqldialect.Dialect, org, base int) {
	t.Helper()
	var stmts []string
	switch d {
	case sqldialect.Postgres:
		stmts = []string{
			`INSERT INTO oddities VALUES (%d, %d, 9007199254740993, 12345678901234567.891, 'NaN', '\x00ff00'::bytea, '', '{"a":9007199254740993}', '2024-03-10 02:30:00.123456+05:30', '2024-03-10 02:30:00.654321', true)`,
			`INSERT INTO oddities VALUES (%d, %d, -9223372036854775808, -0.0000000001, 1e300, '\x'::bytea, 'o''brien\ "q" \n' || chr(10) || chr(9) || 'é', '  {"b" : [1, 2.50]}', '-infinity', '1999-12-31 23:59:59', false)`,
			`INSERT INTO oddities VALUES (%d, %d, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`,
		}
	case sqldialect.MySQL:
		stmts = []string{
			`INSERT INTO oddities VALUES (%d, %d, 9007199254740993, 12345678901234567.891, 1.5, X'00ff00', '', '{"a":9007199254740993}', '2024-03-10 02:30:00.123456', '2024-03-10 02:30:00.654321', 1)`,
			`INSERT INTO oddities VALUES (%d, %d, -9223372036854775808, -0.0000000001, 1e300, X'', CONCAT('o''brien\\ "q" ', CHAR(10), CHAR(9), 'é'), '  {"b" : [1, 2.50]}', '1999-12-31 23:59:59', '1999-12-31 23:59:59', 0)`,
			`INSERT INTO oddities VALUES (%d, %d, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`,
		}
	default:
		stmts = []string{
			`INSERT INTO oddities VALUES (%d, %d, 9007199254740993, '12345678901234567.891', 1.5, X'00ff00', '', '{"a":9007199254740993}', '2024-03-10 02:30:00.123456+05:30', '2024-03-10 02:30:00.654321', 1)`,
			`INSERT INTO oddities VALUES (%d, %d, -9223372036854775808, -0.0000000001, 1e300, X'', 'o''brien\ "q" ' || char(10) || char(9) || 'é', '  {"b" : [1, 2.50]}', '1999-12-31 23:59:59Z', '1999-12-31 23:59:59', 0)`,
			`INSERT INTO oddities VALUES (%d, %d, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`,
		}
	}
	for i, s := range stmts {
		q(fmt.Sprintf(s, base+i+1, org))
	}
}

var allTables = []string{"organizations", "tariffs", "properties", "buildings", "meters", "invoices", "invoice_items", "departments", "employees", "oddities"}

// tableSums returns a SHA-256 per table of every row (ORDER BY id), as the
// driver returns them, with each value's Go type.
//
// All tables are read in one transaction, so the sums are of one snapshot
// even while another session commits.
func tableSums(t testing.TB, db *sql.DB) map[string]string {
	t.Helper()
	tx, err := db.BeginTx(context.Background(), &sql.TxOptions{Isolation: sql.LevelRepeatableRead})
	if err != nil {
		tx, err = db.BeginTx(context.Background(), nil) // SQLite: one read transaction is a snapshot
	}
	require.NoError(t, err)
	defer tx.Rollback()
	out := map[string]string{}
	for _, tb := range allTables {
		out[tb] = tableSum(t, tx, tb, "")
	}
	return out
}

type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func tableSum(t testing.TB, db queryer, table, where string) string {
	t.Helper()
	q := "SELECT * FROM " + table + " " + where + " ORDER BY id"
	rows, err := db.QueryContext(context.Background(), q)
	require.NoError(t, err, q)
	defer rows.Close()
	cols, err := rows.Columns()
	require.NoError(t, err)
	h := sha256.New()
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	n := 0
	for rows.Next() {
		require.NoError(t, rows.Scan(ptrs...))
		for _, v := range vals {
			if tm, ok := v.(interface{ UnixNano() int64 }); ok {
				v = tm.UnixNano()
			}
			fmt.Fprintf(h, "%T:%v|", v, v)
		}
		h.Write([]byte{'\n'})
		n++
	}
	require.NoError(t, rows.Err())
	return fmt.Sprintf("%d:%s", n, hex.EncodeToString(h.Sum(nil))[:16])
}

func tenantID(s string) tenant.ID { return tenant.ID(s) }
