// Package backup takes per-tenant backups of a multi-tenant SQL database
// and restores them atomically: the "backup and restore procedures" guide
// of tenantkit.
//
// # What a backup holds
//
// A backup is one tenant's rows: the tenant's own row of the tenant table
// (organizations by default), every tenant-owned table (those with the
// tenant column, tenant_id by default: WHERE tenant_id = the tenant, bound
// as a parameter of the column's type) and every closure table, which has
// no tenant column but belongs to a tenant through foreign keys
// (invoice_items through invoices: joined along the path up to a
// tenant-owned table). Shared (global) tables such as tariffs are not in
// it; rows that reference them are checked against the database on
// restore. The tables are discovered from the schema (internal/catalog),
// never listed by hand, so a table added by a migration is backed up
// without anyone remembering to.
//
// # The file
//
// A file is self-describing and versioned (FormatVersion). Its first line
// is the manifest: format and version, tenant, dialect, the schema
// fingerprint of the tables, the tables in restore order (parents before
// children, from the foreign-key graph) with their columns, declared
// types and value kinds. Then, per table, a begin record, one line per
// row, and an end record with the row count and SHA-256 of the row lines;
// the counts and checksums trail their rows because they are known only
// once a table has streamed. A footer closes the file: a file without it
// was truncated. Two codecs:
//
//   - JSON Lines (JSONL, the default): each row is a JSON array. It is
//     type-faithful: integers and decimals are strings (no float
//     rounding: 9007199254740993 stays itself), NULL is null and distinct
//     from "", timestamps carry their offset ("2024-03-09T21:00:00+00:00")
//     and naive ones none, bytes are base64, JSON columns are embedded
//     raw ({"a":9007199254740993}).
//   - SQL: one INSERT per row that psql, mysql/mariadb and sqlite3 load as
//     they are into a database that has the schema (the manifest and
//     control records are comments; the file runs in one transaction). A
//     restore never hands the file to the database: it parses its own
//     restricted grammar (INSERT and UPDATE with literals only) and binds
//     every value.
//
// Files are gzip-compressed by default (Options.NoCompress for plain
// text). Readers detect compression from the first bytes, never from the
// file name; a zlib stream (what the original tool wrote under a .gz
// name) is refused with ErrZlib, bzip2/xz/zstd with
// ErrUnsupportedCompression.
//
// Foreign keys on a cycle (departments.manager_id ⇄
// employees.department_id) are broken at a nullable column: rows carry
// NULL there, and the values follow in a fixups section, applied by
// UPDATE once every row is in. Neither export nor restore disables
// triggers or foreign-key checks. A nullable self-reference is handled
// the same way. A cycle with no nullable column is refused (ErrCycle).
//
// # Export
//
// Export reads from one consistent snapshot (REPEATABLE READ READ ONLY on
// PostgreSQL, START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY on
// MySQL/MariaDB, one read transaction on SQLite), one row at a time:
// memory stays flat however large the tenant. Each value is selected as
// its exact text (on PostgreSQL value::text) and written by the codec.
//
//	f, _ := os.Create("tenant_1_acme.jsonl.gz")
//	m, err := backup.Export(ctx, db, "1", f, nil) // JSONL, gzip
//	if err == nil { err = f.Close() }
//
// # Validate
//
// Validate reads a whole file and checks it against a database without
// writing anything: format version; every table's count and SHA-256, the
// footer and the gzip CRC (a truncated or altered file fails); that the
// file is the named tenant's; that every row belongs to the tenant (its
// tenant column, its closure path to a parent in the file); that no two
// rows share a key; that every foreign key's target is in the file or,
// for a shared table, in the database; that the database's schema has the
// file's fingerprint. Each problem is a *ValidationError naming the table,
// the row (1-based within the table) and the reason; the error wraps a
// sentinel (ErrTenant, ErrCorrupt, ErrDuplicateKey, ErrMissingParent,
// ErrSchema, ...) for errors.Is. Key checks keep 8 bytes per row of each
// keyed table (a seeded 64-bit hash), nothing else.
//
// # Restore
//
// Restore takes an io.ReadSeeker (an *os.File) because it reads the file
// twice: the first pass is Validate, and nothing is written unless it is
// clean; the second pass writes, in one transaction: the tenant's rows
// deleted children first, the file's rows inserted parents first in
// multi-row batches (PostgreSQL: INSERT ... SELECT FROM unnest of one
// array per column), the cycle fixups, the tenant checks (no orphan, no
// reference into another tenant) and, only if all is clean, the commit. A
// process killed at any point leaves the tenant's data exactly as it was
// or exactly as in the backup (tested with SIGKILL). The second pass
// re-verifies every checksum, so a file changed in between is rolled back
// (ErrChanged). To restore from a pipe, copy it to a temporary file first.
//
//	f, _ := os.Open("tenant_1_acme.jsonl.gz")
//	rep, err := backup.Restore(ctx, db, "1", f, &backup.RestoreOptions{DryRun: true})
//	// rep.Tables: per-table Deleted / Inserted counts; nothing changed.
//
// The tenant's row of the tenant table is updated in place (deleting it
// would cascade to tables outside the backup) or inserted when missing.
// Sequences and identity counters are raised to cover the restored keys
// and never lowered: setval on PostgreSQL (just before the commit;
// setval is not transactional, so a commit that then fails leaves a
// sequence raised, which is harmless); sqlite_sequence on SQLite inside
// the transaction; on MySQL/MariaDB InnoDB raises AUTO_INCREMENT itself on
// explicit inserts, and Restore checks after the commit, running ALTER
// TABLE ... AUTO_INCREMENT (DDL, which commits implicitly, hence after)
// only for a table still behind.
//
// DryRun performs the whole restore, checks included, and always rolls
// back, reporting per-table counts. Only what no transaction covers
// remains: on MySQL/MariaDB InnoDB raises an AUTO_INCREMENT counter past
// the keys a dry run inserted, and keeps it raised (harmless, like a
// rolled-back insert; counters are never lowered). AsTenant restores the file into
// another tenant, rewriting every tenant reference (the tenant column and
// every foreign key to the tenant table's key); without it a file only
// restores into its own tenant. Keys are kept, so cloning into the
// database that still holds the source rows collides on primary keys and
// is rolled back; clone into another database.
//
// # Procedures
//
//   - Take backups with the consistent snapshot Export uses; keep the
//     file name informative (tenant_<id>_<slug>_<UTC time>.jsonl.gz) but
//     never rely on it: the manifest says what the file is.
//   - Verify a backup when it is written and before it is needed:
//     Validate against the production schema (a dry run, Restore with
//     DryRun, also exercises the writes).
//   - Restore into the same schema version the backup was taken at: a
//     migration that changed a tenant table changes the fingerprint, and
//     the file is refused (ErrSchema). Restore the file into a database
//     at the old version, migrate it, and export again.
//   - Cross-dialect restores are refused: a file restores into the
//     dialect it was taken from.
//
// # Security
//
// The tenant id is never concatenated into SQL: it is bound, as an int64
// when the tenant column is an integer (an id that is not an integer is
// refused with ErrInvalidTenant, so no database compares "1) OR (1=1"
// loosely with a number). Identifiers come from the database's catalog and
// are quoted. A backup file is outside input: every line is parsed by a
// bounded parser (RestoreOptions.MaxLineBytes), every value checked
// against its column's kind, and bound as a parameter. The packages never
// import a database driver; they speak database/sql and detect the
// dialect.
//
// # Limits
//
// SQLite stores what it is given: a value whose storage class differs
// from its column's affinity may come back with the affinity's class, and
// SQLite's NUMERIC affinity itself rounds decimals past 15 digits (store
// exact decimals in TEXT columns there). MySQL has no NaN. A table in a
// cycle needs a primary key (fixups update by key).
package backup
