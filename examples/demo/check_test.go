package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tenantkit/tenantkit/internal/sqldialect"
)

// runCmd runs one command's Run function the way run() does and returns the
// exit status and output.
func runCmd(t *testing.T, fn func(context.Context, *env, []string) error, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut syncBuffer
	err := fn(t.Context(), &env{Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }}, args)
	code := 0
	if err != nil {
		code = 1
		errOut.Write([]byte(err.Error()))
	}
	return code, out.String(), errOut.String()
}

func TestCheckAndMigrateCommands(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		dbURL := b.db(t)
		code, _, errOut := runCLI(t, t.Context(), "seed", "--db", dbURL, "--size", "small")
		require.Equal(t, 0, code, errOut)

		// A freshly seeded demo is clean.
		code, out, errOut := runCmd(t, runCheck, "--db", dbURL)
		require.Equal(t, 0, code, out+errOut)
		require.Contains(t, out, "tenant integrity: CLEAN")
		require.Contains(t, out, "missing_tenant")
		require.Contains(t, out, "cross_tenant")
		code, out, _ = runCmd(t, runCheck, "--db", dbURL, "--json")
		require.Equal(t, 0, code)
		var rep map[string]any
		require.NoError(t, json.Unmarshal([]byte(out), &rep))
		require.Equal(t, true, rep["ok"])

		// Migrations through the checks: the seeded indexes already cover
		// the migration's, so up creates nothing but records the version.
		code, out, errOut = runCmd(t, runMigrate, "status", "--db", dbURL)
		require.Equal(t, 0, code, errOut)
		require.Contains(t, out, "20240101000000")
		require.Contains(t, out, "pending")
		code, out, errOut = runCmd(t, runMigrate, "--db", dbURL, "up")
		require.Equal(t, 0, code, out+errOut)
		require.Contains(t, out, "up 20240101000000 add_tenant_aware_indexes: applied")
		require.Contains(t, out, "database version: 20240101000000")
		code, out, _ = runCmd(t, runMigrate, "status", "--db", dbURL)
		require.Equal(t, 0, code)
		require.Contains(t, out, "applied")
		code, out, errOut = runCmd(t, runMigrate, "down", "--db", dbURL)
		require.Equal(t, 0, code, out+errOut)
		require.Contains(t, out, "database version: 0")

		// A cross-tenant meter slipped in with foreign keys bypassed.
		src, err := parseDataSource(dbURL)
		require.NoError(t, err)
		db, err := openPool(t.Context(), src)
		require.NoError(t, err)
		defer db.Close()
		corrupt(t, db, src.Dialect)
		code, out, errOut = runCLI(t, t.Context(), "check", "--db", dbURL) // through the command table
		require.Equal(t, 1, code)
		require.Contains(t, errOut, "demo check: tenant integrity violations found")
		require.Contains(t, out, "VIOLATIONS")
		require.Contains(t, out, "cross_tenant:meters")
		require.Contains(t, out, "fk_orphan:invoice_items")
	})
}

// corrupt gives the first meter another tenant's property and adds an
// invoice item whose invoice does not exist, bypassing foreign keys.
func corrupt(t *testing.T, db *sql.DB, d sqldialect.Dialect) {
	t.Helper()
	ctx := t.Context()
	conn, err := db.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	off := map[sqldialect.Dialect]string{
		sqldialect.Postgres: "SET session_replication_role = replica",
		sqldialect.MySQL:    "SET foreign_key_checks = 0",
		sqldialect.SQLite:   "PRAGMA foreign_keys = OFF",
	}[d]
	on := map[sqldialect.Dialect]string{
		sqldialect.Postgres: "SET session_replication_role = DEFAULT",
		sqldialect.MySQL:    "SET foreign_key_checks = 1",
		sqldialect.SQLite:   "PRAGMA foreign_keys = ON",
	}[d]
	for _, s := range []string{off,
		`UPDATE meters SET property_id = (SELECT MIN(p.id) FROM properties p WHERE p.tenant_id <> (SELECT m.tenant_id FROM meters m WHERE m.id = (SELECT MIN(id) FROM meters))) WHERE id = (SELECT MIN(id) FROM meters)`,
		`INSERT INTO invoice_items (invoice_id, description, quantity, unit, unit_price, amount) VALUES (987654321, 'ghost', 1, 'kWh', 1, 1)`,
		on} {
		_, err := conn.ExecContext(ctx, s)
		require.NoError(t, err, s)
	}
}

func TestMigrateCommandUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"migrate"}, 2, "missing action"},
		{[]string{"migrate", "sideways"}, 2, `unknown action "sideways"`},
		{[]string{"migrate", "up", "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"migrate", "--report", "up", "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"migrate", "--help"}, 0, "status"},
		{[]string{"check", "--help"}, 0, "-json"},
		{[]string{"check", "--db", ""}, 2, "empty database location"},
	} {
		code, out, errOut := runCLI(t, t.Context(), c.args...)
		require.Equal(t, c.code, code, "%v: %s%s", c.args, out, errOut)
		require.Contains(t, out+errOut, c.want, c.args)
	}
	// An empty SQLite file has no demo schema.
	code, _, errOut := runCLI(t, t.Context(), "check", "--db", t.TempDir()+"/empty.db")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "run 'demo seed' first")
}
