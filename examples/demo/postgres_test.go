package main

import (
	"context"
	"database/sql"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tenantkit/tenantkit/internal/testenv"
	"github.com/tenantkit/tenantkit/tenant"
)

// TestPostgresRowLevelSecurity checks the database-side isolation on its
// own, below the application's WHERE tenant_id: with one connection, a
// transaction for B followed by a query with no tenant sees zero rows, and
// writes naming another tenant are rejected by the policies.
func TestPostgresRowLevelSecurity(t *testing.T) {
	t.Parallel()
	a := openApp(t, Config{DB: testenv.PostgresDatabase(t), MaxOpenConns: 1})
	globex, gctx := lookup(t, a, "globex")
	acme, actx := lookup(t, a, "acme")
	gid, aid := numericID(t, globex), numericID(t, acme)

	var inTx int
	require.NoError(t, a.DB.Tx(gctx, func(tx *sql.Tx) error {
		// No WHERE: RLS alone limits this to globex.
		return tx.QueryRowContext(gctx, "SELECT COUNT(*) FROM properties").Scan(&inTx)
	}))
	require.Equal(t, ownerCount(t, a, "SELECT COUNT(*) FROM properties WHERE tenant_id = ?", gid), inTx)
	require.Positive(t, inTx)

	// Same single connection, no tenant: the setting died with the
	// transaction, so every tenant table (and organizations) is empty.
	for _, table := range append([]string{"organizations", "invoice_items"}, tenantTables()...) {
		var n int
		require.NoError(t, a.Pool.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM "+table).Scan(&n))
		require.Zero(t, n, "table %s visible without a tenant", table)
	}
	var setting sql.NullString
	require.NoError(t, a.Pool.QueryRowContext(t.Context(), "SELECT current_setting('app.tenant_id', true)").Scan(&setting))
	require.Empty(t, setting.String)
	var providers int
	require.NoError(t, a.Pool.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM providers").Scan(&providers))
	require.Positive(t, providers, "providers are global")

	// Writes for another tenant are rejected by WITH CHECK, even with no
	// application filter at all.
	err := a.DB.Tx(actx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(actx, `INSERT INTO properties (tenant_id, name, address, city, postal_code, kind, created_at)
			VALUES ($1, 'Intruder', 'x', 'x', 'x', 'residential', now())`, gid)
		return err
	})
	require.ErrorContains(t, err, "row-level security")

	var gInvoice int64
	require.NoError(t, a.DB.Tx(gctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(gctx, "SELECT id FROM invoices ORDER BY id LIMIT 1").Scan(&gInvoice)
	}))
	err = a.DB.Tx(actx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(actx, `INSERT INTO invoice_items (invoice_id, description, quantity, unit, unit_price, amount)
			VALUES ($1, 'smuggled', 1, 'x', 1, 1)`, gInvoice)
		return err
	})
	require.ErrorContains(t, err, "row-level security", "invoice_items follow their invoice's tenant")

	// Moving a row to another tenant is refused too.
	err = a.DB.Tx(actx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(actx, "UPDATE properties SET tenant_id = $1 WHERE tenant_id = $2", gid, aid)
		return err
	})
	require.ErrorContains(t, err, "row-level security")

	// Updates and deletes of another tenant's rows match nothing.
	require.NoError(t, a.DB.Tx(actx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(actx, "DELETE FROM meter_readings WHERE tenant_id = $1", gid)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		require.Zero(t, n)
		return nil
	}))

	// Without a tenant, tenant.DB refuses before touching the database.
	require.ErrorIs(t, a.DB.Tx(context.Background(), func(*sql.Tx) error { return nil }), tenant.ErrNoTenant)
}

// TestPostgresRefusesUnsafeRole: the demo refuses to start when the request
// path would bypass row-level security, saying why.
func TestPostgresRefusesUnsafeRole(t *testing.T) {
	t.Parallel()
	owner := testenv.Name("tk_owner")
	bypass := testenv.Name("tk_bypass")
	member := testenv.Name("tk_member")
	base := testenv.Postgres(t)
	// Registered before the database exists, so it runs after the database
	// is dropped (cleanups run last-in first-out) and the roles own nothing.
	t.Cleanup(func() {
		db, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, r := range []string{member, owner, bypass} {
			_, _ = db.ExecContext(ctx, "DROP ROLE IF EXISTS "+r)
		}
	})
	dsn := testenv.PostgresDatabase(t)
	good := openApp(t, Config{DB: dsn}) // seeds, creates tenantkit_app, passes the check
	require.NotEqual(t, good.Owner, good.Pool)
	var user string
	require.NoError(t, good.Pool.QueryRowContext(t.Context(), "SELECT current_user").Scan(&user))
	require.Equal(t, defaultAppRole, user)

	as := func(role string) string {
		u, err := url.Parse(dsn)
		require.NoError(t, err)
		u.User = url.User(role)
		return u.String()
	}
	for _, stmt := range []string{
		"CREATE ROLE " + owner + " LOGIN NOSUPERUSER NOBYPASSRLS",
		"ALTER TABLE meter_readings OWNER TO " + owner,
		"CREATE ROLE " + bypass + " LOGIN NOSUPERUSER BYPASSRLS",
		"CREATE ROLE " + member + " LOGIN NOSUPERUSER NOBYPASSRLS IN ROLE " + owner,
	} {
		_, err := good.Owner.ExecContext(t.Context(), stmt)
		require.NoError(t, err, stmt)
	}

	superURL, err := url.Parse(dsn)
	require.NoError(t, err)
	var superUser string
	require.NoError(t, good.Owner.QueryRowContext(t.Context(), "SELECT current_user").Scan(&superUser))
	for _, c := range []struct {
		name, appDB, want string
	}{
		{"superuser", superURL.String(), "is a superuser"},
		{"table owner", as(owner), "owns table meter_readings"},
		{"bypassrls", as(bypass), "has BYPASSRLS"},
		{"member of the owner", as(member), "is a member of \"" + owner + "\", which owns table meter_readings"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Open(t.Context(), Config{DB: dsn, AppDB: c.appDB, Logger: testLogger(t)})
			require.ErrorIs(t, err, ErrUnsafeRole)
			require.ErrorContains(t, err, c.want)
		})
	}

	// A tenant table whose policies are not forced is refused too, even for
	// a safe role.
	_, err = good.Owner.ExecContext(t.Context(), "ALTER TABLE invoices NO FORCE ROW LEVEL SECURITY")
	require.NoError(t, err)
	_, err = Open(t.Context(), Config{DB: dsn, Logger: testLogger(t)})
	require.ErrorIs(t, err, ErrUnsafeRole)
	require.ErrorContains(t, err, "not ENABLEd and FORCEd on table invoices")

	// The serve command exits non-zero with the reason.
	var out, errOut syncBuffer
	code := run(t.Context(), &env{Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }},
		[]string{"serve", "--db", dsn, "--app-db", superURL.String(), "--addr", "127.0.0.1:0", "--quiet"})
	require.Equal(t, 1, code)
	require.Contains(t, errOut.String(), "superuser")
	require.Contains(t, errOut.String(), superUser)
}
