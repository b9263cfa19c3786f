package backup_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tenantkit/tenantkit/backup"
	"github.com/tenantkit/tenantkit/internal/sqldialect"
	"github.com/tenantkit/tenantkit/internal/testenv"
)

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, err := zw.Write(b)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

// propInsert returns the SQL-format INSERT line of properties row 2 for the
// dialect, as the exporter writes it.
func propInsert(d sqldialect.Dialect) string {
	values := ") VALUES ("
	if d == sqldialect.Postgres {
		values = ") OVERRIDING SYSTEM VALUE VALUES (" // properties.id is a bigserial
	}
	return "INSERT INTO " + d.Quote("properties") + " (" + d.Quote("id") + ", " + d.Quote("tenant_id") + ", " + d.Quote("name") + ", " + d.Quote("tariff_id") + values + "2, 1, 'Acme property 2', 1);"
}

// TestReviewRefusals: more damaged and hostile files, each refused by
// Validate and by Restore with every table unchanged.
func TestReviewRefusals(t *testing.T) {
	forEachDB(t, func(t *testing.T, c dbCase, db *sql.DB) {
		ctx := context.Background()
		createSchema(t, db, c.d)
		seed(t, db, c.d)
		plain := exportBytes(t, db, "1", &backup.Options{NoCompress: true})
		plainSQL := exportBytes(t, db, "1", &backup.Options{NoCompress: true, Format: backup.SQL})
		gz := exportBytes(t, db, "1", nil)
		mutate(t, db, c.d)
		before := tableSums(t, db)

		propLine := `["2","1","Acme property 2","1"]`
		ins := propInsert(c.d)
		require.Contains(t, string(plainSQL), ins)
		endDept := regexpFirst(t, string(plain), `{"table_end":"properties","rows":3,`)
		cases := []struct {
			name string
			file []byte
		}{
			{"end record claims other count", replaceOnce(t, plain, endDept, `{"table_end":"properties","rows":4,`)},
			{"footer claims other total", replaceOnce(t, plain, `{"end":"tenantkit-backup","rows":`, `{"end":"tenantkit-backup","rows":1`)},
			{"trailing line after footer", append(bytes.Clone(plain), "garbage\n"...)},
			{"trailing bytes after footer", append(bytes.Clone(plain), "x"...)},
			{"trailing blank line after footer", append(bytes.Clone(plain), "\n"...)},
			{"trailing garbage after gzip", append(bytes.Clone(gz), "garbage after the gzip member"...)},
			{"second gzip member after footer", append(bytes.Clone(gz), gzipBytes(t, []byte(propLine+"\n"))...)},
			{"row with an extra column", reseal(t, replaceOnce(t, plain, propLine, `["2","1","Acme property 2","1","x"]`))},
			{"row with a missing column", reseal(t, replaceOnce(t, plain, propLine, `["2","1","Acme property 2"]`))},
			{"JSON number for a text column", reseal(t, replaceOnce(t, plain, propLine, `["2","1",12,"1"]`))},
			{"JSON number for an int column", reseal(t, replaceOnce(t, plain, propLine, `[2,"1","Acme property 2","1"]`))},
			{"JSON object for a text column", reseal(t, replaceOnce(t, plain, propLine, `["2","1",{"a":1},"1"]`))},
			{"row trailing data", reseal(t, replaceOnce(t, plain, propLine, propLine+` ["3"]`))},
			{"tenant id with spaces", reseal(t, replaceOnce(t, plain, propLine, `["2"," 1","Acme property 2","1"]`))},
			{"tenant id 01", reseal(t, replaceOnce(t, plain, propLine, `["2","01","Acme property 2","1"]`))},
			{"reference into another tenant's row", reseal(t, replaceOnce(t, plain, `["11","1","1","B1"]`, `["11","1","1001","B1"]`))},
			{"SQL second statement after ;", reseal(t, replaceOnce(t, plainSQL, ins, strings.TrimSuffix(ins, ";")+"; DROP TABLE tariffs;"))},
			{"SQL DROP TABLE in a section", reseal(t, replaceOnce(t, plainSQL, ins, ins+"\nDROP TABLE tariffs;"))},
			{"SQL DROP TABLE before the sections", replaceOnce(t, plainSQL, "\n-- tenantkit {\"table\":", "\nDROP TABLE tariffs;\n-- tenantkit {\"table\":")},
			{"SQL block comment hiding a statement", reseal(t, replaceOnce(t, plainSQL, ins, "/* x */ DROP TABLE tariffs; -- "+ins))},
			{"SQL comment line in a section", reseal(t, replaceOnce(t, plainSQL, ins, "-- "+ins))},
			{"SQL expression instead of a literal", reseal(t, replaceOnce(t, plainSQL, ins, strings.Replace(ins, "'Acme property 2'", "(SELECT name FROM tariffs LIMIT 1)", 1)))},
			{"SQL function call", reseal(t, replaceOnce(t, plainSQL, ins, strings.Replace(ins, "'Acme property 2'", "lower('x')", 1)))},
			{"SQL concatenation", reseal(t, replaceOnce(t, plainSQL, ins, strings.Replace(ins, "'Acme property 2'", "'a' || 'b'", 1)))},
			{"SQL other tenant", reseal(t, replaceOnce(t, plainSQL, ins, strings.Replace(ins, "VALUES (2, 1,", "VALUES (2, 2,", 1)))},
			{"SQL tenant as expression", reseal(t, replaceOnce(t, plainSQL, ins, strings.Replace(ins, "VALUES (2, 1,", "VALUES (2, 1 OR 1=1,", 1)))},
			{"tenant row of another tenant", reseal(t, replaceOnce(t, plain, `["1","acme","Acme"]`, `["2","acme","Acme"]`))},
			{"fixup to another tenant's row", reseal(t, replaceOnce(t, plain, "[\"1\",\"11\"]\n", "[\"1\",\"1011\"]\n"))},
			{"fixup of another tenant's row", reseal(t, replaceOnce(t, plain, "[\"1\",\"11\"]\n", "[\"1001\",\"11\"]\n"))},
			{"SQL fixup widened by OR", reseal(t, replaceOnce(t, plainSQL, c.d.Quote("id")+" = 1;", c.d.Quote("id")+" = 1 OR 1=1;"))},
			{"SQL fixup of another tenant's row", reseal(t, replaceOnce(t, plainSQL, c.d.Quote("id")+" = 1;", c.d.Quote("id")+" = 1001;"))},
			{"SQL other OVERRIDING clause", reseal(t, replaceOnce(t, plainSQL, ins, betweenValues(ins, " OVERRIDING USER VALUE VALUES (")))},
			{"SQL clause between VALUES", reseal(t, replaceOnce(t, plainSQL, ins, betweenValues(ins, " DEFAULT VALUES; INSERT INTO x VALUES (")))},
			{"SQL insert into another table", reseal(t, replaceOnce(t, plainSQL, ins, strings.Replace(ins, c.d.Quote("properties"), c.d.Quote("tariffs"), 1)))},
		}
		if c.d == sqldialect.MySQL {
			cases = append(cases, struct {
				name string
				file []byte
			}{"MySQL backslash escape", reseal(t, replaceOnce(t, plainSQL, ins, strings.Replace(ins, "'Acme property 2'", `'x\'); DROP TABLE tariffs; -- '`, 1)))})
		}
		for _, tc := range cases {
			t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
				_, verr := backup.Validate(ctx, bytes.NewReader(tc.file), db, "1", nil)
				require.Error(t, verr)
				_, rerr := backup.Restore(ctx, db, "1", bytes.NewReader(tc.file), nil)
				require.Error(t, rerr)
				_, derr := backup.Restore(ctx, db, "1", bytes.NewReader(tc.file), &backup.RestoreOptions{DryRun: true})
				require.Error(t, derr)
				t.Log(rerr)
				require.Equal(t, before, tableSums(t, db), "the database changed")
			})
		}
	})
}

