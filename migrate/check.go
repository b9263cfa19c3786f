package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/sqldialect"
)

// Kind names a kind of tenant-integrity check.
type Kind string

// The checks. Each runs per table (NullTenant, MissingTenant) or per
// foreign key (Orphan, CrossTenant).
const (
	// NullTenant finds rows of a tenant-owned table whose tenant column is
	// NULL. It runs even when the catalog says the column is NOT NULL.
	NullTenant Kind = "null_tenant"
	// MissingTenant finds rows whose tenant id is not a key of the tenant
	// table.
	MissingTenant Kind = "missing_tenant"
	// Orphan finds rows whose foreign key points at no parent row, with
	// MATCH SIMPLE semantics: a row with any NULL key column is skipped. It
	// runs for every foreign key, validated or not, except the key from the
	// tenant column to the tenant table (MissingTenant covers it).
	Orphan Kind = "fk_orphan"
	// CrossTenant finds rows whose parent row belongs to another tenant,
	// for foreign keys between two tables that each have a tenant (tenant
	// owned, or closure tables through their TenantPath). A key that pairs
	// the tenant columns of both sides already implies the same tenant; it
	// is covered by Orphan and not checked twice.
	CrossTenant Kind = "cross_tenant"
)

// AllKinds lists every check kind in the order they run.
var AllKinds = []Kind{NullTenant, MissingTenant, Orphan, CrossTenant}

// DefaultSampleSize is the number of sample keys a result carries when
// Options.SampleSize is zero.
const DefaultSampleSize = 5

// diffLimit is how many violating keys a check reads (the report keeps
// SampleSize of them): enough to tell a violation a step introduced from
// one that was there before by comparing key sets.
const diffLimit = 1000

// maxTenantIDs bounds how many missing tenant ids the indexed
// missing-tenant plan collects before it falls back to one anti-join pass.
const maxTenantIDs = 200

// Querier runs the checks' queries: a *sql.DB, *sql.Conn or *sql.Tx.
type Querier = catalog.Querier

// Options configures Check and Run. A nil *Options means all defaults.
type Options struct {
	// Dialect of the database; sqldialect.Unknown (the default) detects it,
	// which needs a *sql.DB.
	Dialect sqldialect.Dialect
	// Catalog configures the tenant column, tenant table, schema and
	// excluded tables (nil means catalog defaults: tenant_id,
	// organizations.id, the current schema).
	Catalog *catalog.Options
	// Tables restricts the checks to these tables (as the child side);
	// nil means every table.
	Tables []string
	// Checks restricts the kinds run; nil means AllKinds.
	Checks []Kind
	// SampleSize is the number of sample keys per result (ordered by key, so
	// the samples are the smallest keys), at most 1000: a check reads no
	// more rows than that. Zero means DefaultSampleSize; negative means
	// none.
	SampleSize int
	// LockTimeout bounds how long a step waits for a lock (Run only):
	// PostgreSQL lock_timeout (SET LOCAL), MySQL/MariaDB lock_wait_timeout
	// and innodb_lock_wait_timeout (whole seconds, at least 1, session
	// values restored afterwards), SQLite busy_timeout. Zero means 5s;
	// negative means wait forever.
	LockTimeout time.Duration
	// StatementTimeout bounds each statement of the step and the checks
	// (Run only): PostgreSQL statement_timeout (SET LOCAL), MariaDB
	// max_statement_time, MySQL max_execution_time (SELECT only). Zero
	// means no limit. Not available on SQLite.
	StatementTimeout time.Duration
	// Strict makes Run refuse to start the step when the pre-checks find
	// violations, instead of reporting them as pre-existing.
	Strict bool
	// Logger receives one record per check and per step statement at debug
	// level and one summary at info level; nil discards.
	Logger *slog.Logger
}

func (o *Options) withDefaults() Options {
	var r Options
	if o != nil {
		r = *o
	}
	if r.SampleSize == 0 {
		r.SampleSize = DefaultSampleSize
	}
	if r.SampleSize < 0 {
		r.SampleSize = 0
	}
	if r.LockTimeout == 0 {
		r.LockTimeout = 5 * time.Second
	}
	if r.Checks == nil {
		r.Checks = AllKinds
	}
	if r.Logger == nil {
		r.Logger = slog.New(slog.DiscardHandler)
	}
	return r
}

