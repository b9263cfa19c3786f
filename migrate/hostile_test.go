package migrate_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/sqldialect"
	"github.com/tenantkit/tenantkit/internal/testenv"
	"github.com/tenantkit/tenantkit/migrate"
)

// hostileSchema uses names that need quoting (spaces, quotes, reserved
// words, mixed case), a tenant table with a non-"id" key, a bigint tenant
// column, a table named t (the name the skip scan's CTE would take), a
// self-referencing key, a key to a unique non-primary column, a composite
// key with partial NULLs, a global table and a closure table two hops away.
func hostileSchema(d sqldialect.Dialect) (stmts []string, opts *migrate.Options) {
	q := d.Quote
	tc := q(`Tenant "Id"`)
	return []string{
			`CREATE TABLE ` + q("Tenant Orgs") + ` (` + q("Key") + ` BIGINT PRIMARY KEY)`,
			`CREATE TABLE ` + q("Currency") + ` (code CHAR(3) PRIMARY KEY)`,
			`CREATE TABLE ` + q("t") + ` (id BIGINT PRIMARY KEY, ` + tc + ` BIGINT NOT NULL, ` + q("Code") + ` VARCHAR(20) NOT NULL,
				CONSTRAINT t_code_uq UNIQUE (` + q("Code") + `), CONSTRAINT t_tid_uq UNIQUE (` + tc + `, id))`,
			`CREATE TABLE ` + q("pair") + ` (x BIGINT NOT NULL, y BIGINT NOT NULL, PRIMARY KEY (x, y))`,
			`CREATE TABLE ` + q("select") + ` (` + q("Id") + ` BIGINT PRIMARY KEY, ` + tc + ` BIGINT,
				parent BIGINT, ` + q("t code") + ` VARCHAR(20), a BIGINT, b BIGINT, cur CHAR(3),
				CONSTRAINT sel_parent_fk FOREIGN KEY (parent) REFERENCES ` + q("select") + ` (` + q("Id") + `),
				CONSTRAINT sel_code_fk FOREIGN KEY (` + q("t code") + `) REFERENCES ` + q("t") + ` (` + q("Code") + `),
				CONSTRAINT sel_pair_fk FOREIGN KEY (a, b) REFERENCES ` + q("pair") + ` (x, y),
				CONSTRAINT sel_cur_fk FOREIGN KEY (cur) REFERENCES ` + q("Currency") + ` (code))`,
			`CREATE TABLE ` + q("Line Items") + ` (id BIGINT PRIMARY KEY, sel BIGINT NOT NULL,
				CONSTRAINT li_sel_fk FOREIGN KEY (sel) REFERENCES ` + q("select") + ` (` + q("Id") + `))`,
			`CREATE TABLE ` + q(`Sub "Lines"`) + ` (id BIGINT PRIMARY KEY, line BIGINT NOT NULL, tref BIGINT,
				CONSTRAINT sl_line_fk FOREIGN KEY (line) REFERENCES ` + q("Line Items") + ` (id),
				CONSTRAINT sl_t_fk FOREIGN KEY (tref) REFERENCES ` + q("t") + ` (id))`,
		}, &migrate.Options{
			Catalog: &catalog.Options{TenantTable: "Tenant Orgs", TenantColumn: `Tenant "Id"`, TenantKey: "Key"},
		}
}

