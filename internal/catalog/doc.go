// Package catalog reads the schema of a PostgreSQL, MySQL/MariaDB or SQLite
// database into a plain Go value: tables, columns, primary keys, foreign keys
// (composite, deferrable, validated), indexes and identity sequences, and
// classifies every table by how its rows belong to a tenant.
//
// It is the one schema catalog of tenantkit: the integrity checks of migrate
// and the exports of backup both build on it. It speaks database/sql and
// imports no driver.
//
// # Classification
//
// The table named Options.TenantTable is the TenantRoot. A table with the
// tenant column (Options.TenantColumn) is TenantOwned. A table without it
// that reaches a tenant-owned table through foreign keys is a Closure table
// (invoice_items through invoices) and carries that chain in TenantPath,
// preferring chains through NOT NULL columns, then the shortest. Anything
// else is Global. A foreign key straight to the tenant table does not make a
// table a closure table: such a table is Global unless it has the tenant
// column.
//
// # Trust
//
// The catalog reports what the server claims. ForeignKey.Validated in
// particular is a claim (PostgreSQL convalidated), and triggers can be
// bypassed with session_replication_role = replica, foreign_key_checks = 0
// or PRAGMA foreign_keys = OFF; a check built on the catalog must verify the
// data, never the flag.
//
// # Dialect notes
//
// PostgreSQL: one schema (current_schema() by default); partitions are
// folded into their parent; expression index parts appear as their text.
// A foreign key to a table in another schema (database on MySQL/MariaDB)
// names it in RefSchema; that parent is not in the catalog.
// MySQL/MariaDB: one database (DATABASE() by default); no deferrable keys;
// MariaDB's textual NULL default is reported as no default on a nullable
// column. SQLite: the main database; constraint names are not exposed, so
// foreign keys are named "<table>_fk<n>"; deferrability is not reported; a
// single INTEGER PRIMARY KEY of a rowid table is an identity column and
// appears as an index named "rowid".
//
// A Catalog is an immutable snapshot, safe for concurrent reads; Load again
// after a migration.
package catalog
