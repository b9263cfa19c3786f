package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tenantkit/tenantkit/internal/sqldialect"
)

// Step is one migration step. It runs its statements through tx, which
// records them; statements run another way (tx.Conn) are not recorded and,
// on MySQL/MariaDB, not classified.
type Step func(ctx context.Context, tx *Tx) error

// SQL returns a Step that runs the statements in order and stops at the
// first error.
func SQL(statements ...string) Step {
	return func(ctx context.Context, tx *Tx) error {
		for _, s := range statements {
			if _, err := tx.ExecContext(ctx, s); err != nil {
				return err
			}
		}
		return nil
	}
}

// Tx is a step's handle on the migration: one connection inside the
// migration's transaction (PostgreSQL, SQLite), or on MySQL/MariaDB one
// connection whose transaction Tx restarts after every statement that
// commits implicitly. Every statement is recorded with its fate in the
// report. A Tx is valid only during the step and not safe for concurrent
// use.
type Tx struct {
	conn  *sql.Conn
	d     sqldialect.Dialect
	log   *slog.Logger
	stmts []Statement
}

// ErrTransactionControl is returned by Tx for a statement that would begin,
// end or change the migration's transaction (BEGIN, COMMIT, ROLLBACK,
// SAVEPOINT, SET autocommit, ...). The statement is not run.
var ErrTransactionControl = errors.New("migrate: a step must not control the transaction")

// ErrNoStep is returned by Run when step is nil.
var ErrNoStep = errors.New("migrate: nil step")

// Dialect returns the database's dialect.
func (t *Tx) Dialect() sqldialect.Dialect { return t.d }

// Conn returns the underlying connection, for APIs that need one. What
// runs through it directly is not recorded.
func (t *Tx) Conn() *sql.Conn { return t.conn }

// Statements returns the statements recorded so far.
func (t *Tx) Statements() []Statement { return slices.Clone(t.stmts) }

// ExecContext runs a statement in the migration and records it. On
// MySQL/MariaDB a statement that commits implicitly first marks every
// earlier statement committed, and the transaction is restarted after it.
func (t *Tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if transactionControl(query) {
		return nil, fmt.Errorf("%w: %s", ErrTransactionControl, oneLine(query))
	}
	ic := t.d == sqldialect.MySQL && ImplicitCommit(query)
	if ic {
		t.settle(StateCommitted) // committed by the server before the statement runs
	}
	start := time.Now()
	res, err := t.conn.ExecContext(ctx, query, args...)
	st := Statement{SQL: query, Duration: time.Since(start), ImplicitCommit: ic, State: statePending}
	switch {
	case err != nil:
		st.State, st.Error = StateFailed, err.Error()
	case ic:
		st.State = StateCommitted
	}
	t.stmts = append(t.stmts, st)
	t.log.LogAttrs(ctx, slog.LevelDebug, "step statement", slog.String("sql", oneLine(query)),
		slog.Bool("implicit_commit", ic), slog.Duration("duration", st.Duration))
	if ic {
		if _, berr := t.conn.ExecContext(ctx, "START TRANSACTION"); berr != nil && err == nil {
			err = fmt.Errorf("migrate: restart transaction after implicit commit: %w", berr)
		}
	}
	return res, err
}

// QueryContext runs a query in the migration. Queries are not recorded
// unless they fail.
func (t *Tx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if transactionControl(query) {
		return nil, fmt.Errorf("%w: %s", ErrTransactionControl, oneLine(query))
	}
	rows, err := t.conn.QueryContext(ctx, query, args...)
	if err != nil {
		t.stmts = append(t.stmts, Statement{SQL: query, State: StateFailed, Error: err.Error()})
	}
	return rows, err
}

// QueryRowContext runs a query expected to return one row.
func (t *Tx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return t.conn.QueryRowContext(ctx, query, args...)
}

// settle gives every pending statement its final state.
func (t *Tx) settle(state string) {
	for i := range t.stmts {
		if t.stmts[i].State == statePending {
			t.stmts[i].State = state
		}
	}
}

func (t *Tx) committed() bool {
	for _, s := range t.stmts {
		if s.State == StateCommitted {
			return true
		}
	}
	return false
}