func hostileRows(d sqldialect.Dialect) (clean, bad []string) {
	q := d.Quote
	tc := q(`Tenant "Id"`)
	clean = []string{
		`INSERT INTO ` + q("Tenant Orgs") + ` VALUES (1), (2)`,
		`INSERT INTO ` + q("Currency") + ` VALUES ('EUR')`,
		`INSERT INTO ` + q("t") + ` (id, ` + tc + `, ` + q("Code") + `) VALUES (1, 1, 'a'), (2, 2, 'b')`,
		`INSERT INTO ` + q("pair") + ` VALUES (1, 1)`,
		`INSERT INTO ` + q("select") + ` VALUES (1, 1, NULL, 'a', 1, 1, 'EUR'), (2, 1, 1, NULL, 5, NULL, NULL), (3, 2, NULL, 'b', NULL, 9, NULL)`,
		`INSERT INTO ` + q("Line Items") + ` VALUES (1, 1), (2, 3)`,
		`INSERT INTO ` + q(`Sub "Lines"`) + ` VALUES (1, 1, 1), (2, 2, 2), (3, 2, NULL)`,
	}
	bad = []string{
		`INSERT INTO ` + q("t") + ` (id, ` + tc + `, ` + q("Code") + `) VALUES (3, 999, 'c')`,
		`INSERT INTO ` + q("select") + ` VALUES (10, NULL, NULL, NULL, NULL, NULL, NULL)`, // null tenant
		`INSERT INTO ` + q("select") + ` VALUES (11, 1, 12345, NULL, NULL, NULL, NULL)`,   // self orphan
		`INSERT INTO ` + q("select") + ` VALUES (12, 1, NULL, 'nope', NULL, NULL, NULL)`,  // unique key orphan
		`INSERT INTO ` + q("select") + ` VALUES (13, 1, NULL, NULL, 7, 7, 'XXX')`,         // composite and global orphan
		`INSERT INTO ` + q("select") + ` VALUES (14, 1, 3, NULL, 7, NULL, NULL)`,          // cross-tenant parent; partial NULL skipped
		`INSERT INTO ` + q(`Sub "Lines"`) + ` VALUES (4, 1, 2)`,                           // two hops: tenant 1 line, tenant 2 t row
	}
	return clean, bad
}

func TestCheckHostileNames(t *testing.T) {
	for name, open := range openers() {
		t.Run(name, func(t *testing.T) {
			db, d := open(t)
			stmts, opts := hostileSchema(d)
			exec(t, db, stmts...)
			clean, bad := hostileRows(d)
			bypass(t, db, d, clean...)

			rep, err := migrate.Check(t.Context(), db, opts)
			require.NoError(t, err)
			require.True(t, rep.OK(), "%+v", rep.Violations())

			bypass(t, db, d, bad...)
			rep, err = migrate.Check(t.Context(), db, opts)
			require.NoError(t, err)
			for _, w := range []struct {
				kind       migrate.Kind
				table, ref string
				count      int64
				samples    [][]string
			}{
				{migrate.MissingTenant, "t", "Tenant Orgs", 1, [][]string{{"3"}}},
				{migrate.NullTenant, "select", "", 1, [][]string{{"10"}}},
				{migrate.MissingTenant, "select", "Tenant Orgs", 0, [][]string{}},
				{migrate.Orphan, "select", "select", 1, [][]string{{"11"}}},
				{migrate.Orphan, "select", "t", 1, [][]string{{"12"}}},
				{migrate.Orphan, "select", "pair", 1, [][]string{{"13"}}},
				{migrate.Orphan, "select", "Currency", 1, [][]string{{"13"}}},
				{migrate.CrossTenant, "select", "select", 1, [][]string{{"14"}}},
				{migrate.CrossTenant, "select", "t", 0, [][]string{}},
				{migrate.CrossTenant, `Sub "Lines"`, "t", 1, [][]string{{"4"}}},
			} {
				r := find(t, rep, w.kind, w.table, w.ref)
				require.Equal(t, migrate.StatusViolation == r.Status || migrate.StatusClean == r.Status, true, "%s: %s", r.ID, r.Error)
				require.Equal(t, w.count, r.Count, r.ID)
				require.Equal(t, w.samples, r.Samples, r.ID)
			}
			require.Equal(t, []string{"999"}, find(t, rep, migrate.MissingTenant, "t", "").TenantIDs)
			require.True(t, strings.Contains(find(t, rep, migrate.MissingTenant, "t", "").Plan, "scan"))
		})
	}
}

// SET @@autocommit commits on MySQL like SET autocommit; a step may not run
// it in any spelling.
func TestRunRefusesAutocommitVariable(t *testing.T) {
	db, _ := openers()["sqlite"](t)
	for _, s := range []string{"SET @@autocommit = 1", "set @@SESSION.autocommit=0", "/*!40101 SET @@local.autocommit = 1 */"} {
		_, err := migrate.Run(t.Context(), db, migrate.SQL(s), nil)
		require.ErrorIs(t, err, migrate.ErrTransactionControl, s)
	}
}

