package migrate_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	_ "modernc.org/sqlite"

	"github.com/tenantkit/tenantkit/migrate"
)

// exampleDB is an in-memory SQLite database with two tenants, their
// properties and meters, and one meter whose tenant does not exist.
func exampleDB(name string) *sql.DB {
	db, err := sql.Open("sqlite", "file:"+name+"?mode=memory&cache=shared&_pragma=foreign_keys(1)")
	if err != nil {
		panic(err)
	}
	db.SetMaxOpenConns(1)
	for _, s := range []string{
		`CREATE TABLE organizations (id TEXT PRIMARY KEY)`,
		`CREATE TABLE properties (id INTEGER PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES organizations(id))`,
		`CREATE TABLE meters (id INTEGER PRIMARY KEY, tenant_id TEXT NOT NULL,
			property_id INTEGER REFERENCES properties(id))`,
		`INSERT INTO organizations VALUES ('acme'), ('globex')`,
		`INSERT INTO properties VALUES (1, 'acme'), (2, 'globex')`,
		`INSERT INTO meters VALUES (10, 'acme', 1), (11, 'initech', NULL)`,
	} {
		if _, err := db.Exec(s); err != nil {
			panic(err)
		}
	}
	return db
}

func ExampleCheck() {
	db := exampleDB("example_check")
	defer db.Close()
	rep, err := migrate.Check(context.Background(), db, nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(rep.Outcome)
	for _, r := range rep.Violations() {
		fmt.Println(r.ID, r.Count, r.KeyColumns, r.Samples, r.TenantIDs)
	}
	// Output:
	// violations
	// missing_tenant:meters 1 [id] [[11]] [initech]
}

func ExampleRun() {
	db := exampleDB("example_run")
	defer db.Close()
	ctx := context.Background()

	// The step adds a column and a meter of acme's on globex's property.
	rep, err := migrate.Run(ctx, db, migrate.SQL(
		`ALTER TABLE meters ADD COLUMN serial TEXT`,
		`INSERT INTO meters (id, tenant_id, property_id) VALUES (12, 'acme', 2)`,
	), nil)
	fmt.Println(rep.Outcome, errors.Is(err, migrate.ErrViolation))
	for _, r := range rep.Violations() {
		fmt.Println(r.Status, r.ID, r.Samples)
	}
	var n int
	_ = db.QueryRow(`SELECT COUNT(*) FROM pragma_table_info('meters') WHERE name = 'serial'`).Scan(&n)
	fmt.Println("serial column after rollback:", n)

	// A step that breaks nothing is committed; the old violation is
	// reported, not blamed.
	rep, err = migrate.Run(ctx, db, migrate.SQL(`CREATE INDEX meters_tenant_idx ON meters (tenant_id)`), nil)
	fmt.Println(rep.Outcome, err)
	for _, r := range rep.Violations() {
		fmt.Println(r.Status, r.ID)
	}
	// Output:
	// rolled_back true
	// pre_existing missing_tenant:meters [[11]]
	// new cross_tenant:meters:meters_fk0 [[12]]
	// serial column after rollback: 0
	// applied <nil>
	// pre_existing missing_tenant:meters
}

func ExampleImplicitCommit() {
	for _, s := range []string{
		"INSERT INTO meters VALUES (1)",
		"ALTER TABLE meters ADD COLUMN serial TEXT",
		"CREATE TEMPORARY TABLE scratch (id INT)",
		"/* a comment */ TRUNCATE TABLE meters",
		"UPDATE meters SET serial = 'DROP TABLE x'",
	} {
		fmt.Println(migrate.ImplicitCommit(s), s)
	}
	// Output:
	// false INSERT INTO meters VALUES (1)
	// true ALTER TABLE meters ADD COLUMN serial TEXT
	// false CREATE TEMPORARY TABLE scratch (id INT)
	// true /* a comment */ TRUNCATE TABLE meters
	// false UPDATE meters SET serial = 'DROP TABLE x'
}

func ExampleSQL() {
	db := exampleDB("example_sql")
	defer db.Close()
	// A step may also be any func; it runs its statements through tx so
	// they are recorded.
	step := func(ctx context.Context, tx *migrate.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE meters SET tenant_id = 'globex' WHERE id = 11`); err != nil {
			return err
		}
		return migrate.SQL(`DELETE FROM meters WHERE property_id IS NULL AND id <> 11`)(ctx, tx)
	}
	rep, err := migrate.Run(context.Background(), db, step, nil)
	fmt.Println(rep.Outcome, err, rep.OK(), len(rep.Statements))
	// Output:
	// applied <nil> true 2
}
