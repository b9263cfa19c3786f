package main

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"context"
	"database/sql"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tenantkit/tenantkit/internal/sqldialect"
)

// withSystemTx runs fn in a transaction in the RLS policy's system mode.
func withSystemTx(t *testing.T, dbArg string, fn func(tx *sql.Tx, d sqldialect.Dialect)) {
	t.Helper()
	src, err := parseDataSource(dbArg)
	require.NoError(t, err)
	pool, err := openPool(context.Background(), src)
	require.NoError(t, err)
	defer pool.Close()
	tx, err := pool.Begin()
	require.NoError(t, err)
	if src.Dialect == sqldialect.Postgres {
		_, err = tx.Exec("SELECT set_config('app.cross_tenant', 'on', true)")
		require.NoError(t, err)
	}
	fn(tx, src.Dialect)
	require.NoError(t, tx.Commit())
}

func countAcmeReadings(t *testing.T, dbArg string) (n int) {
	withSystemTx(t, dbArg, func(tx *sql.Tx, d sqldialect.Dialect) {
		require.NoError(t, tx.QueryRow(`SELECT COUNT(*) FROM meter_readings r JOIN organizations o ON o.id = r.tenant_id WHERE o.slug = 'acme'`).Scan(&n))
	})
	return n
}

// TestCLIBackupRestore: demo backup, backup verify and restore work on
// every database, refuse what they must with exit 1, and bad usage exits 2.
func TestCLIBackupRestore(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := b.db(t)
		code, _, errOut := runCLI(t, ctx, "seed", "--db", db, "--size", "small")
		require.Equal(t, 0, code, errOut)
		dir := t.TempDir()
		want := countAcmeReadings(t, db)
		require.Positive(t, want)

		for _, format := range []string{"jsonl", "sql"} {
			file := filepath.Join(dir, "acme."+format+".gz")
			code, out, errOut := runCLI(t, ctx, "backup", "--db", db, "--tenant", "acme", "--format", format, "-o", file)
			require.Equal(t, 0, code, errOut)
			require.Contains(t, out, "wrote "+file)
			require.Contains(t, errOut, "export: meter_readings", "plain progress lines when stderr is not a terminal")
			raw, err := os.ReadFile(file)
			require.NoError(t, err)
			require.Equal(t, []byte{0x1f, 0x8b}, raw[:2], "gzip by default")

			code, out, errOut = runCLI(t, ctx, "backup", "verify", "--db", db, file)
			require.Equal(t, 0, code, errOut)
			require.Contains(t, out, "OK")

			// A lost month of readings comes back; a dry run changes nothing.
			withSystemTx(t, db, func(tx *sql.Tx, d sqldialect.Dialect) {
				_, err := tx.Exec(d.Rebind(`DELETE FROM meter_readings WHERE tenant_id = (SELECT id FROM organizations WHERE slug = ?)`), "acme")
				require.NoError(t, err)
			})
			require.Zero(t, countAcmeReadings(t, db))
			code, out, errOut = runCLI(t, ctx, "restore", "--db", db, "--tenant", "acme", file, "--dry-run")
			require.Equal(t, 0, code, errOut)
			require.Contains(t, out, "dry run (rolled back)")
			require.Zero(t, countAcmeReadings(t, db))
			code, out, errOut = runCLI(t, ctx, "restore", "--db", db, "--tenant", "acme", file)
			require.Equal(t, 0, code, errOut)
			require.Contains(t, out, "restored")
			require.Equal(t, want, countAcmeReadings(t, db))
		}

		file := filepath.Join(dir, "acme.jsonl.gz")
		// Refusals: exit 1 with the reason, nothing changed.
		code, _, errOut = runCLI(t, ctx, "restore", "--db", db, "--tenant", "globex", file)
		require.Equal(t, 1, code)
		require.Contains(t, errOut, `the file holds tenant`)

		plain := gunzip(t, file)
		var zl bytes.Buffer
		zw := zlib.NewWriter(&zl)
		_, _ = zw.Write(plain)
		require.NoError(t, zw.Close())
		zfile := filepath.Join(dir, "zlib.jsonl.gz")
		require.NoError(t, os.WriteFile(zfile, zl.Bytes(), 0o600))
		code, _, errOut = runCLI(t, ctx, "restore", "--db", db, "--tenant", "acme", zfile)
		require.Equal(t, 1, code)
		require.Contains(t, errOut, "zlib stream, not gzip")
		code, _, errOut = runCLI(t, ctx, "backup", "verify", "--db", db, zfile)
		require.Equal(t, 1, code)
		require.Contains(t, errOut, "zlib stream, not gzip")

		cut := filepath.Join(dir, "cut.jsonl")
		require.NoError(t, os.WriteFile(cut, plain[:len(plain)*2/3], 0o600))
		code, _, errOut = runCLI(t, ctx, "restore", "--db", db, "--tenant", "acme", cut)
		require.Equal(t, 1, code)
		require.Contains(t, errOut, "truncated")
		require.Equal(t, want, countAcmeReadings(t, db))

		// Plain text on request.
		code, _, errOut = runCLI(t, ctx, "backup", "--db", db, "--tenant", "acme", "--no-gzip", "--format", "sql", "-o", filepath.Join(dir, "plain.sql"))
		require.Equal(t, 0, code, errOut)
		head, err := os.ReadFile(filepath.Join(dir, "plain.sql"))
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(string(head), "-- tenantkit-backup {"), "plain SQL")
	})
}

func gunzip(t *testing.T, name string) []byte {
	t.Helper()
	f, err := os.Open(name)
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	b, err := io.ReadAll(zr)
	require.NoError(t, err)
	return b
}

// TestCLIBackupDefaultName: without -o the file is
// tenant_<id>_<slug>_<UTC time>.jsonl.gz in the current directory.
func TestCLIBackupDefaultName(t *testing.T) {
	db := filepath.Join(t.TempDir(), "demo.db")
	code, _, errOut := runCLI(t, t.Context(), "seed", "--db", db, "--size", "small")
	require.Equal(t, 0, code, errOut)
	t.Chdir(t.TempDir())
	code, out, errOut := runCLI(t, t.Context(), "backup", "--db", db, "--tenant", "acme", "--quiet")
	require.Equal(t, 0, code, errOut)
	require.Empty(t, errOut)
	matches, err := filepath.Glob("tenant_*_acme_*Z.jsonl.gz")
	require.NoError(t, err)
	require.Len(t, matches, 1, out)
	parts, _ := filepath.Glob("*.part")
	require.Empty(t, parts)
}

func TestCLIBackupUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		out  string
	}{
		{[]string{"backup"}, "--tenant is required"},
		{[]string{"backup", "--tenant", "acme", "--format", "csv"}, "--format"},
		{[]string{"backup", "--tenant", "acme", "extra"}, "unexpected argument"},
		{[]string{"backup", "verify"}, "a backup file is required"},
		{[]string{"backup", "verify", "a", "b"}, "one backup file"},
		{[]string{"restore", "file"}, "--tenant is required"},
		{[]string{"restore", "--tenant", "acme"}, "a backup file is required"},
		{[]string{"restore", "--tenant", "acme", "--nosuch", "f"}, "flag provided but not defined"},
	} {
		code, _, errOut := runCLI(t, t.Context(), c.args...)
		require.Equal(t, 2, code, "%v: %s", c.args, errOut)
		require.Contains(t, errOut, c.out, c.args)
	}
	code, out, _ := runCLI(t, t.Context(), "restore", "--help")
	require.Equal(t, 0, code)
	require.Contains(t, out, "-as-tenant")
}
