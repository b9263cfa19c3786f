package migrate_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tenantkit/tenantkit/internal/sqldialect"
	"github.com/tenantkit/tenantkit/migrate"
)

// preExisting is one violation present before any step.
var preExisting = []string{`INSERT INTO audit_logs (id, tenant_id, action) VALUES (30, NULL, 'a')`}

func TestRunApplies(t *testing.T) {
	for name, open := range openers() {
		t.Run(name, func(t *testing.T) {
			db, _ := setup(t, open, cleanRows, preExisting)
			rep, err := migrate.Run(t.Context(), db, migrate.SQL(
				`CREATE INDEX meters_tenant_property_idx ON meters (tenant_id, property_id)`,
				`INSERT INTO meters (id, tenant_id, property_id) VALUES (16, 'acme', 1)`,
			), nil)
			require.NoError(t, err)
			require.Equal(t, migrate.OutcomeApplied, rep.Outcome)
			require.Len(t, rep.Statements, 2)
			for _, s := range rep.Statements {
				require.Equal(t, migrate.StateCommitted, s.State)
			}
			// The pre-existing NULL tenant is reported, not blamed.
			r := find(t, rep, migrate.NullTenant, "audit_logs", "")
			require.Equal(t, migrate.StatusPreExisting, r.Status)
			require.Empty(t, rep.New())
			require.Equal(t, 4, count(t, db, `SELECT COUNT(*) FROM meters`))
			require.NotEmpty(t, rep.Pre)
		})
	}
}

// A step that introduces a cross-tenant reference is rolled back, DDL and
// all, leaving schema and data exactly as before.
func TestRunRollsBackNewViolation(t *testing.T) {
	for _, name := range []string{"postgres", "sqlite"} {
		t.Run(name, func(t *testing.T) {
			db, d := setup(t, openers()[name], cleanRows, preExisting)
			before := state(t, db, d)
			rep, err := migrate.Run(t.Context(), db, migrate.SQL(
				`ALTER TABLE meters ADD COLUMN serial VARCHAR(20)`,
				`CREATE INDEX meters_tenant_property_idx ON meters (tenant_id, property_id)`,
				`INSERT INTO meters (id, tenant_id, property_id, serial) VALUES (13, 'acme', 2, 'x')`, // property 2 is globex's
			), nil)
			var ve *migrate.ViolationError
			require.ErrorAs(t, err, &ve)
			require.ErrorIs(t, err, migrate.ErrViolation)
			require.Same(t, rep, ve.Report)
			require.Equal(t, migrate.OutcomeRolledBack, rep.Outcome)
			require.Len(t, rep.New(), 1)
			n := rep.New()[0]
			require.Equal(t, migrate.CrossTenant, n.Check)
			require.Equal(t, [][]string{{"13"}}, n.Samples)
			require.Equal(t, [][]string{{"13"}}, n.NewSamples)
			require.Equal(t, migrate.StatusPreExisting, find(t, rep, migrate.NullTenant, "audit_logs", "").Status)
			for _, s := range rep.Statements {
				require.Equal(t, migrate.StateRolledBack, s.State)
			}
			require.Contains(t, err.Error(), "cross_tenant:meters")
			require.Equal(t, before, state(t, db, d), "schema and data unchanged")
		})
	}
}