// Run runs step between two passes of the checks and commits only when the
// step introduced no violation.
//
// PostgreSQL and SQLite: pre-checks, step and post-checks run in one
// transaction on one connection (BEGIN on PostgreSQL with lock_timeout and
// statement_timeout SET LOCAL; BEGIN IMMEDIATE on SQLite with busy_timeout),
// so a failing step or a new violation rolls everything back, DDL included,
// and the outcome is OutcomeRolledBack.
//
// MySQL/MariaDB: DDL and a few other statements commit implicitly (see
// ImplicitCommit), so there is no transaction to roll back once one has
// run. Run records every statement, keeps the DML after the last implicit
// commit in a transaction it can still roll back, and reports
// OutcomePartiallyApplied with the statements that remain (Report.Applied)
// in a *PartialError, never "rolled back" unless nothing had committed.
//
// Violations present before the step are reported with StatusPreExisting
// and do not fail the run (unless Options.Strict); a violation is blamed on
// the step (StatusNew) when its check was clean before, its count grew, or
// its set of violating keys gained a key (keys are compared exactly when
// both passes found at most 1000 rows, else by count alone).
//
// Errors: *ViolationError for new violations (or pre-existing ones under
// Strict), *StepError when the step itself failed (a lock or statement
// timeout matches ErrLockTimeout / ErrStatementTimeout), *PartialError on
// MySQL/MariaDB when something had committed. Each carries the report,
// which is also returned. A check query that times out (a pre-check
// waiting on another session's lock, say) ends the run with OutcomeFailed
// and matches the same sentinels.
func Run(ctx context.Context, db *sql.DB, step Step, opts *Options) (*Report, error) {
	if step == nil {
		return nil, ErrNoStep
	}
	o := opts.withDefaults()
	start := time.Now()
	d, err := dialectOf(ctx, db, o.Dialect)
	if err != nil {
		return nil, err
	}
	o.Dialect = d
	rep := &Report{Dialect: d.String(), StartedAt: start.UTC()}
	defer func() { rep.Duration = time.Since(start) }()

	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: connection: %w", err)
	}
	defer conn.Close()
	restore, err := sessionTimeouts(ctx, conn, &o)
	if err != nil {
		return nil, err
	}
	defer restore()

	tx := &Tx{conn: conn, d: d, log: o.Logger}
	bg := context.WithoutCancel(ctx)
	rollback := func() {
		_, _ = conn.ExecContext(bg, "ROLLBACK")
		tx.settle(StateRolledBack)
		rep.Statements = tx.stmts
		if tx.committed() {
			rep.Outcome = OutcomePartiallyApplied
		} else {
			rep.Outcome = OutcomeRolledBack
		}
	}
	fail := func(err error) (*Report, error) {
		rollback()
		if rep.Outcome == OutcomePartiallyApplied {
			return rep, &PartialError{Report: rep, Err: err}
		}
		return rep, err
	}

	// A panicking step must not hand the pooled connection back inside an
	// open transaction.
	defer func() {
		if p := recover(); p != nil {
			_, _ = conn.ExecContext(bg, "ROLLBACK")
			panic(p)
		}
	}()
	if d != sqldialect.MySQL {
		if err := beginLocal(ctx, conn, d, &o); err != nil {
			_, _ = conn.ExecContext(bg, "ROLLBACK")
			rep.Outcome = OutcomeFailed
			var se *StepError
			if errors.As(err, &se) {
				se.Report = rep
			}
			return rep, err
		}
	}
	pre, schema, warnings, err := runChecks(ctx, conn, &o)
	rep.Schema, rep.Pre, rep.Results, rep.Warnings = schema, pre, pre, warnings
	if err != nil {
		rollback()
		rep.Outcome = OutcomeFailed
		return rep, classify(d, err) // a check waiting on another session's lock
	}
	if o.Strict && hasViolation(pre) {
		rollback()
		rep.Outcome = OutcomeAborted
		return rep, &ViolationError{Report: rep}
	}
	if d == sqldialect.MySQL {
		if _, err := conn.ExecContext(ctx, "START TRANSACTION"); err != nil {
			return nil, fmt.Errorf("migrate: start transaction: %w", err)
		}
	}

	if err := step(ctx, tx); err != nil {
		return fail(&StepError{Report: rep, Err: classify(d, err)})
	}

	post, _, _, err := runChecks(ctx, conn, &o)
	rep.Results = post
	if err != nil {
		r, e := fail(classify(d, err))
		if rep.Outcome != OutcomePartiallyApplied {
			rep.Outcome = OutcomeFailed
		}
		return r, e
	}
	markSince(post, pre)
	if len(rep.New()) > 0 {
		return fail(&ViolationError{Report: rep})
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return fail(fmt.Errorf("migrate: commit: %w", classify(d, err)))
	}
	tx.settle(StateCommitted)
	rep.Statements = tx.stmts
	rep.Outcome = OutcomeApplied
	o.Logger.LogAttrs(ctx, slog.LevelInfo, "migration step applied",
		slog.Int("statements", len(tx.stmts)), slog.Int("pre_existing", len(rep.Violations())))
	return rep, nil
}

func hasViolation(rs []Result) bool {
	for _, r := range rs {
		if r.Count > 0 {
			return true
		}
	}
	return false
}

// Since marks the violations of r as StatusNew or StatusPreExisting
// against an earlier report of the same database (see Run for the rule)
// and records baseline's results as r.Pre. The goose adapter uses it to
// compare each migration's post-checks with the state before it.
func (r *Report) Since(baseline *Report) {
	if baseline == nil {
		markSince(r.Results, nil)
		return
	}
	r.Pre = baseline.Results
	markSince(r.Results, baseline.Results)
}

