// Package migrate keeps schema migrations from silently corrupting tenant
// data. It checks a database's tenant integrity, and it runs a migration step
// between two passes of those checks so that a step which breaks tenant
// isolation is rolled back, or, where the database cannot roll back, is
// reported truthfully as partially applied. It speaks database/sql, detects
// the dialect (PostgreSQL, MySQL/MariaDB, SQLite) and imports no driver; the
// goose adapter lives in migrate/gooseadapter so that importing migrate pulls
// in no goose.
//
// This page is also tenantkit's migration practice guide; the section
// "Practice" at the end is the part to read before writing a migration.
//
// # The checks
//
// Check reads the schema (tables, columns, primary and foreign keys, indexes)
// and classifies every table: the tenant table (Options.Catalog.TenantTable,
// default organizations), tenant-owned tables (with the tenant column,
// default tenant_id), closure tables that reach a tenant-owned table through
// foreign keys (invoice_items through invoices), and global tables. Then it
// runs, per table or per foreign key:
//
//   - null_tenant: rows of a tenant-owned table with a NULL tenant column,
//     even when the column is declared NOT NULL;
//   - missing_tenant: rows whose tenant id is not a key of the tenant table;
//   - fk_orphan: for every foreign key, rows pointing at no parent, with
//     MATCH SIMPLE semantics (a row with any NULL key column is skipped;
//     composite keys compare all columns);
//   - cross_tenant: rows whose parent belongs to another tenant, for every
//     foreign key between two tables that each have a tenant, closure tables
//     included through their path (an invoice item of tenant A's invoice
//     pointing at tenant B's meter). A key that pairs both tenant columns,
//     (tenant_id, property_id) → properties(tenant_id, id), makes such a
//     reference impossible by construction; it is covered by fk_orphan.
//
// Each Result carries the number of violating rows, up to SampleSize keys of
// them (primary key values, smallest first), the SQL it ran, its plan and
// its duration. A Report renders as a Go value, as JSON (stable field names,
// see Report.MarshalJSON) and as a table (Report.WriteTable).
//
// A check never trusts the catalog's word. A foreign key marked validated
// proves nothing: session_replication_role = replica on PostgreSQL,
// foreign_key_checks = 0 on MySQL and PRAGMA foreign_keys = OFF on SQLite all
// let rows past it, so every key is verified against the data. A NOT NULL
// column is probed too; with an index it costs one index probe.
//
// # Query plans
//
// Every check reads the violating rows and their total in one statement
// (COUNT(*) OVER () beside the sorted keys), so a clean table costs one pass
// and no second query. Where the shape of the data allows better, the plan is
// chosen from the indexes that exist:
//
//   - missing_tenant with a btree index led by the tenant column walks the
//     distinct tenant ids one index probe per tenant (a loose index scan,
//     "skip scan": a recursive CTE stepping to the first tenant_id > previous on
//     PostgreSQL and SQLite, SELECT DISTINCT "using index for group-by" on
//     MySQL/MariaDB), anti-joins those few ids with the tenant table, and
//     reads rows only for ids that are missing: about 4 ms for a million
//     rows over 100 tenants on PostgreSQL. Without such an index (a hash,
//     partial or invalid index does not count) it is one sequential pass with
//     an anti-join, never one scan per tenant.
//   - null_tenant with such an index is an index probe (under 1 ms);
//     without it one sequential pass.
//   - fk_orphan and cross_tenant are one pass over the child with an
//     anti-join or join against the parent's key. On MySQL/MariaDB, whose
//     optimiser tends to drive such a join from the parent and fetch the
//     child row by row, cross_tenant first runs a hashed anti-join against
//     the parent's (key, tenant) pairs and runs the exact join, forced to
//     start from the child, only when that filter finds rows.
//
// # Reading consistently, and row-level security
//
// Given a *sql.DB, Check reads from one snapshot on one connection (a
// read-only REPEATABLE READ transaction on PostgreSQL, a consistent-snapshot
// transaction on MySQL/MariaDB, a read transaction on SQLite). On PostgreSQL
// it sets row_security = off in that transaction: a role subject to a
// row-level security policy would otherwise see a filtered table and report
// it clean; with row_security off it gets an error instead. Run checks and
// migrates as a role that bypasses row-level security (a superuser or
// BYPASSRLS), or pass a *sql.Tx in which your policy's explicit
// cross-tenant mode is set (the demo's `check` does that).
//
// # Run
//
// Run(ctx, db, step, opts) runs the checks, the step, and the checks again.
//
// On PostgreSQL and SQLite all three run in one transaction on one
// connection: BEGIN with lock_timeout and statement_timeout SET LOCAL
// (Options.LockTimeout, default 5s; Options.StatementTimeout), or BEGIN
// IMMEDIATE with busy_timeout on SQLite. DDL is transactional there, so when
// the step fails or its post-checks find a new violation everything is
// rolled back, schema included, and the report says "rolled_back".
//
// MySQL and MariaDB commit implicitly before and after DDL and a few other
// statements (ImplicitCommit lists them). Run records every statement the
// step runs through its *Tx, marks what each implicit commit made permanent,
// restarts a transaction after it so that later DML can still be rolled
// back, and on failure reports "partially_applied" with the statements that
// remain (Report.Applied) in a *PartialError. It says "rolled_back" only
// when nothing had committed.
//
// Violations that were there before the step are not blamed on it: the
// post-check results are compared with the pre-check results by check
// identity (kind, table, constraint). A violation is new when its check was
// clean before, its row count grew, or (when both passes saw at most 1,000
// violating rows, so the comparison is exact) a key appears that was not
// violating before, which catches a step that repairs one row and breaks
// another. Beyond 1,000 rows only the count is compared. New violations fail
// the run; pre-existing ones are reported with status "pre_existing" and
// pass, unless Options.Strict refuses to run the step at all.
//
// Errors carry the report: *ViolationError (errors.Is ErrViolation),
// *StepError when the step itself failed (a lock wait beyond LockTimeout
// matches ErrLockTimeout, a statement beyond StatementTimeout
// ErrStatementTimeout; neither is ever a violation, and a check query
// that times out matches them too), *PartialError on MySQL/MariaDB. A step must not BEGIN, COMMIT or ROLLBACK itself
// (ErrTransactionControl): the transaction is Run's.
//
// Check and Run hold no state between calls and are safe for concurrent use;
// a Report is a plain value owned by the caller.
//
// # Practice
//
// Check before and after, in CI and before every deploy. `demo check` prints
// the report of the demo database and exits 1 on a violation; --json is for
// machines. Fix pre-existing violations with their own data migration
// before changing the schema, and turn on Strict once the database is clean.
//
// Always set a lock timeout. A migration waiting for a lock holds its own
// place in the lock queue, and every query behind it waits too: a 5 second
// lock_timeout turns an outage into a failed migration you can retry.
//
// Keep steps small and single-purpose, and write the down step with the up
// step: a down step that drops only what its up step created (by name), and
// an up step that creates only what is missing, can both run twice. The
// demo's example migration (examples/demo/migrations) decides from the
// catalog inside its own transaction: an index already led by the same
// columns is not created again.
//
// Make cross-tenant references impossible rather than detected: give child
// tables the tenant column and reference (tenant_id, id) of the parent with a
// composite foreign key. The cross_tenant check is the net for schemas that
// do not (yet).
//
// Change columns in expand/contract steps: add the new column nullable,
// backfill it tenant by tenant in batches, then add NOT NULL or the foreign
// key. On PostgreSQL add a foreign key NOT VALID and VALIDATE CONSTRAINT in a
// later step: validation then takes a lock that lets writes through.
//
// Large indexes: CREATE INDEX inside a transaction blocks writes to the table
// for the whole build. On big PostgreSQL tables use CREATE INDEX
// CONCURRENTLY in a migration that runs outside a transaction (goose: --
// +goose NO TRANSACTION) and run Check after it; on MySQL/MariaDB use
// ALGORITHM=INPLACE, LOCK=NONE.
//
// On MySQL/MariaDB keep DDL and data changes in separate steps and make the
// DDL idempotent. When a run reports "partially_applied", the listed
// statements are in the database: fix the data the report names, then re-run
// the step (it must tolerate its own DDL having run) or write a step that
// completes it. Never assume a MySQL migration rolled back.
package migrate
