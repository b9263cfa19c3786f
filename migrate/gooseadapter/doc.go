// Package gooseadapter gives pressly/goose v3 migrations tenantkit's
// tenant-integrity checks. It lives apart from migrate so that importing
// migrate pulls in no goose.
//
// NewProvider builds a goose.Provider whose version store is wrapped: goose
// runs each migration and then writes its version row with the same
// transaction, and the wrapper runs migrate's checks on that transaction
// just before the write. So on PostgreSQL and SQLite, for a migration that
// runs in a transaction (goose's default), the migration, the checks and
// the version bump are one transaction: a violation the migration
// introduced fails the write, goose rolls the whole migration back, and the
// version table is unchanged. The error is a *goose.PartialError (earlier
// migrations of the same Up stay applied) whose Err is a
// *migrate.ViolationError carrying the report: errors.Is(err,
// migrate.ErrViolation) holds.
//
// Before the first migration of each call (Up, UpTo, Down, ...) the
// Provider checks the database once; that is the baseline, and each
// migration's post-checks are compared with the state after the previous
// one, so violations that were already there are reported as pre-existing
// and never fail a migration (unless Check.Strict, which refuses to start).
//
// Where the dialect cannot roll back (MySQL/MariaDB DDL commits implicitly;
// a migration marked -- +goose NO TRANSACTION anywhere) the migration has
// already taken effect when the checks run: the version row is still not
// written, and the error's Err is a *migrate.PartialError whose report says
// "partially applied". Fix the data, then either re-run the migration (if
// it is idempotent) or record the version by hand.
//
// On PostgreSQL the post-checks SET LOCAL row_security = off in goose's
// transaction, as migrate.Check does: migrate as a role that bypasses
// row-level security, or the checks fail loudly rather than check a
// filtered view.
//
// Lock and statement timeouts inside goose's transaction are goose's and
// the connection's: set them in the DSN (for pgx, options=-c lock_timeout=5s)
// or at the top of the migration (SET LOCAL lock_timeout = '5s'). Reports of
// every migration are available through Provider.Reports and
// Options.OnReport.
package gooseadapter