// On MariaDB the ALTER TABLE commits implicitly: the report says partially
// applied and lists it; the INSERT after it is rolled back.
func TestRunPartialOnMySQL(t *testing.T) {
	db, d := setup(t, openers()["mysql"], cleanRows)
	rep, err := migrate.Run(t.Context(), db, migrate.SQL(
		`INSERT INTO audit_logs (id, tenant_id, action) VALUES (33, 'acme', 'before')`,
		`ALTER TABLE meters ADD COLUMN serial VARCHAR(20)`,
		`INSERT INTO meters (id, tenant_id, property_id, serial) VALUES (13, 'acme', 2, 'x')`,
	), nil)
	require.Equal(t, sqldialect.MySQL, d)
	var pe *migrate.PartialError
	require.ErrorAs(t, err, &pe)
	require.ErrorIs(t, err, migrate.ErrViolation)
	require.Equal(t, migrate.OutcomePartiallyApplied, rep.Outcome)
	require.NotEqual(t, migrate.OutcomeRolledBack, rep.Outcome)
	applied := rep.Applied()
	require.Len(t, applied, 2)
	require.Contains(t, applied[0].SQL, "'before'") // committed by the ALTER's implicit commit
	require.False(t, applied[0].ImplicitCommit)
	require.Contains(t, applied[1].SQL, "ALTER TABLE")
	require.True(t, applied[1].ImplicitCommit)
	require.Equal(t, migrate.StateRolledBack, rep.Statements[2].State)
	require.Contains(t, err.Error(), "partially applied")
	require.Contains(t, err.Error(), "ALTER TABLE meters")

	require.Equal(t, 0, count(t, db, `SELECT COUNT(*) FROM meters WHERE id = 13`), "the INSERT was rolled back")
	require.Equal(t, 1, count(t, db, `SELECT COUNT(*) FROM audit_logs WHERE id = 33`))
	require.Equal(t, 1, count(t, db, `SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'meters' AND COLUMN_NAME = 'serial'`))

	var buf bytes.Buffer
	require.NoError(t, rep.WriteTable(&buf))
	require.Contains(t, buf.String(), "PARTIALLY_APPLIED")
	require.Contains(t, buf.String(), "[committed] (implicit commit) ALTER TABLE meters")

	// A step that fails after its DDL: partially applied too, the cause
	// kept.
	rep, err = migrate.Run(t.Context(), db, migrate.SQL(
		`CREATE INDEX meters_serial_idx ON meters (serial)`,
		`INSERT INTO no_such_table VALUES (1)`,
	), nil)
	require.ErrorAs(t, err, &pe)
	var se *migrate.StepError
	require.ErrorAs(t, err, &se)
	require.NotErrorIs(t, err, migrate.ErrViolation)
	require.Equal(t, migrate.OutcomePartiallyApplied, rep.Outcome)
	require.Len(t, rep.Applied(), 1)
	require.Equal(t, migrate.StateFailed, rep.Statements[1].State)

	_, err = migrate.Run(t.Context(), db, nil, nil)
	require.ErrorIs(t, err, migrate.ErrNoStep)

	// Without DDL nothing commits early: a true rollback.
	rep, err = migrate.Run(t.Context(), db, migrate.SQL(
		`INSERT INTO meters (id, tenant_id, property_id) VALUES (17, 'acme', 2)`,
	), nil)
	require.ErrorIs(t, err, migrate.ErrViolation)
	require.Equal(t, migrate.OutcomeRolledBack, rep.Outcome)
	require.Equal(t, 0, count(t, db, `SELECT COUNT(*) FROM meters WHERE id = 17`))
}

func TestRunStepError(t *testing.T) {
	for name, open := range openers() {
		t.Run(name, func(t *testing.T) {
			db, d := setup(t, open, cleanRows)
			before := state(t, db, d)
			rep, err := migrate.Run(t.Context(), db, migrate.SQL(
				`INSERT INTO audit_logs (id, tenant_id, action) VALUES (34, 'acme', 'x')`,
				`INSERT INTO no_such_table VALUES (1)`,
			), nil)
			var se *migrate.StepError
			require.ErrorAs(t, err, &se)
			require.NotErrorIs(t, err, migrate.ErrViolation)
			require.Equal(t, migrate.OutcomeRolledBack, rep.Outcome)
			require.Equal(t, migrate.StateFailed, rep.Statements[1].State)
			require.Equal(t, before, state(t, db, d))

			// A step may not take over the transaction.
			_, err = migrate.Run(t.Context(), db, migrate.SQL(`COMMIT`), nil)
			require.ErrorIs(t, err, migrate.ErrTransactionControl)
		})
	}
}