// betweenValues replaces what lies between an INSERT's column list and its
// values with repl.
func betweenValues(ins, repl string) string {
	v := strings.Index(ins, "VALUES (")
	c := strings.LastIndex(ins[:v], ")") + 1
	return ins[:c] + repl + ins[v+len("VALUES ("):]
}

func regexpFirst(t testing.TB, s, prefix string) string {
	t.Helper()
	require.Contains(t, s, prefix)
	return prefix
}

// TestReviewSQLValueIsData: a SQL-format value that looks like SQL is
// restored as the text it is, never executed.
func TestReviewSQLValueIsData(t *testing.T) {
	forEachDB(t, func(t *testing.T, c dbCase, db *sql.DB) {
		ctx := context.Background()
		createSchema(t, db, c.d)
		seed(t, db, c.d)
		plainSQL := exportBytes(t, db, "1", &backup.Options{NoCompress: true, Format: backup.SQL})
		hostile := `x'); DROP TABLE tariffs; -- 1) OR (1=1 "q"`
		lit := "'" + strings.ReplaceAll(hostile, "'", "''") + "'"
		ins := propInsert(c.d)
		file := reseal(t, replaceOnce(t, plainSQL, ins, strings.Replace(ins, "'Acme property 2'", lit, 1)))
		_, err := backup.Restore(ctx, db, "1", bytes.NewReader(file), nil)
		require.NoError(t, err)
		var name string
		require.NoError(t, db.QueryRow(`SELECT name FROM properties WHERE id = 2`).Scan(&name))
		require.Equal(t, hostile, name)
		var n int
		require.NoError(t, db.QueryRow(`SELECT COUNT(*) FROM tariffs`).Scan(&n))
		require.Equal(t, 2, n)
	})
}