// Status is the verdict on one result.
type Status string

// Result statuses. A Check report uses StatusClean and StatusViolation; the
// post-checks of Run and of the goose adapter split violations into
// StatusNew and StatusPreExisting.
const (
	StatusClean       Status = "clean"
	StatusViolation   Status = "violation"
	StatusNew         Status = "new"
	StatusPreExisting Status = "pre_existing"
	StatusError       Status = "error"
)

// Result is the outcome of one check on one table or foreign key.
type Result struct {
	// ID identifies the check across runs: kind:table[:constraint].
	ID         string   `json:"id"`
	Check      Kind     `json:"check"`
	Table      string   `json:"table"`
	Constraint string   `json:"constraint,omitempty"`
	Columns    []string `json:"columns,omitempty"`
	RefTable   string   `json:"ref_table,omitempty"`
	RefColumns []string `json:"ref_columns,omitempty"`
	Status     Status   `json:"status"`
	// Count is the number of violating rows.
	Count int64 `json:"count"`
	// KeyColumns name the values in each sample: the primary key, or the
	// checked columns when the table has none.
	KeyColumns []string `json:"key_columns"`
	// Samples are up to SampleSize violating rows' keys, smallest first,
	// each value printed as text ("NULL" for NULL).
	Samples [][]string `json:"samples"`
	// NewSamples are, for a StatusNew result whose key sets could be
	// compared exactly, up to SampleSize keys that were not violating
	// before the step.
	NewSamples [][]string `json:"new_samples,omitempty"`
	// TenantIDs are, for MissingTenant, tenant ids found that the tenant
	// table lacks (up to SampleSize).
	TenantIDs []string `json:"tenant_ids,omitempty"`
	// Plan says how the check reads the table, chosen from its indexes.
	Plan string `json:"plan"`
	// SQL is the query text that ran (several separated by ";\n").
	SQL      string        `json:"sql"`
	Duration time.Duration `json:"duration_ns"`
	Error    string        `json:"error,omitempty"`

	// all holds every key read (up to diffLimit), for Since.
	all [][]string
}

// Violation reports whether the result found violating rows.
func (r *Result) Violation() bool { return r.Count > 0 }