// A step waiting on a lock another session holds fails with a lock
// timeout, not a violation.
func TestRunLockTimeout(t *testing.T) {
	hold := map[string][]string{
		"postgres": {`BEGIN`, `UPDATE meters SET property_id = property_id WHERE id = 10`},
		"mysql":    {`START TRANSACTION`, `UPDATE meters SET property_id = property_id WHERE id = 10`},
		"sqlite":   {`BEGIN IMMEDIATE`, `UPDATE meters SET property_id = property_id WHERE id = 10`},
	}
	for name, open := range openers() {
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
			defer other.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")

			start := time.Now()
			_, err = migrate.Run(ctx, db, migrate.SQL(`UPDATE meters SET property_id = 1 WHERE id = 10`),
				&migrate.Options{LockTimeout: 300 * time.Millisecond})
			require.Error(t, err)
			require.ErrorIs(t, err, migrate.ErrLockTimeout, "%v", err)
			require.NotErrorIs(t, err, migrate.ErrViolation)
			var se *migrate.StepError
			require.True(t, errors.As(err, &se))
			require.NotNil(t, se.Report)
			require.NotEqual(t, migrate.OutcomeApplied, se.Report.Outcome)
			require.Less(t, time.Since(start), 10*time.Second)
		})
	}
}

func TestRunStrict(t *testing.T) {
	db, _ := setup(t, openers()["sqlite"], cleanRows, preExisting)
	rep, err := migrate.Run(t.Context(), db, migrate.SQL(`INSERT INTO audit_logs (id, tenant_id) VALUES (35, 'acme')`),
		&migrate.Options{Strict: true})
	require.ErrorIs(t, err, migrate.ErrViolation)
	require.Equal(t, migrate.OutcomeAborted, rep.Outcome)
	require.Empty(t, rep.Statements)
	require.Equal(t, 0, count(t, db, `SELECT COUNT(*) FROM audit_logs WHERE id = 35`))
}

// A step that fixes one pre-existing violation and adds another of the same
// check keeps the count but changes the key set: it is blamed.
func TestRunBlamesSwappedViolation(t *testing.T) {
	db, _ := setup(t, openers()["sqlite"], cleanRows, preExisting)
	rep, err := migrate.Run(t.Context(), db, migrate.SQL(
		`DELETE FROM audit_logs WHERE id = 30`,
		`INSERT INTO audit_logs (id, tenant_id) VALUES (36, NULL)`,
	), nil)
	require.ErrorIs(t, err, migrate.ErrViolation)
	r := find(t, rep, migrate.NullTenant, "audit_logs", "")
	require.Equal(t, migrate.StatusNew, r.Status)
	require.Equal(t, [][]string{{"36"}}, r.Samples)
	require.Equal(t, [][]string{{"36"}}, r.NewSamples)
	require.Equal(t, 1, count(t, db, `SELECT COUNT(*) FROM audit_logs WHERE id = 30`))
}

// A new violation beside a pre-existing one of the same check: the report
// names the key the step added.
func TestRunNewBesidePreExisting(t *testing.T) {
	db, _ := setup(t, openers()["sqlite"], cleanRows, badRows)
	rep, err := migrate.Run(t.Context(), db, migrate.SQL(
		`INSERT INTO meters (id, tenant_id, property_id) VALUES (13, 'acme', 2)`,
	), nil)
	require.ErrorIs(t, err, migrate.ErrViolation)
	r := find(t, rep, migrate.CrossTenant, "meters", "properties")
	require.Equal(t, migrate.StatusNew, r.Status)
	require.EqualValues(t, 2, r.Count)
	require.Equal(t, [][]string{{"11"}, {"13"}}, r.Samples)
	require.Equal(t, [][]string{{"13"}}, r.NewSamples)
	require.Len(t, rep.New(), 1)
	var buf bytes.Buffer
	require.NoError(t, rep.WriteTable(&buf))
	require.Contains(t, buf.String(), "new since the step: id = 13")
}

func TestRunStatementTimeout(t *testing.T) {
	db, _ := setup(t, openers()["postgres"], cleanRows)
	_, err := migrate.Run(t.Context(), db, migrate.SQL(`SELECT pg_sleep(2)`),
		&migrate.Options{StatementTimeout: 100 * time.Millisecond})
	require.ErrorIs(t, err, migrate.ErrStatementTimeout)
	require.NotErrorIs(t, err, migrate.ErrLockTimeout)
	require.NotErrorIs(t, err, migrate.ErrViolation)
}

