// Command demo is the tenantkit demo: a multi-tenant utility-billing API
// (organizations, users, providers, tariffs, properties, buildings, meters,
// meter readings, invoices with items, subscriptions, audit logs) on SQLite,
// PostgreSQL or MySQL/MariaDB, seeded with deterministic, realistic data.
//
//	go run ./examples/demo                    # serve on :8080, SQLite file ./tenantkit-demo.db
//	go run ./examples/demo seed --size small --db ./small.db
//	go run ./examples/demo serve --db 'postgres://postgres@127.0.0.1:5432/demo?sslmode=disable'
//	go run ./examples/demo serve --db mysql://root@127.0.0.1:3306/demo
//	go run ./examples/demo <command> --help
//
// Exit status: 0 on success (and after --help), 2 for bad usage, 1 for any
// other failure.
//
// # Database
//
// The first start creates the schema and seeds it in one transaction
// (schema.go, seed.go); a demo_meta row marks the database as seeded, so
// later starts reuse it. A database that has an organizations table but no
// marker is refused, never modified. On MySQL/MariaDB DDL commits
// implicitly: the tables are created before the data transaction, and a
// seed that failed part-way is detected (no marker) and started over.
//
// Every tenant-owned table has tenant_id BIGINT NOT NULL REFERENCES
// organizations(id) and indexes led by tenant_id. invoice_items has no
// tenant_id: it belongs to its invoice. providers is global.
//
// # Isolation
//
// Tenants are resolved from the subdomain of --base-domain
// (acme.localhost) or from the path prefix /t/{slug}/; when both answer they
// must agree (else 400). A header resolver (--tenant-header) is off unless
// --trust-tenant-header is given. Resolution fails closed (see package
// tenant): no tenant 404, unknown 404, suspended 403, directory failure 503.
//
// Every request's data access runs in tenant.DB.Tx, which refuses a context
// without a tenant, and every query also filters by tenant_id (child rows
// through their parent): on MySQL and SQLite that filter is the isolation;
// on PostgreSQL it is the second line behind row-level security. There every
// tenant table has RLS ENABLEd and FORCEd with a policy on the
// transaction-local setting app.tenant_id (or app.cross_tenant = 'on' for
// explicit system mode), and requests run as a separate role (--app-db,
// default tenantkit_app, which the demo creates). The demo refuses to start
// when that role is a superuser, has BYPASSRLS or CREATEROLE, is a member
// of a superuser or BYPASSRLS role, owns (or is a member of the owner of) a
// tenant table, or has a session-wide app.cross_tenant or app.tenant_id
// default, or when a tenant table lacks ENABLE/FORCE: any of these would
// let requests bypass or switch off the policies.
//
// Work that outlives a request (the audit entry written after POST of a
// reading) gets its tenant from tenant.Detach(r.Context()); a goroutine
// started with context.Background() has no tenant and its data access
// fails with tenant.ErrNoTenant. The admin overview (GET /admin/api/tenants,
// enabled by the TENANTKIT_ADMIN_TOKEN environment variable) is the only
// cross-tenant request path: explicit system mode in its own context.
//
// # Extending the demo
//
// Other parts of tenantkit are wired in at three places: a command in its
// own file plus one line in commands() (main.go); fields on App (app.go);
// and a commented slot in App.compose (server.go), which builds the request
// chain of DESIGN.md in one function.
package main
