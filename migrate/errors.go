package migrate

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/tenantkit/tenantkit/internal/sqldialect"
)

// Sentinels matched with errors.Is through the typed errors below.
var (
	// ErrViolation matches a *ViolationError.
	ErrViolation = errors.New("migrate: tenant integrity violation")
	// ErrLockTimeout matches an error caused by waiting too long for a lock
	// (PostgreSQL lock_timeout, MySQL/MariaDB lock wait timeout, SQLite
	// busy). It is a failure to run, never a data violation.
	ErrLockTimeout = errors.New("migrate: lock timeout")
	// ErrStatementTimeout matches an error caused by a statement running
	// longer than Options.StatementTimeout.
	ErrStatementTimeout = errors.New("migrate: statement timeout")
)

// ViolationError reports violations that fail a run: new ones, or
// pre-existing ones under Options.Strict. Report lists them.
type ViolationError struct {
	Report *Report
}

func (e *ViolationError) Error() string {
	var b strings.Builder
	b.WriteString("migrate: tenant integrity violation")
	n := 0
	for _, r := range e.Report.Results {
		if r.Status == StatusNew || (e.Report.Outcome == OutcomeAborted && r.Count > 0) {
			if n == 0 {
				b.WriteString(":")
			}
			if n < 3 {
				fmt.Fprintf(&b, " %s (%d rows)", r.ID, r.Count)
			}
			n++
		}
	}
	if n > 3 {
		fmt.Fprintf(&b, " and %d more", n-3)
	}
	fmt.Fprintf(&b, "; %s", e.Report.Outcome)
	return b.String()
}

// Is reports whether target is ErrViolation.
func (e *ViolationError) Is(target error) bool { return target == ErrViolation }

// StepError reports that the step itself failed (a SQL error, a timeout);
// Err is the cause, matching ErrLockTimeout or ErrStatementTimeout when it
// was one. Report says what was rolled back.
type StepError struct {
	Report *Report
	Err    error
}

func (e *StepError) Error() string { return "migrate: step failed: " + e.Err.Error() }

// Unwrap returns the cause.
func (e *StepError) Unwrap() error { return e.Err }

// PartialError reports, on MySQL/MariaDB, a run that failed after some of
// the step had committed implicitly: those statements remain
// (Report.Applied) and the rest was rolled back. Err is the failure: a
// *ViolationError, a *StepError or a check error.
type PartialError struct {
	Report *Report
	Err    error
}

func (e *PartialError) Error() string {
	applied := e.Report.Applied()
	parts := make([]string, 0, len(applied))
	for _, s := range applied {
		parts = append(parts, oneLine(s.SQL))
	}
	return fmt.Sprintf("migrate: partially applied (%d statements remain: %s): %v", len(applied), strings.Join(parts, "; "), e.Err)
}

// Unwrap returns the failure.
func (e *PartialError) Unwrap() error { return e.Err }

// timeoutError wraps a driver error with the sentinel it matches.
type timeoutError struct {
	kind error
	err  error
}

func (e *timeoutError) Error() string        { return e.kind.Error() + ": " + e.err.Error() }
func (e *timeoutError) Unwrap() []error      { return []error{e.kind, e.err} }
func (e *timeoutError) Is(target error) bool { return target == e.kind }

// classify recognises lock and statement timeouts in driver errors without
// importing a driver: PostgreSQL SQLSTATE 55P03 / 57014 (pgconn.PgError's
// SQLState method), MySQL/MariaDB error numbers 1205 (lock wait), 3024 and
// 1969 (execution time) from the error's Number field, SQLite result code
// 5 / 6 (BUSY, LOCKED) from its Code method.
func classify(d sqldialect.Dialect, err error) error {
	if err == nil || errors.Is(err, ErrLockTimeout) || errors.Is(err, ErrStatementTimeout) {
		return err
	}
	var kind error
	var state interface{ SQLState() string }
	var coder interface{ Code() int }
	switch {
	case errors.As(err, &state):
		switch state.SQLState() {
		case "55P03":
			kind = ErrLockTimeout
		case "57014":
			if strings.Contains(err.Error(), "statement timeout") {
				kind = ErrStatementTimeout
			}
		}
	case d == sqldialect.SQLite && errors.As(err, &coder):
		if c := coder.Code() & 0xff; c == 5 || c == 6 {
			kind = ErrLockTimeout
		}
	case d == sqldialect.MySQL:
		switch mysqlNumber(err) {
		case 1205:
			kind = ErrLockTimeout
		case 3024, 1969:
			kind = ErrStatementTimeout
		}
	}
	if kind == nil {
		return err
	}
	return &timeoutError{kind: kind, err: err}
}

// mysqlNumber finds the Number field of a go-sql-driver/mysql *MySQLError
// in err's chain, or 0.
func mysqlNumber(err error) uint16 {
	for e := err; e != nil; e = errors.Unwrap(e) {
		v := reflect.ValueOf(e)
		if v.Kind() == reflect.Pointer {
			v = v.Elem()
		}
		if v.Kind() == reflect.Struct {
			if f := v.FieldByName("Number"); f.IsValid() && f.Kind() == reflect.Uint16 {
				return uint16(f.Uint())
			}
		}
	}
	return 0
}