// Check loads the catalog through db and runs every configured check,
// returning a report with one result per check. A violation is not an
// error: inspect Report.OK or Report.Violations. The error is non-nil only
// when the catalog cannot be read or a check query fails (that result then
// has Status "error" and the report is returned too).
//
// Given a *sql.DB, Check reads from one snapshot on one connection: a
// read-only REPEATABLE READ transaction on PostgreSQL (with row_security
// off, so a role subject to row-level security gets an error instead of a
// silently filtered, falsely clean answer), a consistent-snapshot read-only
// transaction on MySQL/MariaDB, a read transaction on SQLite; it is rolled
// back afterwards. Given a *sql.Conn or *sql.Tx, Check reads through it as
// it is, which is how a migration checks its own uncommitted changes.
func Check(ctx context.Context, db Querier, opts *Options) (*Report, error) {
	o := opts.withDefaults()
	start := time.Now()
	d, err := dialectOf(ctx, db, o.Dialect)
	if err != nil {
		return nil, err
	}
	o.Dialect = d
	if sdb, ok := db.(*sql.DB); ok {
		conn, err := sdb.Conn(ctx)
		if err != nil {
			return nil, fmt.Errorf("migrate: connection: %w", err)
		}
		defer conn.Close()
		if err := beginSnapshot(ctx, conn, d); err != nil {
			return nil, err
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		db = conn
	}
	rep := &Report{Dialect: d.String(), StartedAt: start.UTC()}
	results, schema, warnings, err := runChecks(ctx, db, &o)
	rep.Schema, rep.Results, rep.Warnings = schema, results, warnings
	rep.Duration = time.Since(start)
	rep.Outcome = OutcomeClean
	if len(rep.Violations()) > 0 {
		rep.Outcome = OutcomeViolations
	}
	if err != nil {
		rep.Outcome = OutcomeFailed
		return rep, classify(d, err)
	}
	o.Logger.LogAttrs(ctx, slog.LevelInfo, "tenant integrity check",
		slog.String("outcome", string(rep.Outcome)), slog.Int("checks", len(results)),
		slog.Int("violations", len(rep.Violations())), slog.Duration("duration", rep.Duration))
	return rep, nil
}

// beginSnapshot starts the read-only transaction Check reads in.
func beginSnapshot(ctx context.Context, conn *sql.Conn, d sqldialect.Dialect) error {
	var stmts []string
	switch d {
	case sqldialect.Postgres:
		stmts = []string{"BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "SET LOCAL row_security = off"}
	case sqldialect.MySQL:
		stmts = []string{"START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"}
	default:
		stmts = []string{"BEGIN"}
	}
	for _, s := range stmts {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
			return fmt.Errorf("migrate: %s: %w", s, err)
		}
	}
	return nil
}

func dialectOf(ctx context.Context, db Querier, d sqldialect.Dialect) (sqldialect.Dialect, error) {
	if d != sqldialect.Unknown {
		return d, nil
	}
	sdb, ok := db.(*sql.DB)
	if !ok {
		return d, ErrNoDialect
	}
	d, err := sqldialect.Detect(ctx, sdb)
	if err != nil {
		return d, fmt.Errorf("migrate: %w", err)
	}
	return d, nil
}

// ErrNoDialect is returned when Options.Dialect is unknown and the database
// handle is not a *sql.DB it could be detected from.
var ErrNoDialect = errors.New("migrate: Options.Dialect is required with a *sql.Conn or *sql.Tx")

// runChecks loads the catalog through q and runs the checks in a stable
// order. It stops at the first query error (context cancelled, statement
// timeout), returning the results so far including the failed one.
func runChecks(ctx context.Context, q Querier, o *Options) ([]Result, string, []string, error) {
	c, err := catalog.Load(ctx, q, o.Dialect, o.Catalog)
	if err != nil {
		return nil, "", nil, fmt.Errorf("migrate: %w", err)
	}
	checks, warnings := plan(c, o)
	results, err := execChecks(ctx, q, checks, o)
	return results, c.Schema, warnings, err
}

// plan chooses the checks and their queries from the catalog.
func plan(c *catalog.Catalog, o *Options) ([]check, []string) {
	p := planner{c: c, d: o.Dialect, n: o.SampleSize}
	var warnings []string
	root := c.Table(c.Opts.TenantTable)
	want := func(k Kind) bool { return slices.Contains(o.Checks, k) }
	if root == nil && want(MissingTenant) {
		warnings = append(warnings, fmt.Sprintf("tenant table %q not found: missing_tenant checks skipped", c.Opts.TenantTable))
	} else if root != nil && want(MissingTenant) && !root.HasColumn(c.Opts.TenantKey) {
		warnings = append(warnings, fmt.Sprintf("tenant table %q has no key column %q (set Catalog.TenantKey): missing_tenant checks skipped", root.Name, c.Opts.TenantKey))
	}
	var checks []check
	for _, t := range c.Tables {
		if o.Tables != nil && !slices.Contains(o.Tables, t.Name) {
			continue
		}
		if t.Kind == catalog.TenantOwned {
			if want(NullTenant) {
				checks = append(checks, p.nullTenant(t))
			}
			if want(MissingTenant) && root != nil && root.HasColumn(c.Opts.TenantKey) {
				checks = append(checks, p.missingTenant(t, root))
			}
		}
		for _, fk := range t.ForeignKeys {
			if fk.RefSchema == "" && c.Table(fk.RefTable) == nil && !slices.Contains(c.Opts.Exclude, fk.RefTable) {
				// SQLite accepts a key to a table that does not exist;
				// checking it would fail every later check.
				if want(Orphan) || want(CrossTenant) {
					warnings = append(warnings, fmt.Sprintf("foreign key %s of %q references %q, which does not exist: its checks skipped", fk.Name, t.Name, fk.RefTable))
				}
				continue
			}
			if want(Orphan) && !p.isTenantFK(t, fk) {
				checks = append(checks, p.orphan(t, fk))
			}
			if want(CrossTenant) {
				if ch, ok := p.crossTenant(t, fk); ok {
					checks = append(checks, ch)
				}
			}
		}
	}
	return checks, warnings
}

// execChecks runs the planned checks in order and stops at the first query
// error (context cancelled, statement timeout), returning the results so
// far including the failed one.
func execChecks(ctx context.Context, q Querier, checks []check, o *Options) ([]Result, error) {
	results := make([]Result, 0, len(checks))
	for _, ch := range checks {
		r := ch.res
		start := time.Now()
		err := ch.run(ctx, q, &r)
		r.Duration = time.Since(start)
		switch {
		case err != nil:
			r.Status, r.Error = StatusError, err.Error()
		case r.Count > 0:
			r.Status = StatusViolation
		default:
			r.Status = StatusClean
		}
		r.all = r.Samples
		r.Samples = slices.Clone(r.Samples[:min(len(r.Samples), o.SampleSize)])
		if r.Samples == nil {
			r.Samples = [][]string{}
		}
		o.Logger.LogAttrs(ctx, slog.LevelDebug, "check", slog.String("id", r.ID), slog.String("plan", r.Plan),
			slog.Int64("count", r.Count), slog.Duration("duration", r.Duration))
		results = append(results, r)
		if err != nil {
			return results, fmt.Errorf("migrate: check %s: %w", r.ID, err)
		}
	}
	return results, nil
}

type check struct {
	res Result
	run func(ctx context.Context, q Querier, r *Result) error
}

type planner struct {
	c *catalog.Catalog
	d sqldialect.Dialect
	n int
}

// tbl returns the schema-qualified table name. SQLite names are qualified
// with "main" too: unqualified, a table named like a CTE of the query (the
// skip scan's "t") or a TEMP table would be read instead.
func (p *planner) tbl(name string) string {
	if p.c.Schema == "" {
		return p.d.Quote(name)
	}
	return p.d.Quote(p.c.Schema) + "." + p.d.Quote(name)
}

// refTbl returns fk's parent table, qualified with its own schema when it
// lives in another one.
func (p *planner) refTbl(fk catalog.ForeignKey) string {
	if fk.RefSchema != "" {
		return p.d.Quote(fk.RefSchema) + "." + p.d.Quote(fk.RefTable)
	}
	return p.tbl(fk.RefTable)
}

func (p *planner) col(alias, name string) string { return alias + "." + p.d.Quote(name) }

func (p *planner) cols(alias string, names []string) string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = p.col(alias, n)
	}
	return strings.Join(out, ", ")
}