// Run sets session-level timeouts on MySQL/MariaDB and SQLite and gives the
// pooled connection back with the values it had.
func TestRunRestoresSession(t *testing.T) {
	for name, q := range map[string]string{
		"mysql":  `SELECT @@SESSION.lock_wait_timeout * 1000 + @@SESSION.innodb_lock_wait_timeout`,
		"sqlite": `PRAGMA busy_timeout`,
	} {
		t.Run(name, func(t *testing.T) {
			db, _ := setup(t, openers()[name], cleanRows)
			db.SetMaxOpenConns(1)
			var before, after int64
			require.NoError(t, db.QueryRowContext(t.Context(), q).Scan(&before))
			var during int64
			_, err := migrate.Run(t.Context(), db, func(ctx context.Context, tx *migrate.Tx) error {
				return tx.QueryRowContext(ctx, q).Scan(&during)
			}, &migrate.Options{LockTimeout: 2 * time.Second})
			require.NoError(t, err)
			require.NotEqual(t, before, during)
			require.NoError(t, db.QueryRowContext(t.Context(), q).Scan(&after))
			require.Equal(t, before, after)
		})
	}
}

// The JSON field names are API: scripts read them.
func TestReportJSONFields(t *testing.T) {
	db, _ := setup(t, openers()["sqlite"], cleanRows, preExisting)
	rep, err := migrate.Run(t.Context(), db, migrate.SQL(`INSERT INTO meters (id, tenant_id, property_id) VALUES (13, 'acme', 2)`), nil)
	require.Error(t, err)
	b, err := json.Marshal(rep)
	require.NoError(t, err)
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(b, &m))
	for _, k := range []string{"dialect", "schema", "outcome", "started_at", "duration_ns", "results", "pre", "statements", "ok", "violations"} {
		require.Contains(t, m, k)
	}
	var stmts []map[string]any
	require.NoError(t, json.Unmarshal(m["statements"], &stmts))
	require.Equal(t, "rolled_back", stmts[0]["state"])
	for _, k := range []string{"sql", "duration_ns", "implicit_commit", "state"} {
		require.Contains(t, stmts[0], k)
	}
	var results []map[string]any
	require.NoError(t, json.Unmarshal(m["results"], &results))
	var statuses []string
	for _, r := range results {
		statuses = append(statuses, r["status"].(string))
		if r["status"] == "new" {
			require.Equal(t, []any{[]any{"13"}}, r["new_samples"])
		}
	}
	require.Contains(t, statuses, "new")
	require.Contains(t, statuses, "pre_existing")
	require.Contains(t, statuses, "clean")

	// An empty report still encodes lists, never null.
	b, err = json.Marshal(&migrate.Report{})
	require.NoError(t, err)
	require.Contains(t, string(b), `"results":[]`)
}

// A panicking step rolls back and leaves the pooled connection usable.
func TestRunStepPanics(t *testing.T) {
	for name, open := range openers() {
		t.Run(name, func(t *testing.T) {
			db, _ := setup(t, open, cleanRows)
			db.SetMaxOpenConns(1)
			require.Panics(t, func() {
				_, _ = migrate.Run(t.Context(), db, func(ctx context.Context, tx *migrate.Tx) error {
					if _, err := tx.ExecContext(ctx, `INSERT INTO audit_logs (id, tenant_id) VALUES (90, 'acme')`); err != nil {
						return err
					}
					panic("boom")
				}, nil)
			})
			require.Equal(t, 0, count(t, db, `SELECT COUNT(*) FROM audit_logs WHERE id = 90`))
			// The same (only) connection is not stuck in a transaction.
			exec(t, db, `INSERT INTO audit_logs (id, tenant_id) VALUES (91, 'acme')`)
			rep, err := migrate.Check(t.Context(), db, nil)
			require.NoError(t, err)
			require.True(t, rep.OK())
		})
	}
}
