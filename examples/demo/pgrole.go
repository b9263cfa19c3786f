package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/tenantkit/tenantkit/internal/sqldialect"
)

// ErrUnsafeRole is returned by Open when the PostgreSQL role of the request
// path would bypass row-level security. The message says which rule failed.
var ErrUnsafeRole = errors.New("the request-path role would bypass row-level security")

// ensureAppRole creates role (LOGIN NOSUPERUSER NOBYPASSRLS) if it does not
// exist, and grants it data privileges on the demo tables of the current
// database: SELECT, INSERT, UPDATE, DELETE on tenant tables and
// organizations, SELECT on providers, USAGE on their identity sequences, and
// nothing on demo_meta. Roles are cluster-wide; concurrent creation by
// another process is not an error.
func ensureAppRole(ctx context.Context, owner *sql.DB, role string) error {
	q := sqldialect.Postgres.Quote(role)
	create := fmt.Sprintf(`DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = %s) THEN
		CREATE ROLE %s LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
	END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
	NULL;
END
$$`, sqldialect.Postgres.QuoteString(role), q)
	if _, err := owner.ExecContext(ctx, create); err != nil {
		return fmt.Errorf("create role %s: %w", role, err)
	}
	var schema string
	if err := owner.QueryRowContext(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return fmt.Errorf("current schema: %w", err)
	}
	data := append([]string{"organizations"}, tenantTables()...)
	data = append(data, "invoice_items")
	stmts := []string{
		"GRANT USAGE ON SCHEMA " + sqldialect.Postgres.Quote(schema) + " TO " + q,
		"GRANT SELECT, INSERT, UPDATE, DELETE ON " + strings.Join(data, ", ") + " TO " + q,
		"GRANT SELECT ON providers TO " + q,
	}
	for _, t := range append(data, "providers") {
		stmts = append(stmts, fmt.Sprintf(`DO $$ BEGIN EXECUTE format('GRANT USAGE, SELECT ON SEQUENCE %%s TO %%I', pg_get_serial_sequence('%s', 'id'), %s); END $$`,
			t, sqldialect.Postgres.QuoteString(role)))
	}
	for _, s := range stmts {
		if _, err := owner.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("grant to %s: %w", role, err)
		}
	}
	return nil
}

// checkRequestRole refuses a request-path connection whose role would
// bypass row-level security or could switch it off: a superuser, a role with
// BYPASSRLS, a member of a superuser or BYPASSRLS role (SET ROLE), a role
// with CREATEROLE, or a role that owns (or is a member of the owner of) a
// tenant table, since the owner can ALTER TABLE ... NO FORCE / DISABLE ROW
// LEVEL SECURITY. It also refuses a session-wide app.cross_tenant = 'on' or
// app.tenant_id (a role, database or connection default), which would apply
// to every statement outside a tenant transaction, and tenant tables on
// which RLS is not ENABLEd and FORCEd. The error wraps ErrUnsafeRole and
// says which rule failed.
func checkRequestRole(ctx context.Context, pool *sql.DB) error {
	var user string
	var super, bypass, createRole bool
	var powerful, tenantSetting, systemSetting sql.NullString
	err := pool.QueryRowContext(ctx,
		`SELECT current_user, rolsuper, rolbypassrls, rolcreaterole,
			(SELECT p.rolname FROM pg_catalog.pg_roles p WHERE p.rolname <> current_user AND (p.rolsuper OR p.rolbypassrls)
				AND pg_catalog.pg_has_role(current_user, p.oid, 'MEMBER') ORDER BY p.rolname LIMIT 1),
			current_setting('app.tenant_id', true), current_setting('app.cross_tenant', true)
		FROM pg_catalog.pg_roles WHERE rolname = current_user`).
		Scan(&user, &super, &bypass, &createRole, &powerful, &tenantSetting, &systemSetting)
	if err != nil {
		return fmt.Errorf("inspect the request-path role: %w", err)
	}
	if super {
		return fmt.Errorf("%w: role %q is a superuser (superusers ignore row-level security); connect the request path as an ordinary role with --app-db", ErrUnsafeRole, user)
	}
	if bypass {
		return fmt.Errorf("%w: role %q has BYPASSRLS; connect the request path as a role without it (ALTER ROLE %s NOBYPASSRLS)", ErrUnsafeRole, user, user)
	}
	if powerful.Valid {
		return fmt.Errorf("%w: role %q is a member of %q, which is a superuser or has BYPASSRLS (SET ROLE would leave row-level security behind); connect the request path as a role outside it", ErrUnsafeRole, user, powerful.String)
	}
	if createRole {
		return fmt.Errorf("%w: role %q has CREATEROLE (it can grant itself membership in the tables' owner); connect the request path as a role without it (ALTER ROLE %s NOCREATEROLE)", ErrUnsafeRole, user, user)
	}
	// A session default (ALTER ROLE/DATABASE ... SET, or options= in the
	// URL) would apply to every statement outside a tenant transaction.
	if systemSetting.String == "on" {
		return fmt.Errorf("%w: app.cross_tenant is 'on' for the whole session of role %q (a default from ALTER ROLE/DATABASE ... SET or the connection options), so every statement outside a tenant transaction sees all tenants; remove that default", ErrUnsafeRole, user)
	}
	if tenantSetting.String != "" {
		return fmt.Errorf("%w: app.tenant_id is set for the whole session of role %q (a default from ALTER ROLE/DATABASE ... SET or the connection options), so statements outside a tenant transaction see that tenant's rows; remove that default", ErrUnsafeRole, user)
	}
	tables := append([]string{"organizations", "invoice_items"}, tenantTables()...)
	lits := make([]string, len(tables))
	for i, t := range tables {
		lits[i] = sqldialect.Postgres.QuoteString(t)
	}
	rows, err := pool.QueryContext(ctx, `SELECT c.relname, pg_catalog.pg_get_userbyid(c.relowner),
		pg_catalog.pg_has_role(current_user, c.relowner, 'MEMBER'), c.relrowsecurity, c.relforcerowsecurity
	FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
	WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND c.relname IN (`+strings.Join(lits, ", ")+`)
	ORDER BY c.relname`)
	if err != nil {
		return fmt.Errorf("inspect tenant tables: %w", err)
	}
	defer rows.Close()
	seen := map[string]bool{}
	for rows.Next() {
		var name, owner string
		var member, rls, force bool
		if err := rows.Scan(&name, &owner, &member, &rls, &force); err != nil {
			return fmt.Errorf("inspect tenant tables: %w", err)
		}
		seen[name] = true
		if member {
			how := "owns"
			if owner != user {
				how = fmt.Sprintf("is a member of %q, which owns", owner)
			}
			return fmt.Errorf("%w: role %q %s table %s (an owner can disable row-level security); connect the request path as a role that owns no tenant table with --app-db", ErrUnsafeRole, user, how, name)
		}
		if !rls || !force {
			return fmt.Errorf("%w: row-level security is not ENABLEd and FORCEd on table %s", ErrUnsafeRole, name)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("inspect tenant tables: %w", err)
	}
	for _, t := range tables {
		if !seen[t] {
			return fmt.Errorf("table %s is missing or not visible in the request-path role's schema", t)
		}
	}
	return nil
}