// keyColumns returns the primary key, or fallback when there is none.
func keyColumns(t *catalog.Table, fallback []string) []string {
	if len(t.PrimaryKey) > 0 {
		return t.PrimaryKey
	}
	return fallback
}

// window builds the one-pass query shape every check uses: the violating
// rows' keys, ordered, with the total count computed by a window function
// over the same pass, so counting and sampling read the rows once.
func (p *planner) window(t *catalog.Table, keys []string, extra string, from, where string) string {
	sel := p.cols("c", keys)
	if extra != "" {
		sel += ", " + extra
	}
	q := "SELECT " + sel + ", COUNT(*) OVER () FROM " + from + " WHERE " + where + " ORDER BY " + p.cols("c", keys)
	return q + " LIMIT " + strconv.Itoa(diffLimit) + p.shapeTag(t)
}

// shapeTag returns, on PostgreSQL, a comment naming the shape of t (every
// query selects only t's columns). Drivers such as pgx cache prepared
// statements by query text, and PostgreSQL refuses to run a cached
// statement whose result types changed ("cached plan must not change
// result type"): without the tag, the post-checks of a step that widens a
// key from integer to bigint would fail. With it the text changes exactly
// when t's columns do.
func (p *planner) shapeTag(t *catalog.Table) string {
	if p.d != sqldialect.Postgres {
		return ""
	}
	return " /* shape " + p.c.Fingerprint([]string{t.Name})[:16] + " */"
}

