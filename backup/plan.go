package backup

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/sqldialect"
)

// ptable is one table of a backup as the reader, writer, exporter and
// restorer see it: its manifest entry plus derived indexes and quoted SQL.
type ptable struct {
	m        TableManifest
	kinds    []kind
	pk       []int // column indexes of the primary key
	deferred []int // column indexes written NULL in rows, set by fixups
	// tenantCol is the index of the tenant column (tenant tables) or the
	// tenant key (root), else -1.
	tenantCol int
	// tenantRefs are columns that hold a tenant id: the tenant column and
	// any foreign key column to the tenant table's key. AsTenant rewrites
	// them.
	tenantRefs []int
	qname      string // quoted table name
	qcols      string // quoted column list, comma separated
	cat        *catalog.Table
}

// plan is the set of tables of one tenant's backup, in restore order.
type plan struct {
	d      sqldialect.Dialect
	m      *Manifest
	tables []*ptable
	byName map[string]*ptable
	cat    *catalog.Catalog // nil when built from a file alone
}

func (p *plan) table(name string) *ptable { return p.byName[name] }

// buildPlan chooses the tables of a tenant backup from the catalog: the
// tenant's row of the tenant table, every tenant-owned table and every
// closure table; orders them parents first; breaks foreign-key cycles at
// nullable foreign keys (those columns become Deferred).
//
// Generated (computed) columns are left out: the database computes them
// again on insert, and refuses values for them.
func buildPlan(cat *catalog.Catalog, generated map[string]map[string]bool) (*plan, error) {
	var names []string
	for _, t := range cat.Tables {
		switch t.Kind {
		case catalog.TenantOwned, catalog.Closure, catalog.TenantRoot:
			names = append(names, t.Name)
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%w: no table has the tenant column %q", ErrSchema, cat.Opts.TenantColumn)
	}
	deferred := map[string]map[string]bool{} // table -> fk name
	isDeferred := func(fk catalog.ForeignKey) bool { return deferred[fk.Table][fk.Name] }
	deferFK := func(fk catalog.ForeignKey) {
		if deferred[fk.Table] == nil {
			deferred[fk.Table] = map[string]bool{}
		}
		deferred[fk.Table][fk.Name] = true
	}
	// Self-references: a table's rows are not inserted in tree order, so a
	// nullable self-reference is always deferred.
	for _, n := range names {
		t := cat.Table(n)
		for _, fk := range t.ForeignKeys {
			if fk.RefTable == n && nullableCols(t, fk.Columns) {
				deferFK(fk)
			}
		}
	}
	order, err := cat.Order(names)
	for err != nil {
		var ce *catalog.CycleError
		if !errors.As(err, &ce) {
			return nil, fmt.Errorf("backup: order tables: %w", err)
		}
		in := map[string]bool{}
		for _, n := range ce.Tables {
			in[n] = true
		}
		broke := false
		for _, n := range ce.Tables {
			t := cat.Table(n)
			for _, fk := range t.ForeignKeys {
				if in[fk.RefTable] && fk.RefTable != n && !isDeferred(fk) && nullableCols(t, fk.Columns) && len(t.PrimaryKey) > 0 {
					deferFK(fk)
					broke = true
					break
				}
			}
			if broke {
				break
			}
		}
		if !broke {
			return nil, fmt.Errorf("%w: tables %s reference each other through NOT NULL foreign keys (or have no primary key)", ErrCycle, strings.Join(ce.Tables, ", "))
		}
		order, err = orderSkipping(cat, names, isDeferred)
	}
	m := &Manifest{
		Format: FormatName, Version: FormatVersion, Dialect: cat.Dialect.String(),
		TenantColumn: cat.Opts.TenantColumn, TenantTable: cat.Opts.TenantTable, TenantKey: cat.Opts.TenantKey,
		Fingerprint: cat.Fingerprint(order),
	}
	for _, n := range order {
		t := cat.Table(n)
		tm := TableManifest{Name: n, Kind: t.Kind.String(), PrimaryKey: slices.Clone(t.PrimaryKey)}
		for _, c := range t.Columns {
			if generated[n][c.Name] {
				continue
			}
			tm.Columns = append(tm.Columns, ColumnManifest{Name: c.Name, Type: c.Type, Kind: kindOf(cat.Dialect, c.Type).String(), Nullable: c.Nullable})
		}
		for _, fk := range t.ForeignKeys {
			if isDeferred(fk) {
				tm.Deferred = append(tm.Deferred, fk.Columns...)
			}
		}
		for _, fk := range t.TenantPath {
			tm.TenantPath = append(tm.TenantPath, PathStep{Table: fk.Table, Columns: fk.Columns, RefTable: fk.RefTable, RefColumns: fk.RefColumns})
		}
		m.Tables = append(m.Tables, tm)
	}
	p, err := planFromManifest(m)
	if err != nil {
		return nil, err
	}
	p.cat = cat
	for _, t := range p.tables {
		t.cat = cat.Table(t.m.Name)
	}
	return p, nil
}

func nullableCols(t *catalog.Table, cols []string) bool {
	for _, n := range cols {
		c, ok := t.Column(n)
		if !ok || !c.Nullable || slices.Contains(t.PrimaryKey, n) {
			return false
		}
	}
	return true
}

// orderSkipping is catalog.Order without the deferred foreign keys.
func orderSkipping(cat *catalog.Catalog, names []string, skip func(catalog.ForeignKey) bool) ([]string, error) {
	in := map[string]bool{}
	for _, n := range names {
		in[n] = true
	}
	pending := map[string]int{}
	children := map[string][]string{}
	for _, n := range names {
		seen := map[string]bool{}
		for _, fk := range cat.Table(n).ForeignKeys {
			if fk.RefTable == n || !in[fk.RefTable] || skip(fk) || seen[fk.RefTable] {
				continue
			}
			seen[fk.RefTable] = true
			pending[n]++
			children[fk.RefTable] = append(children[fk.RefTable], n)
		}
	}
	var ready, out []string
	for _, n := range names {
		if pending[n] == 0 {
			ready = append(ready, n)
		}
	}
	for len(ready) > 0 {
		slices.Sort(ready)
		n := ready[0]
		ready = ready[1:]
		out = append(out, n)
		for _, c := range children[n] {
			if pending[c]--; pending[c] == 0 {
				ready = append(ready, c)
			}
		}
	}
	if len(out) != len(names) {
		var rest []string
		for _, n := range names {
			if pending[n] > 0 {
				rest = append(rest, n)
			}
		}
		slices.Sort(rest)
		return nil, &catalog.CycleError{Tables: rest}
	}
	return out, nil
}

// planFromManifest derives the plan a reader needs from a manifest alone,
// checking that it is coherent (a hostile header is refused here).
func planFromManifest(m *Manifest) (*plan, error) {
	d, err := sqldialect.Parse(m.Dialect)
	if err != nil {
		return nil, fmt.Errorf("%w: manifest: %v", ErrCorrupt, err)
	}
	p := &plan{d: d, m: m, byName: map[string]*ptable{}}
	for i := range m.Tables {
		tm := m.Tables[i]
		bad := func(format string, a ...any) error {
			return &ValidationError{Table: tm.Name, Reason: "manifest: " + fmt.Sprintf(format, a...), Err: ErrCorrupt}
		}
		if tm.Name == "" || p.byName[tm.Name] != nil {
			return nil, bad("empty or repeated table name")
		}
		if len(tm.Columns) == 0 || len(tm.Columns) > 4096 {
			return nil, bad("%d columns", len(tm.Columns))
		}
		t := &ptable{m: tm, tenantCol: -1, qname: d.Quote(tm.Name)}
		idx := map[string]int{}
		var qc strings.Builder
		for j, c := range tm.Columns {
			k, ok := parseKind(c.Kind)
			if !ok {
				return nil, bad("column %q has unknown kind %q", c.Name, c.Kind)
			}
			if _, dup := idx[c.Name]; dup || c.Name == "" {
				return nil, bad("empty or repeated column %q", c.Name)
			}
			idx[c.Name] = j
			t.kinds = append(t.kinds, k)
			if j > 0 {
				qc.WriteString(", ")
			}
			qc.WriteString(d.Quote(c.Name))
		}
		t.qcols = qc.String()
		lookup := func(names []string) ([]int, error) {
			var out []int
			for _, n := range names {
				j, ok := idx[n]
				if !ok {
					return nil, bad("no column %q", n)
				}
				out = append(out, j)
			}
			return out, nil
		}
		if t.pk, err = lookup(tm.PrimaryKey); err != nil {
			return nil, err
		}
		if t.deferred, err = lookup(tm.Deferred); err != nil {
			return nil, err
		}
		if len(t.deferred) > 0 && len(t.pk) == 0 {
			return nil, bad("deferred columns without a primary key")
		}
		switch tm.Kind {
		case "root":
			j, ok := idx[m.TenantKey]
			if !ok {
				return nil, bad("tenant table has no key column %q", m.TenantKey)
			}
			t.tenantCol = j
			t.tenantRefs = append(t.tenantRefs, j)
		case "tenant":
			j, ok := idx[m.TenantColumn]
			if !ok {
				return nil, bad("tenant table has no tenant column %q", m.TenantColumn)
			}
			t.tenantCol = j
			t.tenantRefs = append(t.tenantRefs, j)
		case "closure":
			if len(tm.TenantPath) == 0 || tm.TenantPath[0].Table != tm.Name || len(tm.TenantPath[0].Columns) == 0 || len(tm.TenantPath[0].Columns) != len(tm.TenantPath[0].RefColumns) {
				return nil, bad("closure table without a valid tenant path")
			}
			if _, err := lookup(tm.TenantPath[0].Columns); err != nil {
				return nil, err
			}
		default:
			return nil, bad("unknown table kind %q", tm.Kind)
		}
		p.tables = append(p.tables, t)
		p.byName[tm.Name] = t
	}
	// The first step of each closure path must lead to a table restored
	// earlier in the file.
	for i, t := range p.tables {
		if t.m.Kind != "closure" {
			continue
		}
		ref := p.byName[t.m.TenantPath[0].RefTable]
		if ref == nil || slices.Index(p.tables, ref) > i {
			return nil, &ValidationError{Table: t.m.Name, Reason: "manifest: tenant path leads to a table not restored before it", Err: ErrCorrupt}
		}
	}
	return p, nil
}

// addTenantRefs marks, with the catalog, the foreign-key columns that point
// at the tenant table's key: they hold tenant ids too.
func (p *plan) addTenantRefs() {
	if p.cat == nil {
		return
	}
	for _, t := range p.tables {
		if t.cat == nil {
			continue
		}
		for _, fk := range t.cat.ForeignKeys {
			if fk.RefTable != p.m.TenantTable || len(fk.Columns) != 1 || fk.RefColumns[0] != p.m.TenantKey {
				continue
			}
			j := slices.IndexFunc(t.m.Columns, func(c ColumnManifest) bool { return c.Name == fk.Columns[0] })
			if j >= 0 && !slices.Contains(t.tenantRefs, j) {
				t.tenantRefs = append(t.tenantRefs, j)
			}
		}
	}
}

// tenantArg converts a tenant id into the value bound for the tenant
// column: an int64 for an integer column (so no database ever compares a
// string like "1) OR (1=1" loosely with a number), the string otherwise.
func tenantArg(k kind, id string) (any, error) {
	if id == "" {
		return nil, fmt.Errorf("%w: empty", ErrInvalidTenant)
	}
	if k == kInt {
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: %q is not an integer, and the tenant column is", ErrInvalidTenant, id)
		}
		return n, nil
	}
	return id, nil
}

