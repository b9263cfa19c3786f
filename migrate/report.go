package migrate

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"
)

// Outcome is the overall verdict of a report.
type Outcome string

// Outcomes. Check reports OutcomeClean or OutcomeViolations; Run reports
// one of the others.
const (
	OutcomeClean      Outcome = "clean"
	OutcomeViolations Outcome = "violations"
	// OutcomeApplied: the step ran, no new violation, committed.
	OutcomeApplied Outcome = "applied"
	// OutcomeRolledBack: nothing of the step remains (PostgreSQL and
	// SQLite always; MySQL/MariaDB only when no statement had committed
	// implicitly).
	OutcomeRolledBack Outcome = "rolled_back"
	// OutcomePartiallyApplied: MySQL/MariaDB only; statements that
	// committed implicitly remain, Report.Statements says which.
	OutcomePartiallyApplied Outcome = "partially_applied"
	// OutcomeAborted: Strict and the pre-checks found violations; the
	// step never ran.
	OutcomeAborted Outcome = "aborted"
	// OutcomeFailed: a check query failed (timeout, cancelled, broken
	// catalog); see the result with Status "error".
	OutcomeFailed Outcome = "failed"
)

// Statement is one statement a step ran, as recorded by Tx.
type Statement struct {
	SQL      string        `json:"sql"`
	Duration time.Duration `json:"duration_ns"`
	// ImplicitCommit is true when the statement commits on its own on
	// MySQL/MariaDB (see ImplicitCommit).
	ImplicitCommit bool `json:"implicit_commit"`
	// State is "committed", "rolled_back" or "failed".
	State string `json:"state"`
	Error string `json:"error,omitempty"`
}

// Statement states.
const (
	StateCommitted  = "committed"
	StateRolledBack = "rolled_back"
	StateFailed     = "failed"
	statePending    = "pending"
)

// Report is the outcome of Check or Run. It is a plain value; JSON field
// names are stable (see MarshalJSON).
type Report struct {
	Dialect   string        `json:"dialect"`
	Schema    string        `json:"schema"`
	Outcome   Outcome       `json:"outcome"`
	StartedAt time.Time     `json:"started_at"`
	Duration  time.Duration `json:"duration_ns"`
	// Results are the last pass of checks: for Check the only pass, for
	// Run the post-checks (or the pre-checks when the step never ran).
	Results []Result `json:"results"`
	// Pre are Run's pre-checks, the baseline the post-checks are compared
	// with.
	Pre []Result `json:"pre,omitempty"`
	// Statements are what the step ran, in order, with their fate.
	Statements []Statement `json:"statements,omitempty"`
	Warnings   []string    `json:"warnings,omitempty"`
}

// Violations returns the results that found rows (new or pre-existing).
func (r *Report) Violations() []Result {
	var out []Result
	for _, x := range r.Results {
		if x.Count > 0 {
			out = append(out, x)
		}
	}
	return out
}

// New returns the violations Run blamed on the step.
func (r *Report) New() []Result {
	var out []Result
	for _, x := range r.Results {
		if x.Status == StatusNew {
			out = append(out, x)
		}
	}
	return out
}

// OK reports whether every check ran and found nothing.
func (r *Report) OK() bool {
	for _, x := range r.Results {
		if x.Count > 0 || x.Status == StatusError {
			return false
		}
	}
	return true
}

// Applied returns the statements that remain in the database.
func (r *Report) Applied() []Statement {
	var out []Statement
	for _, s := range r.Statements {
		if s.State == StateCommitted {
			out = append(out, s)
		}
	}
	return out
}

// MarshalJSON encodes the report with its fields plus "ok" and
// "violations" (the number of violating results), and never null lists.
func (r *Report) MarshalJSON() ([]byte, error) {
	type plain Report
	p := plain(*r)
	if p.Results == nil {
		p.Results = []Result{}
	}
	return json.Marshal(struct {
		plain
		OK         bool `json:"ok"`
		Violations int  `json:"violations"`
	}{p, r.OK(), len(r.Violations())})
}