// TestReviewHostileAsTenant: AsTenant is a tenant id like any other: a
// value that is not one is refused before any write.
func TestReviewHostileAsTenant(t *testing.T) {
	forEachDB(t, func(t *testing.T, c dbCase, db *sql.DB) {
		ctx := context.Background()
		createSchema(t, db, c.d)
		seed(t, db, c.d)
		file := exportBytes(t, db, "1", nil)
		before := tableSums(t, db)
		for _, as := range []string{"1) OR (1=1", "2'--", " 2", "2 ", "0x2", "1e0"} {
			_, err := backup.Restore(ctx, db, "1", bytes.NewReader(file), &backup.RestoreOptions{AsTenant: as})
			require.Error(t, err, as)
			t.Log(err)
			require.Equal(t, before, tableSums(t, db), as)
		}
	})
}

// TestReviewFailureMidRestore: a key taken by another tenant after the
// backup fails the restore inside its transaction; the tenant's data is
// as it was and the other tenant untouched.
func TestReviewFailureMidRestore(t *testing.T) {
	forEachDB(t, func(t *testing.T, c dbCase, db *sql.DB) {
		ctx := context.Background()
		createSchema(t, db, c.d)
		seed(t, db, c.d)
		file := exportBytes(t, db, "1", nil)
		mutate(t, db, c.d)
		// Tenant 1's invoice item 32 is gone; tenant 2 takes its id.
		mustExec(t, db, `DELETE FROM invoice_items WHERE id = 32`,
			`INSERT INTO invoice_items (id, invoice_id, amount, note) VALUES (32, 1001, 1.00, 'globex took it')`)
		before := tableSums(t, db)
		_, err := backup.Restore(ctx, db, "1", bytes.NewReader(file), nil)
		require.Error(t, err)
		t.Log(err)
		require.Equal(t, before, tableSums(t, db))
	})
}

// TestReviewSequenceAhead: a restore never lowers an auto-increment
// counter that is ahead of the restored keys.
func TestReviewSequenceAhead(t *testing.T) {
	forEachDB(t, func(t *testing.T, c dbCase, db *sql.DB) {
		ctx := context.Background()
		createSchema(t, db, c.d)
		seed(t, db, c.d)
		file := exportBytes(t, db, "1", nil)
		target := freshTarget(t, c)
		switch c.d {
		case sqldialect.MySQL:
			mustExec(t, target, `ALTER TABLE invoices AUTO_INCREMENT = 5000`)
		case sqldialect.Postgres:
			mustExec(t, target, `SELECT setval('invoices_id_seq', 4999)`)
		default:
			t.Skip("the SQLite schema has no AUTOINCREMENT counter")
		}
		_, err := backup.Restore(ctx, target, "1", bytes.NewReader(file), nil)
		require.NoError(t, err)
		var id int64
		if c.d == sqldialect.Postgres {
			require.NoError(t, target.QueryRow(`INSERT INTO invoices (tenant_id, total) VALUES (1, 1) RETURNING id`).Scan(&id))
		} else {
			res, err := target.Exec(`INSERT INTO invoices (tenant_id, total) VALUES (1, 1)`)
			require.NoError(t, err)
			id, err = res.LastInsertId()
			require.NoError(t, err)
		}
		require.Equal(t, int64(5000), id)
	})
}