func (p *planner) base(k Kind, t *catalog.Table, cons string, cols []string) Result {
	id := string(k) + ":" + t.Name
	if cons != "" {
		id += ":" + cons
	}
	return Result{ID: id, Check: k, Table: t.Name, Constraint: cons, Columns: cols}
}

// btreeLedBy returns a usable btree index led by col: one that serves
// ordered probes (next col > v, IS NULL, DISTINCT by group-by).
func btreeLedBy(t *catalog.Table, col string) *catalog.Index {
	if ix := t.IndexLedBy(col); ix != nil && ix.Method == "btree" {
		return ix
	}
	return nil
}

func (p *planner) indexPlan(t *catalog.Table, col, indexed, unindexed string) string {
	if ix := btreeLedBy(t, col); ix != nil {
		return fmt.Sprintf(indexed, ix.Name)
	}
	return unindexed
}

func (p *planner) nullTenant(t *catalog.Table) check {
	tc := p.c.Opts.TenantColumn
	keys := keyColumns(t, []string{tc})
	r := p.base(NullTenant, t, "", []string{tc})
	r.KeyColumns = keys
	r.Plan = p.indexPlan(t, tc, "index probe on %s", "one sequential pass (no btree index led by "+tc+")")
	r.SQL = p.window(t, keys, "", p.tbl(t.Name)+" c", p.col("c", tc)+" IS NULL")
	return check{res: r, run: func(ctx context.Context, q Querier, r *Result) error {
		var err error
		r.Count, r.Samples, _, err = p.scanWindow(ctx, q, r.SQL, len(keys), 0)
		return err
	}}
}