// In a table without a primary key the sample keys are the checked
// columns, so a second NULL-tenant row has the same key ("NULL") as the
// first. The count grew: the step is blamed and rolled back.
func TestRunBlamesGrowthWithoutNewKey(t *testing.T) {
	for name, open := range openers() {
		if name == "mysql" {
			continue // the step's INSERT is plain DML: same logic, slower setup
		}
		t.Run(name, func(t *testing.T) {
			db, d := open(t)
			exec(t, db,
				`CREATE TABLE organizations (id BIGINT PRIMARY KEY)`,
				`CREATE TABLE events (tenant_id BIGINT, note VARCHAR(20))`,
				`INSERT INTO organizations VALUES (1)`,
				`INSERT INTO events VALUES (1, 'ok'), (NULL, 'old')`)
			before := state(t, db, d)
			rep, err := migrate.Run(t.Context(), db, migrate.SQL(`INSERT INTO events VALUES (NULL, 'new')`), nil)
			require.ErrorIs(t, err, migrate.ErrViolation)
			r := find(t, rep, migrate.NullTenant, "events", "")
			require.Equal(t, migrate.StatusNew, r.Status)
			require.EqualValues(t, 2, r.Count)
			require.Equal(t, migrate.OutcomeRolledBack, rep.Outcome)
			require.Equal(t, before, state(t, db, d))
		})
	}
}

// A tenant column of type text in one table and bigint in another (and in
// the tenant table) must not make PostgreSQL's checks fail with "operator
// does not exist": mixed types compare as text.
func TestCheckMixedTenantTypes(t *testing.T) {
	for name, open := range openers() {
		t.Run(name, func(t *testing.T) {
			db, _ := open(t)
			exec(t, db,
				`CREATE TABLE organizations (id BIGINT PRIMARY KEY)`,
				`CREATE TABLE things (id BIGINT PRIMARY KEY, tenant_id VARCHAR(20) NOT NULL)`,
				`CREATE INDEX things_tenant ON things (tenant_id)`,
				`CREATE TABLE uses (id BIGINT PRIMARY KEY, tenant_id BIGINT NOT NULL, thing BIGINT REFERENCES things(id))`,
				`INSERT INTO organizations VALUES (1), (2)`,
				`INSERT INTO things VALUES (1, '1'), (2, '2'), (3, '7')`,
				`INSERT INTO uses VALUES (1, 1, 1), (2, 1, 2)`)
			rep, err := migrate.Check(t.Context(), db, nil)
			require.NoError(t, err)
			r := find(t, rep, migrate.MissingTenant, "things", "")
			require.EqualValues(t, 1, r.Count)
			require.Equal(t, [][]string{{"3"}}, r.Samples)
			require.Equal(t, []string{"7"}, r.TenantIDs)
			r = find(t, rep, migrate.CrossTenant, "uses", "things")
			require.EqualValues(t, 1, r.Count)
			require.Equal(t, [][]string{{"2"}}, r.Samples)
		})
	}
}