// TestReviewExportHeapFlat: exporting a tenant of many rows to
// io.Discard, and restoring it from a file, keep the live heap small.
func TestReviewExportHeapFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	forEachDB(t, func(t *testing.T, c dbCase, db *sql.DB) {
		ctx := context.Background()
		createSchema(t, db, c.d)
		seed(t, db, c.d)
		const n = 100000
		var q string
		switch c.d {
		case sqldialect.Postgres:
			q = fmt.Sprintf(`INSERT INTO meters (id, tenant_id, building_id, serial) SELECT 100000+g, 1, 11, repeat('s', 200) || g FROM generate_series(1, %d) g`, n)
		default:
			q = fmt.Sprintf(`INSERT INTO meters (id, tenant_id, building_id, serial) WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM g WHERE x < %d) SELECT 100000+x, 1, 11, CONCAT(REPEAT('s', 200), x) FROM g`, n)
			if c.d == sqldialect.SQLite {
				q = strings.Replace(q, "CONCAT(REPEAT('s', 200), x)", "printf('%.200c', 's') || x", 1)
			}
		}
		if c.d == sqldialect.MySQL {
			// max_recursive_iterations is per session: run it on one connection.
			conn, err := db.Conn(ctx)
			require.NoError(t, err)
			_, err = conn.ExecContext(ctx, `SET SESSION max_recursive_iterations = 1000000`)
			require.NoError(t, err)
			_, err = conn.ExecContext(ctx, q)
			require.NoError(t, err)
			require.NoError(t, conn.Close())
		} else {
			mustExec(t, db, q)
		}
		var m *backup.Manifest
		peak := peakHeap(func() {
			var err error
			m, err = backup.Export(ctx, db, "1", io.Discard, nil)
			require.NoError(t, err)
		})
		var rows int64
		for _, tm := range m.Tables {
			rows += tm.Rows
		}
		require.Greater(t, rows, int64(n))
		t.Logf("%d rows (~%d MiB of row text), peak heap %.1f MiB", rows, n*210>>20, float64(peak)/(1<<20))
		require.Less(t, peak, uint64(16<<20), "the export holds the tenant in memory")

		// Validate and restore of the same tenant, from a file.
		f, err := os.Create(filepath.Join(t.TempDir(), "big.jsonl.gz"))
		require.NoError(t, err)
		defer f.Close()
		_, err = backup.Export(ctx, db, "1", f, nil)
		require.NoError(t, err)
		peak = peakHeap(func() {
			_, err := f.Seek(0, io.SeekStart)
			require.NoError(t, err)
			_, err = backup.Restore(ctx, db, "1", f, nil)
			require.NoError(t, err)
		})
		t.Logf("restore: peak heap %.1f MiB", float64(peak)/(1<<20))
		// PostgreSQL batches 5000 rows as text arrays: a few MiB live, twice
		// that counting garbage not yet swept; the tenant as Go values is
		// well past 40 MiB.
		require.Less(t, peak, uint64(40<<20), "the restore holds the tenant in memory")
	})
}

// TestReviewNestedClosure: a closure table two foreign keys away from a
// tenant table (notes → invoice_items → invoices) is backed up, restored
// and checked like the first level.
func TestReviewNestedClosure(t *testing.T) {
	forEachDB(t, func(t *testing.T, c dbCase, db *sql.DB) {
		ctx := context.Background()
		createSchema(t, db, c.d)
		seed(t, db, c.d)
		ddl := `CREATE TABLE item_notes (id bigint PRIMARY KEY, item_id bigint NOT NULL REFERENCES invoice_items(id), body varchar(100) NOT NULL)`
		if c.d == sqldialect.MySQL {
			ddl = `CREATE TABLE item_notes (id bigint PRIMARY KEY, item_id bigint NOT NULL, body varchar(100) NOT NULL, FOREIGN KEY (item_id) REFERENCES invoice_items(id)) ENGINE=InnoDB`
		}
		mustExec(t, db, ddl,
			`INSERT INTO item_notes (id, item_id, body) VALUES (1, 11, 'acme note 1'), (2, 12, 'acme note 2'), (1001, 1011, 'globex note')`)
		sums := func() map[string]string {
			return map[string]string{"all": tableSum(t, db, "item_notes", ""), "globex": tableSum(t, db, "item_notes", "WHERE id > 1000")}
		}
		want := sums()
		plain := exportBytes(t, db, "1", &backup.Options{NoCompress: true})
		require.Contains(t, string(plain), `["2","12","acme note 2"]`)
		require.NotContains(t, string(plain), "globex note")

		mustExec(t, db, `DELETE FROM item_notes WHERE id = 2`, `UPDATE item_notes SET body = 'changed' WHERE id = 1`)
		_, err := backup.Restore(ctx, db, "1", bytes.NewReader(plain), nil)
		require.NoError(t, err)
		require.Equal(t, want, sums())

		// A note hung on another tenant's item is not the tenant's.
		before := tableSums(t, db)
		bad := reseal(t, replaceOnce(t, plain, `["2","12","acme note 2"]`, `["2","1011","acme note 2"]`))
		_, err = backup.Restore(ctx, db, "1", bytes.NewReader(bad), nil)
		require.ErrorIs(t, err, backup.ErrMissingParent)
		require.Equal(t, before, tableSums(t, db))
		require.Equal(t, want, sums())
	})
}