func (p *planner) missingTenant(t, root *catalog.Table) check {
	tc, key := p.c.Opts.TenantColumn, p.c.Opts.TenantKey
	keys := keyColumns(t, []string{tc})
	r := p.base(MissingTenant, t, "", []string{tc})
	r.RefTable, r.RefColumns, r.KeyColumns = root.Name, []string{key}, keys
	ok, _ := root.Column(key)
	oc, _ := t.Column(tc)
	notExists := func(v string) string {
		a, b := p.comparable(p.col("o", key), ok.Type, v, oc.Type)
		return "NOT EXISTS (SELECT 1 FROM " + p.tbl(root.Name) + " o WHERE " + a + " = " + b + ")"
	}
	antiJoin := p.window(t, keys, p.col("c", tc), p.tbl(t.Name)+" c",
		p.col("c", tc)+" IS NOT NULL AND "+notExists(p.col("c", tc)))
	ix := btreeLedBy(t, tc)
	if ix == nil {
		r.Plan = "one sequential pass, anti-join with " + root.Name + " (no btree index led by " + tc + ")"
		r.SQL = antiJoin
		return check{res: r, run: func(ctx context.Context, q Querier, r *Result) error {
			var err error
			var ids [][]string
			r.Count, r.Samples, ids, err = p.scanWindow(ctx, q, r.SQL, len(keys), 1)
			r.TenantIDs = distinctFirst(ids, p.n)
			return err
		}}
	}
	// Loose index scan: walk the distinct tenant ids with one index probe
	// each, anti-join them with the tenant table, and only when some are
	// missing read their rows through the same index. PostgreSQL and
	// SQLite have no loose index scan of their own, so a recursive CTE
	// steps from one id to the next (the first tc > previous). MySQL/MariaDB do
	// it for SELECT DISTINCT over the index ("using index for group-by")
	// but would run the CTE's correlated MIN as a scan per tenant.
	r.Plan = "skip scan over distinct " + tc + " on " + ix.Name + ", anti-join with " + root.Name
	c := p.col("c", tc)
	limit := " LIMIT " + strconv.Itoa(maxTenantIDs+1)
	// ORDER BY ... LIMIT 1 rather than MIN: PostgreSQL has no min() for
	// uuid, enums or other types a btree orders.
	distinct := "WITH RECURSIVE t(v) AS (SELECT (SELECT " + c + " FROM " + p.tbl(t.Name) + " c WHERE " + c + " IS NOT NULL ORDER BY " + c + " LIMIT 1) UNION ALL " +
		"SELECT (SELECT " + c + " FROM " + p.tbl(t.Name) + " c WHERE " + c + " > t.v ORDER BY " + c + " LIMIT 1) FROM t WHERE t.v IS NOT NULL) " +
		"SELECT t.v FROM t WHERE t.v IS NOT NULL AND " + notExists("t.v") + limit + p.shapeTag(t)
	if p.d == sqldialect.MySQL {
		r.Plan = "loose index scan (DISTINCT " + tc + ") on " + ix.Name + ", anti-join with " + root.Name
		distinct = "SELECT d.v FROM (SELECT DISTINCT " + c + " AS v FROM " + p.tbl(t.Name) + " c WHERE " + c + " IS NOT NULL) d WHERE " +
			notExists("d.v") + limit
	}
	r.SQL = distinct
	colType := oc.Type
	return check{res: r, run: func(ctx context.Context, q Querier, r *Result) error {
		ids, err := scanStrings(ctx, q, distinct)
		if err != nil || len(ids) == 0 {
			return err
		}
		if len(ids) > maxTenantIDs {
			// Too many to list: one anti-join pass instead.
			r.SQL += ";\n" + antiJoin
			var tids [][]string
			r.Count, r.Samples, tids, err = p.scanWindow(ctx, q, antiJoin, len(keys), 1)
			r.TenantIDs = distinctFirst(tids, p.n)
			return err
		}
		ph := make([]string, len(ids))
		args := make([]any, len(ids))
		for i, id := range ids {
			ph[i] = p.d.Placeholder(i + 1)
			// The catalog lower-cases types: a quoted (mixed-case) type
			// name would no longer resolve, so such a parameter is typed
			// by inference from the column instead.
			if p.d == sqldialect.Postgres && colType != "" && !strings.Contains(colType, `"`) {
				ph[i] = "CAST(" + ph[i] + " AS " + colType + ")"
			}
			args[i] = id
		}
		rows := p.window(t, keys, "", p.tbl(t.Name)+" c", c+" IN ("+strings.Join(ph, ", ")+")")
		r.SQL += ";\n" + rows
		r.TenantIDs = ids[:min(len(ids), p.n)]
		r.Count, r.Samples, _, err = p.scanWindow(ctx, q, rows, len(keys), 0, args...)
		return err
	}}
}

// isTenantFK reports whether fk is the tenant column's key to the tenant
// table, which MissingTenant checks with a better plan.
func (p *planner) isTenantFK(t *catalog.Table, fk catalog.ForeignKey) bool {
	return t.Kind == catalog.TenantOwned && fk.RefSchema == "" && fk.RefTable == p.c.Opts.TenantTable &&
		slices.Equal(fk.Columns, []string{p.c.Opts.TenantColumn}) && slices.Equal(fk.RefColumns, []string{p.c.Opts.TenantKey})
}

func (p *planner) fkJoin(childAlias, parentAlias string, fk catalog.ForeignKey) string {
	on := make([]string, len(fk.Columns))
	for i := range fk.Columns {
		on[i] = p.col(parentAlias, fk.RefColumns[i]) + " = " + p.col(childAlias, fk.Columns[i])
	}
	return strings.Join(on, " AND ")
}

func (p *planner) orphan(t *catalog.Table, fk catalog.ForeignKey) check {
	keys := keyColumns(t, fk.Columns)
	r := p.base(Orphan, t, fk.Name, fk.Columns)
	r.RefTable, r.RefColumns, r.KeyColumns = fk.RefTable, fk.RefColumns, keys
	var where []string
	for _, c := range fk.Columns {
		where = append(where, p.col("c", c)+" IS NOT NULL")
	}
	where = append(where, "NOT EXISTS (SELECT 1 FROM "+p.refTbl(fk)+" p WHERE "+p.fkJoin("c", "p", fk)+")")
	r.Plan = "one pass over " + t.Name + ", anti-join with " + fk.RefTable
	if fk.RefSchema != "" {
		r.Plan += " in " + fk.RefSchema
	} else if ref := p.c.Table(fk.RefTable); ref != nil && ref.IndexLedBy(fk.RefColumns...) == nil {
		r.Plan += " (no index on the referenced columns: hashed or scanned)"
	}
	r.SQL = p.window(t, keys, "", p.tbl(t.Name)+" c", strings.Join(where, " AND "))
	return check{res: r, run: func(ctx context.Context, q Querier, r *Result) error {
		var err error
		r.Count, r.Samples, _, err = p.scanWindow(ctx, q, r.SQL, len(keys), 0)
		return err
	}}
}