// A key to a shared table in another PostgreSQL schema or MySQL database is
// checked against that table, not against a same-named table of the
// checked schema, and is not taken for a tenant path.
func TestCheckKeyToOtherSchema(t *testing.T) {
	for _, name := range []string{"postgres", "mysql"} {
		t.Run(name, func(t *testing.T) {
			var db *sql.DB
			var other string
			if name == "postgres" {
				db = testenv.PostgresDB(t)
				other = "Ref Data"
				exec(t, db, `CREATE SCHEMA "Ref Data"`)
			} else {
				// Created first so it is dropped after the database that
				// references it.
				cfg, err := mysql.ParseDSN(testenv.MySQLDatabase(t))
				require.NoError(t, err)
				other = cfg.DBName
				db = testenv.MySQLDB(t)
			}
			d, err := sqldialect.Detect(t.Context(), db)
			require.NoError(t, err)
			q := d.Quote
			exec(t, db,
				`CREATE TABLE `+q(other)+`.currencies (code CHAR(3) PRIMARY KEY, tenant_id BIGINT)`,
				`INSERT INTO `+q(other)+`.currencies VALUES ('EUR', 1), ('USD', 2)`,
				`CREATE TABLE currencies (code CHAR(3) PRIMARY KEY, tenant_id BIGINT)`, // same name, empty, tenant-owned
				`CREATE TABLE organizations (id BIGINT PRIMARY KEY)`,
				`CREATE TABLE prices (id BIGINT PRIMARY KEY, tenant_id BIGINT NOT NULL, cur CHAR(3),
					CONSTRAINT prices_cur_fk FOREIGN KEY (cur) REFERENCES `+q(other)+`.currencies (code))`,
				`CREATE TABLE notes (id BIGINT PRIMARY KEY, cur CHAR(3) NOT NULL,
					CONSTRAINT notes_cur_fk FOREIGN KEY (cur) REFERENCES `+q(other)+`.currencies (code))`,
				`INSERT INTO organizations VALUES (1)`,
				`INSERT INTO prices VALUES (1, 1, 'EUR'), (2, 1, 'USD')`,
				`INSERT INTO notes VALUES (1, 'EUR')`)
			bypass(t, db, d, `INSERT INTO prices VALUES (3, 1, 'XXX')`)

			c, err := catalog.Load(t.Context(), db, d, nil)
			require.NoError(t, err)
			fk := c.Table("prices").ForeignKeys[0]
			require.Equal(t, other, fk.RefSchema)
			require.Equal(t, "currencies", fk.RefTable)
			require.Equal(t, catalog.Global, c.Table("notes").Kind, "a key to another schema is no tenant path")

			rep, err := migrate.Check(t.Context(), db, nil)
			require.NoError(t, err)
			r := find(t, rep, migrate.Orphan, "prices", "currencies")
			require.EqualValues(t, 1, r.Count, r.SQL)
			require.Equal(t, [][]string{{"3"}}, r.Samples)
			require.EqualValues(t, 0, find(t, rep, migrate.Orphan, "notes", "currencies").Count)
			for _, r := range rep.Results {
				require.NotEqual(t, migrate.CrossTenant, r.Check, r.ID)
			}
		})
	}
}

// PostgreSQL: a NOT VALID key's old orphans are found and not blamed; an
// orphan a step slips past a deferred key is caught before COMMIT and the
// whole step, DDL included, rolls back.
func TestRunDeferredAndNotValidKeys(t *testing.T) {
	db := testenv.PostgresDB(t)
	d := sqldialect.Postgres
	exec(t, db,
		`CREATE TABLE organizations (id BIGINT PRIMARY KEY)`,
		`CREATE TABLE parents (id BIGINT PRIMARY KEY, tenant_id BIGINT NOT NULL REFERENCES organizations(id))`,
		`CREATE TABLE kids (id BIGINT PRIMARY KEY, tenant_id BIGINT NOT NULL REFERENCES organizations(id), parent BIGINT, old BIGINT)`,
		`INSERT INTO organizations VALUES (1)`,
		`INSERT INTO parents VALUES (1, 1)`,
		`INSERT INTO kids VALUES (1, 1, 1, 1), (2, 1, 1, 77)`,
		`ALTER TABLE kids ADD CONSTRAINT kids_old_fk FOREIGN KEY (old) REFERENCES parents(id) NOT VALID`,
		`ALTER TABLE kids ADD CONSTRAINT kids_parent_fk FOREIGN KEY (parent) REFERENCES parents(id) DEFERRABLE INITIALLY DEFERRED`)
	c, err := catalog.Load(t.Context(), db, d, nil)
	require.NoError(t, err)
	for _, fk := range c.Table("kids").ForeignKeys {
		switch fk.Name {
		case "kids_old_fk":
			require.False(t, fk.Validated)
		case "kids_parent_fk":
			require.True(t, fk.Deferrable)
			require.True(t, fk.InitiallyDeferred)
		}
	}
	before := state(t, db, d)
	rep, err := migrate.Run(t.Context(), db, migrate.SQL(
		`ALTER TABLE kids ADD COLUMN note TEXT`,
		`INSERT INTO kids (id, tenant_id, parent) VALUES (3, 1, 555)`,
	), nil)
	require.ErrorIs(t, err, migrate.ErrViolation)
	require.Equal(t, migrate.OutcomeRolledBack, rep.Outcome)
	for _, r := range rep.Results {
		switch r.Constraint {
		case "kids_parent_fk":
			if r.Check == migrate.Orphan {
				require.Equal(t, migrate.StatusNew, r.Status)
				require.Equal(t, [][]string{{"3"}}, r.Samples)
			}
		case "kids_old_fk":
			if r.Check == migrate.Orphan {
				require.Equal(t, migrate.StatusPreExisting, r.Status)
				require.Equal(t, [][]string{{"2"}}, r.Samples)
			}
		}
	}
	require.Equal(t, before, state(t, db, d))

	// A step that removes the old orphan is applied; nothing is blamed.
	rep, err = migrate.Run(t.Context(), db, migrate.SQL(`UPDATE kids SET old = NULL WHERE id = 2`), nil)
	require.NoError(t, err)
	require.Equal(t, migrate.OutcomeApplied, rep.Outcome)
	require.True(t, rep.OK())
	for _, r := range rep.Pre {
		if r.ID == "fk_orphan:kids:kids_old_fk" {
			require.EqualValues(t, 1, r.Count)
		}
	}
}