// TestReviewGeneratedColumns: a table with a GENERATED ALWAYS identity
// (PostgreSQL) and a stored generated column restores through both
// codecs: the identity keeps its keys, the generated column is computed
// by the database again.
func TestReviewGeneratedColumns(t *testing.T) {
	forEachDB(t, func(t *testing.T, c dbCase, db *sql.DB) {
		ctx := context.Background()
		createSchema(t, db, c.d)
		seed(t, db, c.d)
		switch c.d {
		case sqldialect.Postgres:
			mustExec(t, db, `CREATE TABLE notes (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, tenant_id bigint NOT NULL REFERENCES organizations(id), qty integer NOT NULL, dbl integer GENERATED ALWAYS AS (qty*2) STORED)`)
		case sqldialect.MySQL:
			mustExec(t, db, `CREATE TABLE notes (id bigint AUTO_INCREMENT PRIMARY KEY, tenant_id bigint NOT NULL, qty integer NOT NULL, dbl integer AS (qty*2) STORED, tpl integer AS (qty*3) VIRTUAL, FOREIGN KEY (tenant_id) REFERENCES organizations(id)) ENGINE=InnoDB`)
		default:
			mustExec(t, db, `CREATE TABLE notes (id integer PRIMARY KEY AUTOINCREMENT, tenant_id bigint NOT NULL REFERENCES organizations(id), qty integer NOT NULL, dbl integer GENERATED ALWAYS AS (qty*2) STORED)`)
		}
		mustExec(t, db, `INSERT INTO notes (tenant_id, qty) VALUES (1, 3), (2, 4), (1, 5)`)
		want := tableSum(t, db, "notes", "")
		for _, f := range []backup.Format{backup.JSONL, backup.SQL} {
			file := exportBytes(t, db, "1", &backup.Options{Format: f})
			mustExec(t, db, `DELETE FROM notes WHERE id = 3`, `UPDATE notes SET qty = 9 WHERE id = 1`)
			_, err := backup.Restore(ctx, db, "1", bytes.NewReader(file), nil)
			require.NoError(t, err, f)
			require.Equal(t, want, tableSum(t, db, "notes", ""), f)
		}
		var id int64
		if c.d == sqldialect.Postgres {
			require.NoError(t, db.QueryRow(`INSERT INTO notes (tenant_id, qty) VALUES (1, 1) RETURNING id`).Scan(&id))
			require.Greater(t, id, int64(3), "the identity is past the restored keys")
		}
	})
}