// tenantKind is the kind of the tenant id: the tenant column's kind in the
// tenant tables (or the tenant key's in the root table).
func (p *plan) tenantKind() kind {
	for _, t := range p.tables {
		if t.tenantCol >= 0 {
			return t.kinds[t.tenantCol]
		}
	}
	return kText
}

// generatedColumns lists the generated (computed) columns by table. SQLite's
// catalog already leaves them out.
func generatedColumns(ctx context.Context, db *sql.DB, cat *catalog.Catalog) (map[string]map[string]bool, error) {
	var q string
	switch cat.Dialect {
	case sqldialect.Postgres:
		q = `SELECT c.relname, a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
			JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE n.nspname = $1 AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated <> ''`
	case sqldialect.MySQL:
		q = `SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.COLUMNS
			WHERE TABLE_SCHEMA = ? AND (EXTRA LIKE '%STORED GENERATED%' OR EXTRA LIKE '%VIRTUAL GENERATED%')`
	default:
		return nil, nil
	}
	rows, err := db.QueryContext(ctx, q, cat.Schema)
	if err != nil {
		return nil, fmt.Errorf("generated columns: %w", err)
	}
	defer rows.Close()
	out := map[string]map[string]bool{}
	for rows.Next() {
		var t, c string
		if err := rows.Scan(&t, &c); err != nil {
			return nil, fmt.Errorf("generated columns: %w", err)
		}
		if out[t] == nil {
			out[t] = map[string]bool{}
		}
		out[t][c] = true
	}
	return out, rows.Err()
}