// A pre-check that waits beyond LockTimeout on a lock another session
// holds (a concurrent migration's ALTER, LOCK TABLES) is a lock timeout
// too, never a violation, and nothing runs.
func TestRunPreCheckLockTimeout(t *testing.T) {
	hold := map[string][]string{
		"postgres": {`BEGIN`, `LOCK TABLE meters IN ACCESS EXCLUSIVE MODE`},
		"mysql":    {`LOCK TABLES meters WRITE`},
	}
	release := map[string]string{"postgres": "ROLLBACK", "mysql": "UNLOCK TABLES"}
	for name, open := range openers() {
		if hold[name] == nil {
			continue
		}
		t.Run(name, func(t *testing.T) {
			db, _ := setup(t, open, cleanRows)
			ctx := t.Context()
			other, err := db.Conn(ctx)
			require.NoError(t, err)
			defer other.Close()
			for _, s := range hold[name] {
				_, err := other.ExecContext(ctx, s)
				require.NoError(t, err, s)
			}
			defer other.ExecContext(context.WithoutCancel(ctx), release[name])
			ran := false
			rep, err := migrate.Run(ctx, db, func(context.Context, *migrate.Tx) error { ran = true; return nil },
				&migrate.Options{LockTimeout: time.Second})
			require.ErrorIs(t, err, migrate.ErrLockTimeout, "%v", err)
			require.NotErrorIs(t, err, migrate.ErrViolation)
			require.False(t, ran)
			require.Equal(t, migrate.OutcomeFailed, rep.Outcome)
		})
	}
}

// MariaDB/MySQL: CREATE TEMPORARY TABLE, SET and comments do not commit, so
// a violating INSERT beside them is still rolled back, and the report says
// so; an ALTER after it would have made it permanent.
func TestRunMySQLNonCommittingStatements(t *testing.T) {
	db, _ := setup(t, openers()["mysql"], cleanRows)
	rep, err := migrate.Run(t.Context(), db, migrate.SQL(
		`/* backfill */ INSERT INTO audit_logs (id, tenant_id, action) VALUES (90, NULL, 'x')`,
		`  CREATE TEMPORARY TABLE scratch (x INT)`,
		`SET @note = 'ALTER TABLE audit_logs; DROP TABLE x'`,
		"-- a comment\nINSERT INTO scratch VALUES (1)",
		`DROP TEMPORARY TABLE scratch`,
	), nil)
	require.ErrorIs(t, err, migrate.ErrViolation)
	require.Equal(t, migrate.OutcomeRolledBack, rep.Outcome)
	for _, s := range rep.Statements {
		require.False(t, s.ImplicitCommit, s.SQL)
		require.Equal(t, migrate.StateRolledBack, s.State, s.SQL)
	}
	require.Zero(t, count(t, db, `SELECT COUNT(*) FROM audit_logs WHERE id = 90`))
}