// TestReviewSQLIdentityLoadsWithPsql: a SQL backup of a table whose key
// is GENERATED ALWAYS AS IDENTITY loads as it is with psql, and restores.
func TestReviewSQLIdentityLoadsWithPsql(t *testing.T) {
	if _, err := exec.LookPath("psql"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("psql is not installed")
		}
		t.Skip("psql is not installed")
	}
	ddl := []string{
		`CREATE TABLE organizations (id bigint PRIMARY KEY, slug text NOT NULL)`,
		`CREATE TABLE notes (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, tenant_id bigint NOT NULL REFERENCES organizations(id), body text NOT NULL)`,
	}
	db := testenv.PostgresDB(t)
	mustExec(t, db, ddl...)
	mustExec(t, db, `INSERT INTO organizations VALUES (1, 'acme'), (2, 'globex')`,
		`INSERT INTO notes (tenant_id, body) VALUES (1, 'a'), (2, 'b'), (1, 'c')`)
	want := tableSum(t, db, "notes", "WHERE tenant_id = 1")
	file := filepath.Join(t.TempDir(), "tenant_1.sql")
	require.NoError(t, os.WriteFile(file, exportBytes(t, db, "1", &backup.Options{Format: backup.SQL, NoCompress: true}), 0o600))

	dsn := testenv.PostgresDatabase(t)
	target, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { target.Close() })
	mustExec(t, target, ddl...)
	out, err := exec.Command("psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-f", file).CombinedOutput()
	require.NoError(t, err, "psql: %s", out)
	require.Equal(t, want, tableSum(t, target, "notes", "WHERE tenant_id = 1"))

	mustExec(t, db, `DELETE FROM notes WHERE id = 3`)
	_, err = backup.Restore(context.Background(), db, "1", mustOpen(t, file), nil)
	require.NoError(t, err)
	require.Equal(t, want, tableSum(t, db, "notes", "WHERE tenant_id = 1"))
}

// swapSeeker reads a, and after the first Seek b: a file changed between
// Restore's validation pass and its write pass.
type swapSeeker struct {
	r    *bytes.Reader
	next []byte
}

func (s *swapSeeker) Read(p []byte) (int, error) { return s.r.Read(p) }

func (s *swapSeeker) Seek(off int64, whence int) (int64, error) {
	if s.next != nil {
		s.r, s.next = bytes.NewReader(s.next), nil
	}
	return s.r.Seek(off, whence)
}

// TestReviewFileChangedBetweenPasses: a file swapped for another,
// self-consistent one after validation (same header, a row of another
// tenant) is rolled back with ErrChanged, nothing written.
func TestReviewFileChangedBetweenPasses(t *testing.T) {
	forEachDB(t, func(t *testing.T, c dbCase, db *sql.DB) {
		ctx := context.Background()
		createSchema(t, db, c.d)
		seed(t, db, c.d)
		plain := exportBytes(t, db, "1", &backup.Options{NoCompress: true})
		mutate(t, db, c.d)
		before := tableSums(t, db)
		// A row nothing references: no tenant check sees it.
		swapped := reseal(t, replaceOnce(t, plain, `["3","1",null,null,null,null,null,null,null,null,null]`, `["3","2",null,null,null,null,null,null,null,null,null]`))
		for _, other := range [][]byte{swapped, plain[:len(plain)-30], gzipBytes(t, swapped)} {
			_, err := backup.Restore(ctx, db, "1", &swapSeeker{r: bytes.NewReader(plain), next: other}, nil)
			require.Error(t, err)
			t.Log(err)
			require.Equal(t, before, tableSums(t, db))
		}
		_, err := backup.Restore(ctx, db, "1", &swapSeeker{r: bytes.NewReader(plain), next: swapped}, nil)
		require.ErrorIs(t, err, backup.ErrChanged)
	})
}

// TestReviewCompressionAndLineBounds: other compressions are named, and
// a line past MaxLineBytes is refused.
func TestReviewCompressionAndLineBounds(t *testing.T) {
	db := testenv.SQLiteDB(t)
	createSchema(t, db, sqldialect.SQLite)
	seed(t, db, sqldialect.SQLite)
	ctx := context.Background()
	for _, tc := range []struct {
		head     string
		sentinel error
	}{{"BZh91AY&SY", backup.ErrUnsupportedCompression}, {"\xfd7zXZ\x00\x00", backup.ErrUnsupportedCompression}, {"\x28\xb5\x2f\xfd\x00", backup.ErrUnsupportedCompression}, {"\x78\x9c\x00", backup.ErrZlib}, {"\x1f\x8b", backup.ErrCorrupt}} {
		_, err := backup.Validate(ctx, strings.NewReader(tc.head), db, "1", nil)
		require.ErrorIs(t, err, tc.sentinel, "%q", tc.head)
	}
	plain := exportBytes(t, db, "1", &backup.Options{NoCompress: true})
	before := tableSums(t, db)
	_, err := backup.Restore(ctx, db, "1", bytes.NewReader(plain), &backup.RestoreOptions{MaxLineBytes: 100})
	require.ErrorIs(t, err, backup.ErrCorrupt)
	require.Contains(t, err.Error(), "longer than 100 bytes")
	require.Equal(t, before, tableSums(t, db))
}