// tenantType returns the declared type of the tenant column that decides
// t's tenant: its own, or that of the end of its TenantPath.
func (p *planner) tenantType(t *catalog.Table) string {
	if t.Kind == catalog.Closure && len(t.TenantPath) > 0 {
		if t = p.c.Table(t.TenantPath[len(t.TenantPath)-1].RefTable); t == nil {
			return ""
		}
	}
	c, _ := t.Column(p.c.Opts.TenantColumn)
	return c.Type
}

// comparable returns a and b (of declared types ta and tb) ready to be
// compared. PostgreSQL has no implicit cast between, say, bigint and text
// or uuid and text: a tenant column of one and a tenant key of the other
// would make the check fail, so such pairs compare as text. MySQL/MariaDB
// and SQLite convert on their own.
func (p *planner) comparable(a, ta, b, tb string) (string, string) {
	if p.d != sqldialect.Postgres || typeFamily(ta) == typeFamily(tb) {
		return a, b
	}
	return "CAST(" + a + " AS text)", "CAST(" + b + " AS text)"
}

// typeFamily groups PostgreSQL types that compare with each other without
// a cast.
func typeFamily(t string) string {
	t = catalog.NormalizeType(t)
	if i := strings.IndexByte(t, '('); i >= 0 {
		t = t[:i]
	}
	switch t {
	case "smallint", "integer", "bigint", "numeric", "decimal", "real", "double precision":
		return "number"
	case "text", "character varying", "character", "varchar", "char", "bpchar", "name":
		return "string"
	}
	return t
}

// tenantOf returns the joins that lead from alias (a row of t) to its
// tenant and the expression of that tenant, or ok=false when t has none.
func (p *planner) tenantOf(t *catalog.Table, alias string) (joins, expr string, ok bool) {
	switch t.Kind {
	case catalog.TenantOwned:
		return "", p.col(alias, p.c.Opts.TenantColumn), true
	case catalog.Closure:
		prev := alias
		var b strings.Builder
		for i, fk := range t.TenantPath {
			a := alias + "_t" + strconv.Itoa(i)
			b.WriteString(" JOIN " + p.tbl(fk.RefTable) + " " + a + " ON " + p.fkJoin(prev, a, fk))
			prev = a
		}
		return b.String(), p.col(prev, p.c.Opts.TenantColumn), true
	}
	return "", "", false
}