// A self-reference in a closure table (a reply to a comment, the comments
// reaching their tenant through posts) can cross tenants like any other
// key: a reply on tenant 1's post to a comment on tenant 2's post.
func TestCheckClosureSelfReference(t *testing.T) {
	for name, open := range openers() {
		t.Run(name, func(t *testing.T) {
			db, _ := open(t)
			exec(t, db,
				`CREATE TABLE organizations (id BIGINT PRIMARY KEY)`,
				`CREATE TABLE posts (id BIGINT PRIMARY KEY, tenant_id BIGINT NOT NULL REFERENCES organizations(id))`,
				`CREATE TABLE comments (id BIGINT PRIMARY KEY, post_id BIGINT NOT NULL, parent_id BIGINT,
					CONSTRAINT comments_post_fk FOREIGN KEY (post_id) REFERENCES posts(id),
					CONSTRAINT comments_parent_fk FOREIGN KEY (parent_id) REFERENCES comments(id))`,
				`INSERT INTO organizations VALUES (1), (2)`,
				`INSERT INTO posts VALUES (1, 1), (2, 2)`,
				`INSERT INTO comments VALUES (1, 1, NULL), (2, 2, NULL), (3, 1, 1), (4, 1, 2)`)
			rep, err := migrate.Check(t.Context(), db, nil)
			require.NoError(t, err)
			r := find(t, rep, migrate.CrossTenant, "comments", "comments")
			require.EqualValues(t, 1, r.Count)
			require.Equal(t, [][]string{{"4"}}, r.Samples)
		})
	}
}

// A huge SampleSize is capped at the 1000 rows a check reads; the count is
// still exact.
func TestCheckHugeSampleSize(t *testing.T) {
	db, _ := openers()["sqlite"](t)
	exec(t, db,
		`CREATE TABLE organizations (id BIGINT PRIMARY KEY)`,
		`CREATE TABLE events (id INTEGER PRIMARY KEY, tenant_id BIGINT)`,
		`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1500) INSERT INTO events SELECT i, NULL FROM n`)
	rep, err := migrate.Check(t.Context(), db, &migrate.Options{SampleSize: 1 << 40, Checks: []migrate.Kind{migrate.NullTenant}})
	require.NoError(t, err)
	r := find(t, rep, migrate.NullTenant, "events", "")
	require.EqualValues(t, 1500, r.Count)
	require.Len(t, r.Samples, 1000)
	require.Equal(t, []string{"1"}, r.Samples[0])
}

// A long statement shortened for the table is cut between characters.
func TestWriteTableCutsLongStatementsOnCharacters(t *testing.T) {
	for pad := range 4 {
		stmt := "INSERT INTO notes VALUES ('" + strings.Repeat("x", pad) + strings.Repeat("é", 100) + "')"
		rep := &migrate.Report{Outcome: migrate.OutcomeApplied, Statements: []migrate.Statement{{SQL: stmt, State: migrate.StateCommitted}}}
		var b strings.Builder
		require.NoError(t, rep.WriteTable(&b))
		require.True(t, utf8.ValidString(b.String()), b.String())
		require.Contains(t, b.String(), "...")
	}
}

// A tenant table whose key is not the configured TenantKey cannot be
// checked for missing tenants; the report says so instead of staying
// silent.
func TestCheckWarnsTenantKeyMissing(t *testing.T) {
	db, _ := openers()["sqlite"](t)
	exec(t, db,
		`CREATE TABLE organizations (org_id BIGINT PRIMARY KEY)`,
		`CREATE TABLE events (id INTEGER PRIMARY KEY, tenant_id BIGINT)`,
		`INSERT INTO events VALUES (1, 42)`)
	rep, err := migrate.Check(t.Context(), db, nil)
	require.NoError(t, err)
	require.Len(t, rep.Warnings, 1)
	require.Contains(t, rep.Warnings[0], `no key column "id"`)
	rep, err = migrate.Check(t.Context(), db, &migrate.Options{Catalog: &catalog.Options{TenantKey: "org_id"}})
	require.NoError(t, err)
	require.Empty(t, rep.Warnings)
	require.EqualValues(t, 1, find(t, rep, migrate.MissingTenant, "events", "").Count)
}

// PostgreSQL: a step that widens a key from integer to bigint changes the
// result type of the checks' queries; the post-checks must not run a
// statement the driver prepared before the step ("cached plan must not
// change result type").
func TestRunWidensKey(t *testing.T) {
	db := testenv.PostgresDB(t)
	exec(t, db,
		`CREATE TABLE organizations (id INTEGER PRIMARY KEY)`,
		`CREATE TABLE things (id INTEGER PRIMARY KEY, tenant_id INTEGER REFERENCES organizations(id))`,
		`INSERT INTO organizations VALUES (1)`,
		`INSERT INTO things VALUES (1, 1)`)
	_, err := migrate.Check(t.Context(), db, nil)
	require.NoError(t, err)
	rep, err := migrate.Run(t.Context(), db, migrate.SQL(
		`ALTER TABLE things ALTER COLUMN id TYPE BIGINT`,
		`ALTER TABLE things ALTER COLUMN tenant_id TYPE BIGINT`), nil)
	require.NoError(t, err)
	require.Equal(t, migrate.OutcomeApplied, rep.Outcome)
	for range 3 { // every pooled connection sees the new shape
		rep, err = migrate.Check(t.Context(), db, nil)
		require.NoError(t, err)
		require.True(t, rep.OK())
	}
}