// TestReviewHostileIdentifiers: table and column names holding quotes,
// backticks, spaces and a semicolon round-trip through both codecs.
func TestReviewHostileIdentifiers(t *testing.T) {
	forEachDB(t, func(t *testing.T, c dbCase, db *sql.DB) {
		ctx := context.Background()
		createSchema(t, db, c.d)
		seed(t, db, c.d)
		tbl, col := c.d.Quote(`we"ird; DROP`), c.d.Quote("c`o'l \"x\"")
		ref, fk := " REFERENCES organizations(id)", ""
		if c.d == sqldialect.MySQL {
			ref, fk = "", ", FOREIGN KEY (tenant_id) REFERENCES organizations(id)"
		}
		mustExec(t, db, "CREATE TABLE "+tbl+" (id bigint PRIMARY KEY, tenant_id bigint NOT NULL"+ref+", "+col+" varchar(50)"+fk+")",
			"INSERT INTO "+tbl+" VALUES (1, 1, 'a'), (2, 2, 'b'), (3, 1, 'it''s')")
		sum := func() string {
			var n int
			var s sql.NullString
			require.NoError(t, db.QueryRow("SELECT COUNT(*), MAX("+col+") FROM "+tbl).Scan(&n, &s))
			return fmt.Sprint(n, s.String)
		}
		want := sum()
		for _, f := range []backup.Format{backup.JSONL, backup.SQL} {
			file := exportBytes(t, db, "1", &backup.Options{Format: f})
			mustExec(t, db, "DELETE FROM "+tbl+" WHERE id = 3")
			_, err := backup.Restore(ctx, db, "1", bytes.NewReader(file), nil)
			require.NoError(t, err, f)
			require.Equal(t, want, sum(), f)
		}
	})
}

// TestReviewSQLiteAutoincrement: SQLite's AUTOINCREMENT counter covers
// the restored keys and is never lowered.
func TestReviewSQLiteAutoincrement(t *testing.T) {
	ddl := []string{`CREATE TABLE organizations (id integer PRIMARY KEY, slug text NOT NULL)`,
		`CREATE TABLE tickets (id integer PRIMARY KEY AUTOINCREMENT, tenant_id bigint NOT NULL REFERENCES organizations(id), body text)`}
	src := testenv.SQLiteDB(t)
	mustExec(t, src, ddl...)
	mustExec(t, src, `INSERT INTO organizations VALUES (1, 'acme'), (2, 'globex')`,
		`INSERT INTO tickets (tenant_id, body) VALUES (1, 'a'), (1, 'b'), (2, 'c'), (1, 'd')`)
	file := exportBytes(t, src, "1", nil)
	next := func(db *sql.DB) int64 {
		res, err := db.Exec(`INSERT INTO tickets (tenant_id, body) VALUES (1, 'new')`)
		require.NoError(t, err)
		id, err := res.LastInsertId()
		require.NoError(t, err)
		return id
	}
	for _, ahead := range []int64{0, 100} {
		dst := testenv.SQLiteDB(t)
		mustExec(t, dst, ddl...)
		if ahead > 0 {
			mustExec(t, dst, `INSERT INTO organizations VALUES (2, 'globex')`,
				`INSERT INTO tickets (id, tenant_id, body) VALUES (100, 2, 'x')`, `DELETE FROM tickets`)
		}
		_, err := backup.Restore(context.Background(), dst, "1", bytes.NewReader(file), nil)
		require.NoError(t, err)
		require.Equal(t, max(ahead, 4)+1, next(dst), "ahead %d", ahead)
	}
}

// TestReviewExportUnknownTenant: an id with no row is ErrTenantNotFound,
// and what was written is no backup (Validate refuses it).
func TestReviewExportUnknownTenant(t *testing.T) {
	forEachDB(t, func(t *testing.T, c dbCase, db *sql.DB) {
		createSchema(t, db, c.d)
		seed(t, db, c.d)
		var buf bytes.Buffer
		_, err := backup.Export(context.Background(), db, "77", &buf, nil)
		require.ErrorIs(t, err, backup.ErrTenantNotFound)
		_, err = backup.Validate(context.Background(), bytes.NewReader(buf.Bytes()), db, "77", nil)
		require.Error(t, err)
	})
}
