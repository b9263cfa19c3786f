package gooseadapter_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"testing/fstest"

	"github.com/pressly/goose/v3"
	"github.com/stretchr/testify/require"

	"github.com/tenantkit/tenantkit/internal/sqldialect"
	"github.com/tenantkit/tenantkit/internal/testenv"
	"github.com/tenantkit/tenantkit/migrate"
	"github.com/tenantkit/tenantkit/migrate/gooseadapter"
)

var existing = []string{
	`CREATE TABLE organizations (id VARCHAR(64) PRIMARY KEY)`,
	`CREATE TABLE properties (id BIGINT PRIMARY KEY, tenant_id VARCHAR(64) NOT NULL REFERENCES organizations(id))`,
	`CREATE TABLE meters (id BIGINT PRIMARY KEY, tenant_id VARCHAR(64) NOT NULL REFERENCES organizations(id),
		property_id BIGINT REFERENCES properties(id))`,
	`CREATE TABLE audit_logs (id BIGINT PRIMARY KEY, tenant_id VARCHAR(64))`,
	`INSERT INTO organizations (id) VALUES ('acme'), ('globex')`,
	`INSERT INTO properties (id, tenant_id) VALUES (1, 'acme'), (2, 'globex')`,
	`INSERT INTO meters (id, tenant_id, property_id) VALUES (10, 'acme', 1)`,
	`INSERT INTO audit_logs (id, tenant_id) VALUES (30, NULL)`, // pre-existing violation
}

func migrations(d sqldialect.Dialect) fstest.MapFS {
	drop := "DROP INDEX meters_id_tenant_idx"
	if d == sqldialect.MySQL {
		drop += " ON meters"
	}
	return fstest.MapFS{
		"00001_index.sql": {Data: []byte(`-- +goose Up
CREATE INDEX meters_id_tenant_idx ON meters (id, tenant_id);
INSERT INTO meters (id, tenant_id, property_id) VALUES (11, 'acme', 1);
-- +goose Down
DELETE FROM meters WHERE id = 11;
` + drop + `;
`)},
		"00002_cross_tenant.sql": {Data: []byte(`-- +goose Up
ALTER TABLE meters ADD COLUMN serial VARCHAR(20);
INSERT INTO meters (id, tenant_id, property_id, serial) VALUES (12, 'acme', 2, 'x');
-- +goose Down
ALTER TABLE meters DROP COLUMN serial;
`)},
	}
}

func versions(t *testing.T, db *sql.DB) string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), `SELECT id, version_id, is_applied FROM goose_db_version ORDER BY id`)
	require.NoError(t, err)
	defer rows.Close()
	var out string
	for rows.Next() {
		var id, v int64
		var applied bool
		require.NoError(t, rows.Scan(&id, &v, &applied))
		out += fmt.Sprintf("%d:%d:%v ", id, v, applied)
	}
	require.NoError(t, rows.Err())
	return out
}

func hasColumn(t *testing.T, db *sql.DB, d sqldialect.Dialect) bool {
	t.Helper()
	q := map[sqldialect.Dialect]string{
		sqldialect.Postgres: `SELECT COUNT(*) FROM information_schema.columns WHERE table_name = 'meters' AND column_name = 'serial'`,
		sqldialect.MySQL:    `SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'meters' AND COLUMN_NAME = 'serial'`,
		sqldialect.SQLite:   `SELECT COUNT(*) FROM pragma_table_info('meters') WHERE name = 'serial'`,
	}[d]
	var n int
	require.NoError(t, db.QueryRowContext(t.Context(), q).Scan(&n))
	return n == 1
}

func TestFailingCheckLeavesVersionTable(t *testing.T) {
	for name, open := range map[string]func(t *testing.T) (*sql.DB, sqldialect.Dialect){
		"postgres": func(t *testing.T) (*sql.DB, sqldialect.Dialect) { return testenv.PostgresDB(t), sqldialect.Postgres },
		"mysql":    func(t *testing.T) (*sql.DB, sqldialect.Dialect) { return testenv.MySQLDB(t), sqldialect.MySQL },
		"sqlite":   func(t *testing.T) (*sql.DB, sqldialect.Dialect) { return testenv.SQLiteDB(t), sqldialect.SQLite },
	} {
		t.Run(name, func(t *testing.T) {
			db, d := open(t)
			ctx := t.Context()
			for _, s := range existing {
				_, err := db.ExecContext(ctx, s)
				require.NoError(t, err, s)
			}
			var seen []int64
			p, err := gooseadapter.NewProvider(db, migrations(d), &gooseadapter.Options{
				OnReport: func(v int64, dir string, rep *migrate.Report) { seen = append(seen, v) },
			}, goose.WithDisableGlobalRegistry(true), goose.WithVerbose(false))
			require.NoError(t, err)

			// Version 1 is clean; the pre-existing NULL tenant is not blamed.
			res, err := p.UpByOne(ctx)
			require.NoError(t, err)
			require.EqualValues(t, 1, res.Source.Version)
			reps := p.Reports()
			require.Len(t, reps, 1)
			require.Equal(t, migrate.OutcomeApplied, reps[0].Report.Outcome)
			require.Len(t, reps[0].Report.Violations(), 1)
			require.Equal(t, migrate.StatusPreExisting, reps[0].Report.Violations()[0].Status)
			before := versions(t, db)

			// Version 2 introduces a cross-tenant reference.
			_, upErr := p.Up(ctx)
			err = upErr
			require.Error(t, err)
			require.ErrorIs(t, err, migrate.ErrViolation)
			var gpe *goose.PartialError
			require.ErrorAs(t, err, &gpe)
			require.EqualValues(t, 2, gpe.Failed.Source.Version)
			var ve *migrate.ViolationError
			require.ErrorAs(t, err, &ve)
			require.Equal(t, migrate.CrossTenant, ve.Report.New()[0].Check)
			require.Equal(t, [][]string{{"12"}}, ve.Report.New()[0].Samples)

			require.Equal(t, before, versions(t, db), "version table unchanged")
			v, err := p.GetDBVersion(ctx)
			require.NoError(t, err)
			require.EqualValues(t, 1, v)
			var n int
			require.NoError(t, db.QueryRowContext(ctx, `SELECT COUNT(*) FROM meters WHERE id = 12`).Scan(&n))
			if d == sqldialect.MySQL {
				// After the ALTER's implicit commit the session is back in
				// autocommit: the INSERT stayed too. That is what "partially
				// applied" warns about.
				require.Equal(t, 1, n)
				var pe *migrate.PartialError
				require.ErrorAs(t, upErr, &pe)
				require.Equal(t, migrate.OutcomePartiallyApplied, pe.Report.Outcome)
				require.True(t, hasColumn(t, db, d), "the ALTER committed implicitly")
				require.Contains(t, pe.Error(), "00002_cross_tenant.sql")
			} else {
				require.Zero(t, n)
				require.Equal(t, migrate.OutcomeRolledBack, ve.Report.Outcome)
				require.False(t, hasColumn(t, db, d), "the ALTER was rolled back with the migration")
			}
			require.Equal(t, []int64{1, 2}, seen)

			// Down through the checks.
			_, err = p.Down(ctx)
			require.NoError(t, err)
			v, err = p.GetDBVersion(ctx)
			require.NoError(t, err)
			require.EqualValues(t, 0, v)
		})
	}
}