// PostgreSQL: uuid and enum tenant columns (no min() aggregate, a
// mixed-case type name) with an index get the skip scan and its
// missing-tenant rows.
func TestCheckUUIDAndEnumTenants(t *testing.T) {
	db := testenv.PostgresDB(t)
	exec(t, db,
		`CREATE TYPE "TenantCode" AS ENUM ('a', 'b', 'c')`,
		`CREATE TABLE organizations (id "TenantCode" PRIMARY KEY)`,
		`CREATE TABLE things (id BIGINT PRIMARY KEY, tenant_id "TenantCode")`,
		`CREATE INDEX things_tenant ON things (tenant_id)`,
		`CREATE TABLE docs (id BIGINT PRIMARY KEY, tenant_id uuid)`,
		`CREATE INDEX docs_tenant ON docs (tenant_id)`,
		`INSERT INTO organizations VALUES ('a')`,
		`INSERT INTO things VALUES (1, 'a'), (2, 'c'), (3, NULL)`,
		`INSERT INTO docs VALUES (1, '00000000-0000-0000-0000-000000000001'), (2, NULL)`)
	rep, err := migrate.Check(t.Context(), db, nil)
	require.NoError(t, err)
	r := find(t, rep, migrate.MissingTenant, "things", "")
	require.Contains(t, r.Plan, "skip scan")
	require.EqualValues(t, 1, r.Count)
	require.Equal(t, [][]string{{"2"}}, r.Samples)
	require.Equal(t, []string{"c"}, r.TenantIDs)
	r = find(t, rep, migrate.MissingTenant, "docs", "")
	require.Contains(t, r.Plan, "skip scan")
	require.EqualValues(t, 1, r.Count)
	require.Equal(t, []string{"00000000-0000-0000-0000-000000000001"}, r.TenantIDs)
}

// Key values are data: one holding a newline is quoted in the table rather
// than starting a line that reads like part of the report.
func TestWriteTableQuotesControlCharacters(t *testing.T) {
	db, _ := openers()["sqlite"](t)
	exec(t, db,
		`CREATE TABLE organizations (id TEXT PRIMARY KEY)`,
		`CREATE TABLE notes (code TEXT PRIMARY KEY, tenant_id TEXT)`,
		"INSERT INTO notes VALUES ('x\ntenant integrity: CLEAN', NULL), ('plain', NULL)")
	rep, err := migrate.Check(t.Context(), db, nil)
	require.NoError(t, err)
	var b strings.Builder
	require.NoError(t, rep.WriteTable(&b))
	require.NotContains(t, b.String(), "\ntenant integrity: CLEAN")
	require.Contains(t, b.String(), `code = "x\ntenant integrity: CLEAN"`)
	require.Contains(t, b.String(), "code = plain\n")
}

// SQLite accepts a foreign key to a table that does not exist. Its checks
// are skipped with a warning; every other check still runs.
func TestCheckKeyToMissingTable(t *testing.T) {
	db, _ := openers()["sqlite"](t)
	exec(t, db,
		`CREATE TABLE organizations (id TEXT PRIMARY KEY)`,
		`CREATE TABLE a (id INTEGER PRIMARY KEY, tenant_id TEXT, gone_id INTEGER REFERENCES gone(id))`,
		`CREATE TABLE b (id INTEGER PRIMARY KEY, tenant_id TEXT)`,
		`INSERT INTO b VALUES (1, 'nope')`)
	rep, err := migrate.Check(t.Context(), db, nil)
	require.NoError(t, err)
	require.Len(t, rep.Warnings, 1)
	require.Contains(t, rep.Warnings[0], `references "gone", which does not exist`)
	require.EqualValues(t, 1, find(t, rep, migrate.MissingTenant, "b", "").Count)
}