func markSince(post, pre []Result) {
	before := make(map[string]*Result, len(pre))
	for i := range pre {
		before[pre[i].ID] = &pre[i]
	}
	for i := range post {
		r := &post[i]
		if r.Count == 0 || r.Status == StatusError {
			continue
		}
		r.Status = StatusNew
		p := before[r.ID]
		if p == nil || p.Count == 0 {
			r.NewSamples = r.Samples
			continue
		}
		exact := int64(len(p.all)) == p.Count && int64(len(r.all)) == r.Count
		if exact {
			seen := make(map[string]bool, len(p.all))
			for _, k := range p.all {
				seen[strings.Join(k, "\x00")] = true
			}
			gained := false
			for _, k := range r.all {
				if !seen[strings.Join(k, "\x00")] {
					gained = true
					if len(r.NewSamples) < len(r.Samples) {
						r.NewSamples = append(r.NewSamples, k)
					}
				}
			}
			if gained {
				continue
			}
		}
		// More rows, even with no new key: keys repeat in a table without
		// a primary key (they are then the checked columns).
		if r.Count > p.Count {
			continue
		}
		r.Status = StatusPreExisting
	}
}

// beginLocal starts the transaction on PostgreSQL or SQLite with its
// timeouts.
func beginLocal(ctx context.Context, conn *sql.Conn, d sqldialect.Dialect, o *Options) error {
	switch d {
	case sqldialect.Postgres:
		if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
			return fmt.Errorf("migrate: begin: %w", err)
		}
		lt := "0"
		if o.LockTimeout > 0 {
			lt = strconv.FormatInt(max(o.LockTimeout.Milliseconds(), 1), 10)
		}
		st := "0"
		if o.StatementTimeout > 0 {
			st = strconv.FormatInt(max(o.StatementTimeout.Milliseconds(), 1), 10)
		}
		// row_security = off: a role subject to row-level security gets an
		// error instead of checks that silently see only some rows.
		for _, s := range []string{"SET LOCAL lock_timeout = " + lt, "SET LOCAL statement_timeout = " + st, "SET LOCAL row_security = off"} {
			if _, err := conn.ExecContext(ctx, s); err != nil {
				return fmt.Errorf("migrate: %s: %w", s, err)
			}
		}
	case sqldialect.SQLite:
		// IMMEDIATE takes the write lock now (waiting up to busy_timeout),
		// so the pre-checks and the step see one state and no other writer
		// can slip in between.
		if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
			return &StepError{Err: classify(d, fmt.Errorf("migrate: begin immediate: %w", err))}
		}
	}
	return nil
}

// sessionTimeouts sets the session-level timeouts MySQL/MariaDB and SQLite
// need (PostgreSQL's are SET LOCAL in beginLocal) and returns a function
// restoring the previous values, so the pooled connection goes back as it
// came.
func sessionTimeouts(ctx context.Context, conn *sql.Conn, o *Options) (func(), error) {
	bg := context.WithoutCancel(ctx)
	switch o.Dialect {
	case sqldialect.SQLite:
		var prev int64
		if err := conn.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&prev); err != nil {
			return nil, fmt.Errorf("migrate: read busy_timeout: %w", err)
		}
		ms := int64(math.MaxInt32)
		if o.LockTimeout > 0 {
			ms = max(o.LockTimeout.Milliseconds(), 1)
		}
		if _, err := conn.ExecContext(ctx, "PRAGMA busy_timeout = "+strconv.FormatInt(ms, 10)); err != nil {
			return nil, fmt.Errorf("migrate: set busy_timeout: %w", err)
		}
		return func() { _, _ = conn.ExecContext(bg, "PRAGMA busy_timeout = "+strconv.FormatInt(prev, 10)) }, nil
	case sqldialect.MySQL:
		var version string
		if err := conn.QueryRowContext(ctx, "SELECT VERSION()").Scan(&version); err != nil {
			return nil, fmt.Errorf("migrate: version: %w", err)
		}
		vars := []string{"lock_wait_timeout", "innodb_lock_wait_timeout"}
		secs := int64(31536000) // MySQL's maximum: a year
		if o.LockTimeout > 0 {
			secs = max(int64(math.Ceil(o.LockTimeout.Seconds())), 1)
		}
		vals := []string{strconv.FormatInt(secs, 10), strconv.FormatInt(min(secs, 1073741824), 10)}
		if strings.Contains(strings.ToLower(version), "mariadb") {
			vars = append(vars, "max_statement_time")
			vals = append(vals, strconv.FormatFloat(o.StatementTimeout.Seconds(), 'f', 3, 64))
		} else {
			vars = append(vars, "max_execution_time")
			vals = append(vals, strconv.FormatInt(o.StatementTimeout.Milliseconds(), 10))
		}
		prev := make([]string, len(vars))
		for i, v := range vars {
			if err := conn.QueryRowContext(ctx, "SELECT @@SESSION."+v).Scan(&prev[i]); err != nil {
				return nil, fmt.Errorf("migrate: read %s: %w", v, err)
			}
		}
		set := func(ctx context.Context, vals []string) error {
			for i, v := range vars {
				if _, err := conn.ExecContext(ctx, "SET SESSION "+v+" = "+vals[i]); err != nil {
					return fmt.Errorf("migrate: set %s: %w", v, err)
				}
			}
			return nil
		}
		if err := set(ctx, vals); err != nil {
			return nil, err
		}
		return func() { _ = set(bg, prev) }, nil
	}
	return func() {}, nil
}