func TestGoMigration(t *testing.T) {
	db := testenv.SQLiteDB(t)
	ctx := t.Context()
	for _, s := range existing {
		_, err := db.ExecContext(ctx, s)
		require.NoError(t, err)
	}
	bad := goose.NewGoMigration(3,
		&goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO audit_logs (id, tenant_id) VALUES (31, NULL)`)
			return err
		}},
		&goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error { return nil }})
	p, err := gooseadapter.NewProvider(db, nil, nil, goose.WithGoMigrations(bad), goose.WithDisableGlobalRegistry(true))
	require.NoError(t, err)
	_, err = p.Up(ctx)
	var ve *migrate.ViolationError
	require.True(t, errors.As(err, &ve), "%v", err)
	require.Equal(t, migrate.NullTenant, ve.Report.New()[0].Check)
	require.EqualValues(t, 2, ve.Report.New()[0].Count)
	require.Equal(t, migrate.OutcomeRolledBack, ve.Report.Outcome)
	v, err := p.GetDBVersion(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 0, v)
	var n int
	require.NoError(t, db.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_logs WHERE id = 31`).Scan(&n))
	require.Zero(t, n)

	// Strict refuses to start on the pre-existing violation.
	p, err = gooseadapter.NewProvider(db, nil, &gooseadapter.Options{Check: &migrate.Options{Strict: true}},
		goose.WithGoMigrations(bad), goose.WithDisableGlobalRegistry(true))
	require.NoError(t, err)
	_, err = p.Up(ctx)
	require.ErrorIs(t, err, migrate.ErrViolation)
	require.ErrorAs(t, err, &ve)
	require.Equal(t, migrate.OutcomeAborted, ve.Report.Outcome)
}

func TestNewProviderNeedsDialect(t *testing.T) {
	db, err := sql.Open("sqlite", ":memory:")
	require.NoError(t, err)
	defer db.Close()
	_, err = gooseadapter.NewProvider(db, fstest.MapFS{}, &gooseadapter.Options{Dialect: sqldialect.Dialect(99)})
	require.Error(t, err)
}

func TestProviderMethods(t *testing.T) {
	db := testenv.SQLiteDB(t)
	ctx := t.Context()
	for _, s := range existing {
		_, err := db.ExecContext(ctx, s)
		require.NoError(t, err)
	}
	fsys := migrations(sqldialect.SQLite)
	fsys["00003_note.sql"] = &fstest.MapFile{Data: []byte("-- +goose Up\nCREATE TABLE notes (id INTEGER PRIMARY KEY);\n-- +goose Down\nDROP TABLE notes;\n")}
	p, err := gooseadapter.NewProvider(db, fsys, nil, goose.WithDisableGlobalRegistry(true))
	require.NoError(t, err)
	require.Len(t, p.ListSources(), 3)
	require.NotNil(t, p.Goose())
	pending, err := p.HasPending(ctx)
	require.NoError(t, err)
	require.True(t, pending)

	res, err := p.UpTo(ctx, 1)
	require.NoError(t, err)
	require.Len(t, res, 1)
	// Version 2 fails its checks: typed, reported, not recorded.
	_, err = p.ApplyVersion(ctx, 2, true)
	require.ErrorIs(t, err, migrate.ErrViolation)
	reps := p.Reports()
	require.Len(t, reps, 1)
	require.EqualValues(t, 2, reps[0].Version)
	require.Equal(t, "up", reps[0].Direction)
	require.Equal(t, migrate.OutcomeRolledBack, reps[0].Report.Outcome)

	st, err := p.Status(ctx)
	require.NoError(t, err)
	require.Len(t, st, 3)
	require.Equal(t, goose.StateApplied, st[0].State)
	require.Equal(t, goose.StatePending, st[1].State)

	res, err = p.DownTo(ctx, 0)
	require.NoError(t, err)
	require.Len(t, res, 1)
	v, err := p.GetDBVersion(ctx)
	require.NoError(t, err)
	require.Zero(t, v)
	require.NoError(t, p.Close())
}