// WriteTable writes the report as a human-readable table: one line per
// check (status, check, table, constraint, count, plan, duration), then the
// sample keys of every violation and the statements of a step.
func (r *Report) WriteTable(w io.Writer) error {
	ew := &errWriter{w: w}
	fmt.Fprintf(ew, "tenant integrity: %s (%s", strings.ToUpper(string(r.Outcome)), r.Dialect)
	if r.Schema != "" {
		fmt.Fprintf(ew, ", schema %s", r.Schema)
	}
	fmt.Fprintf(ew, ", %d checks, %d violations, %s)\n", len(r.Results), len(r.Violations()), round(r.Duration))
	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tCHECK\tTABLE\tCONSTRAINT\tROWS\tTIME\tPLAN")
	for _, x := range r.Results {
		cons := x.Constraint
		if cons == "" {
			cons = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", x.Status, x.Check, x.Table, cons, x.Count, round(x.Duration), x.Plan)
	}
	tw.Flush()
	for _, x := range r.Results {
		if x.Count == 0 && x.Error == "" {
			continue
		}
		rows := "rows"
		if x.Count == 1 {
			rows = "row"
		}
		fmt.Fprintf(ew, "\n%s (%s): %d %s", x.ID, x.Status, x.Count, rows)
		if x.RefTable != "" {
			fmt.Fprintf(ew, "; %s(%s) -> %s(%s)", x.Table, strings.Join(x.Columns, ", "), x.RefTable, strings.Join(x.RefColumns, ", "))
		}
		fmt.Fprintln(ew)
		if x.Error != "" {
			fmt.Fprintf(ew, "  error: %s\n", x.Error)
		}
		if len(x.TenantIDs) > 0 {
			fmt.Fprintf(ew, "  unknown tenant ids: %s\n", printable(x.TenantIDs))
		}
		for _, s := range x.Samples {
			fmt.Fprintf(ew, "  %s = %s\n", strings.Join(x.KeyColumns, ", "), printable(s))
		}
		if int64(len(x.Samples)) < x.Count && len(x.Samples) > 0 {
			fmt.Fprintf(ew, "  ... and %d more\n", x.Count-int64(len(x.Samples)))
		}
		for _, s := range x.NewSamples {
			fmt.Fprintf(ew, "  new since the step: %s = %s\n", strings.Join(x.KeyColumns, ", "), printable(s))
		}
		fmt.Fprintf(ew, "  sql: %s\n", strings.ReplaceAll(x.SQL, "\n", "\n       "))
	}
	if len(r.Statements) > 0 {
		fmt.Fprintln(ew, "\nstatements:")
		for i, s := range r.Statements {
			flag := ""
			if s.ImplicitCommit {
				flag = " (implicit commit)"
			}
			fmt.Fprintf(ew, "  %d. [%s]%s %s\n", i+1, s.State, flag, oneLine(s.SQL))
			if s.Error != "" {
				fmt.Fprintf(ew, "     error: %s\n", s.Error)
			}
		}
	}
	for _, wmsg := range r.Warnings {
		fmt.Fprintf(ew, "warning: %s\n", wmsg)
	}
	return ew.err
}

// printable joins data values for the table, quoting any that holds a
// control character or invalid UTF-8: a key read from the database must
// not start a line of its own that reads like part of the report.
func printable(vals []string) string {
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = v
		if !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl) {
			out[i] = strconv.Quote(v)
		}
	}
	return strings.Join(out, ", ")
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 160 {
		i := 157
		for i > 0 && !utf8.RuneStart(s[i]) {
			i-- // never cut a character in two
		}
		s = s[:i] + "..."
	}
	return s
}

func round(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return strconv.FormatFloat(float64(d)/1e3, 'f', 0, 64) + "µs"
	case d < time.Second:
		return strconv.FormatFloat(float64(d)/1e6, 'f', 1, 64) + "ms"
	}
	return d.Round(time.Millisecond).String()
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}