func (p *planner) crossTenant(t *catalog.Table, fk catalog.ForeignKey) (check, bool) {
	ref := p.c.Table(fk.RefTable)
	if ref == nil || fk.RefSchema != "" {
		return check{}, false
	}
	if t.Kind == catalog.Closure && len(t.TenantPath) > 0 && t.TenantPath[0].Name == fk.Name {
		return check{}, false // the child's tenant is defined through this key
	}
	tc := p.c.Opts.TenantColumn
	if t.Kind == catalog.TenantOwned && ref.Kind == catalog.TenantOwned {
		for i, c := range fk.Columns {
			if c == tc && fk.RefColumns[i] == tc {
				return check{}, false // the key itself pairs the tenants
			}
		}
	}
	cj, ce, ok1 := p.tenantOf(t, "c")
	pj, pe, ok2 := p.tenantOf(ref, "p")
	if !ok1 || !ok2 {
		return check{}, false
	}
	keys := keyColumns(t, fk.Columns)
	r := p.base(CrossTenant, t, fk.Name, fk.Columns)
	r.RefTable, r.RefColumns, r.KeyColumns = fk.RefTable, fk.RefColumns, keys
	from := p.tbl(t.Name) + " c" + cj + " JOIN " + p.tbl(fk.RefTable) + " p ON " + p.fkJoin("c", "p", fk) + pj
	cv, pv := p.comparable(ce, p.tenantType(t), pe, p.tenantType(ref))
	r.SQL = p.window(t, keys, "", from, cv+" <> "+pv)
	precise := r.SQL
	var prefilter string
	if p.d == sqldialect.MySQL {
		// MariaDB/MySQL would run the join (or an EXISTS) from the parent,
		// fetching the child's rows one index entry at a time: seconds on a
		// million rows. An anti-join against the parent's (key, tenant)
		// pairs is materialised and hashed instead, one pass over the
		// child; it finds cross-tenant rows and orphans together, so it
		// serves as a filter: when it finds nothing (the usual case) the
		// check is done, else the exact join runs, driven from the child.
		var notNull []string
		for _, c := range fk.Columns {
			notNull = append(notNull, p.col("c", c)+" IS NOT NULL")
		}
		prefilter = p.window(t, keys, "", p.tbl(t.Name)+" c"+cj, strings.Join(notNull, " AND ")+
			" AND NOT EXISTS (SELECT 1 FROM "+p.tbl(fk.RefTable)+" p"+pj+" WHERE "+p.fkJoin("c", "p", fk)+" AND "+pe+" = "+ce+")")
		precise = strings.Replace(precise, "SELECT ", "SELECT STRAIGHT_JOIN ", 1)
		r.SQL = prefilter
	}
	r.Plan = "one pass over " + t.Name + ", join with " + fk.RefTable
	if t.Kind == catalog.Closure || ref.Kind == catalog.Closure {
		r.Plan += " (closure tenant through its foreign-key path)"
	}
	return check{res: r, run: func(ctx context.Context, q Querier, r *Result) error {
		if prefilter != "" {
			n, _, _, err := p.scanWindow(ctx, q, prefilter, len(keys), 0)
			if err != nil || n == 0 {
				return err
			}
			r.SQL = prefilter + ";\n" + precise
		}
		var err error
		r.Count, r.Samples, _, err = p.scanWindow(ctx, q, precise, len(keys), 0)
		return err
	}}, true
}

// scanWindow runs a window query: nkeys key columns, nextra extra columns,
// then the count. It returns the count, the keys and the extra values.
func (p *planner) scanWindow(ctx context.Context, q Querier, query string, nkeys, nextra int, args ...any) (int64, [][]string, [][]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return 0, nil, nil, err
	}
	defer rows.Close()
	var count int64
	var keys, extra [][]string
	vals := make([]any, nkeys+nextra+1)
	ptrs := make([]any, len(vals))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return 0, nil, nil, err
		}
		row := make([]string, nkeys+nextra)
		for i := range row {
			row[i] = text(vals[i])
		}
		keys = append(keys, row[:nkeys])
		extra = append(extra, row[nkeys:])
		count, err = strconv.ParseInt(text(vals[len(vals)-1]), 10, 64)
		if err != nil {
			return 0, nil, nil, fmt.Errorf("count: %w", err)
		}
	}
	return count, keys, extra, rows.Err()
}

func scanStrings(ctx context.Context, q Querier, query string) ([]string, error) {
	rows, err := q.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v any
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, text(v))
	}
	return out, rows.Err()
}

func distinctFirst(rows [][]string, n int) []string {
	var out []string
	for _, r := range rows {
		if len(r) > 0 && !slices.Contains(out, r[0]) && len(out) < n {
			out = append(out, r[0])
		}
	}
	return out
}

// text prints a scanned value: NULL as "NULL", bytes as text, times in
// RFC 3339.
func text(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case []byte:
		return string(x)
	case string:
		return x
	case time.Time:
		return x.Format(time.RFC3339Nano)
	case [16]byte: // a UUID from some drivers
		return fmt.Sprintf("%x-%x-%x-%x-%x", x[0:4], x[4:6], x[6:8], x[8:10], x[10:16])
	}
	return fmt.Sprint(v)
}
