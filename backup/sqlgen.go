package backup

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"

	"github.com/tenantkit/tenantkit/internal/sqldialect"
)

// querier is what both *sql.Tx and *sql.Conn offer.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// ownerFilter returns the FROM clause (with alias t0 for table t) and the
// WHERE condition with one placeholder that select exactly the tenant's
// rows of t: by its tenant column, through its tenant path (joins along
// the foreign keys up to a tenant-owned table), or the tenant's own row of
// the tenant table. The tenant value is always bound, never formatted.
func (p *plan) ownerFilter(t *ptable, ph string) (from, where string) {
	d := p.d
	switch t.m.Kind {
	case "root":
		return d.Quote(t.m.Name) + " t0", "t0." + d.Quote(p.m.TenantKey) + " = " + ph
	case "tenant":
		return d.Quote(t.m.Name) + " t0", "t0." + d.Quote(p.m.TenantColumn) + " = " + ph
	}
	var b strings.Builder
	b.WriteString(d.Quote(t.m.Name) + " t0")
	for i, st := range t.m.TenantPath {
		fmt.Fprintf(&b, " JOIN %s t%d ON ", d.Quote(st.RefTable), i+1)
		for j := range st.Columns {
			if j > 0 {
				b.WriteString(" AND ")
			}
			fmt.Fprintf(&b, "t%d.%s = t%d.%s", i+1, d.Quote(st.RefColumns[j]), i, d.Quote(st.Columns[j]))
		}
	}
	return b.String(), fmt.Sprintf("t%d.%s = %s", len(t.m.TenantPath), d.Quote(p.m.TenantColumn), ph)
}

// ownerPredicate is a condition on the unaliased table t (for DELETE and
// UPDATE) that holds for the tenant's rows.
func (p *plan) ownerPredicate(t *ptable, ph string) string {
	d := p.d
	switch t.m.Kind {
	case "root":
		return d.Quote(p.m.TenantKey) + " = " + ph
	case "tenant":
		return d.Quote(p.m.TenantColumn) + " = " + ph
	}
	var b strings.Builder
	b.WriteString("EXISTS (SELECT 1 FROM ")
	path := t.m.TenantPath
	for i, st := range path {
		if i == 0 {
			fmt.Fprintf(&b, "%s t1", d.Quote(st.RefTable))
			continue
		}
		fmt.Fprintf(&b, " JOIN %s t%d ON ", d.Quote(st.RefTable), i+1)
		for j := range st.Columns {
			if j > 0 {
				b.WriteString(" AND ")
			}
			fmt.Fprintf(&b, "t%d.%s = t%d.%s", i+1, d.Quote(st.RefColumns[j]), i, d.Quote(st.Columns[j]))
		}
	}
	b.WriteString(" WHERE ")
	for j := range path[0].Columns {
		fmt.Fprintf(&b, "t1.%s = %s.%s AND ", d.Quote(path[0].RefColumns[j]), d.Quote(t.m.Name), d.Quote(path[0].Columns[j]))
	}
	fmt.Fprintf(&b, "t%d.%s = %s)", len(path), d.Quote(p.m.TenantColumn), ph)
	return b.String()
}

// selectExpr is how the export selects column i of t so that the driver
// hands back the value's exact text (or a type that formats exactly).
func (p *plan) selectExpr(t *ptable, i int) string {
	col := "t0." + p.d.Quote(t.m.Columns[i].Name)
	switch p.d {
	case sqldialect.Postgres:
		return col + "::text"
	case sqldialect.MySQL:
		switch t.kinds[i] {
		case kTimestampTZ, kTimestamp, kDate, kTime:
			return "CAST(" + col + " AS CHAR)"
		}
	case sqldialect.SQLite:
		// The driver turns text of date/time-typed columns into time.Time;
		// an expression has no declared type, so the stored value comes
		// back as it is.
		typ := strings.ToLower(t.m.Columns[i].Type)
		if strings.Contains(typ, "date") || strings.Contains(typ, "time") {
			return "coalesce(" + col + ", NULL)"
		}
	}
	return col
}

func (p *plan) exportQuery(t *ptable) string {
	var b strings.Builder
	b.WriteString("SELECT ")
	for i := range t.m.Columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(p.selectExpr(t, i))
	}
	from, where := p.ownerFilter(t, p.d.Placeholder(1))
	b.WriteString(" FROM " + from + " WHERE " + where)
	return b.String()
}

// fixupQuery selects the primary key and deferred columns of the tenant's
// rows of t that have a deferred value.
func (p *plan) fixupQuery(t *ptable) string {
	var b strings.Builder
	b.WriteString("SELECT ")
	for i, c := range append(append([]int(nil), t.pk...), t.deferred...) {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(p.selectExpr(t, c))
	}
	from, where := p.ownerFilter(t, p.d.Placeholder(1))
	b.WriteString(" FROM " + from + " WHERE " + where + " AND (")
	for i, c := range t.deferred {
		if i > 0 {
			b.WriteString(" OR ")
		}
		b.WriteString("t0." + p.d.Quote(t.m.Columns[c].Name) + " IS NOT NULL")
	}
	b.WriteString(")")
	return b.String()
}

// pgType is the type a PostgreSQL value is cast to from text.
func pgType(t *ptable, i int) string {
	typ := t.m.Columns[i].Type
	if typ == "" {
		return "text"
	}
	return typ
}

// param returns the placeholder for bound value n (1-based) of column i
// of t: on PostgreSQL every value travels as text and is cast to the
// column's type by the server (bytes as bytea), so no driver-side
// conversion can alter it.
func (p *plan) param(t *ptable, i, n int) string { return paramFor(p.d, t.kinds[i], pgType(t, i), n) }

func paramFor(d sqldialect.Dialect, k kind, typ string, n int) string {
	if d != sqldialect.Postgres {
		return "?"
	}
	if k == kBytes {
		return "$" + strconv.Itoa(n) + "::bytea"
	}
	return "CAST($" + strconv.Itoa(n) + "::text AS " + typ + ")"
}

// arg converts a canonical value of column i of t into the bound argument.
func (p *plan) arg(t *ptable, i int, v value) any { return argFor(p.d, t.kinds[i], v) }

func argFor(d sqldialect.Dialect, k kind, v value) any {
	if v.null {
		return nil
	}
	if k == kBytes {
		return []byte(v.s)
	}
	switch d {
	case sqldialect.MySQL:
		if k == kTimestampTZ || k == kTimestamp {
			return mysqlTime(v.s)
		}
	case sqldialect.SQLite:
		switch k {
		case kInt:
			if n, err := strconv.ParseInt(v.s, 10, 64); err == nil {
				return n
			}
		case kFloat:
			if f, err := strconv.ParseFloat(v.s, 64); err == nil {
				return f
			}
		}
	}
	return v.s
}
