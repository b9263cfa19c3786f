package backup

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"reflect"
	"slices"
	"strings"

	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/sqldialect"
	"github.com/tenantkit/tenantkit/tenant"
)

// ErrDuplicateKey: two rows of a table in the file have the same primary
// (or referenced unique) key.
var ErrDuplicateKey = errors.New("backup: duplicate key")

// ErrMissingParent: a row references a row that is neither in the file
// nor (for shared tables) in the database; for a closure table, its row is
// not reachable from the tenant's rows in the file.
var ErrMissingParent = errors.New("backup: missing foreign-key target")

// maxErrors bounds how many row-level problems Validate collects before
// it stops reading.
const maxErrors = 20

// Validate reads the whole backup r and checks that it can be restored
// into db for tenant id, without writing anything: the header and format
// version; every section's row count and SHA-256, the footer and (gzip)
// the CRC; that the file is tenant id's; that every row belongs to the
// tenant (its tenant column holds id, a closure row's parent is in the
// file); no duplicate keys; every foreign key's target is in the file or,
// for a shared (global) table, already in the database; and that the
// database's schema has the fingerprint the file was taken from. It
// returns the manifest with counts and checksums, or an error wrapping
// one *ValidationError per problem (up to 20), each naming the table, row
// and reason. Memory: 8 bytes per row of each keyed table, released as
// soon as no later table can reference it.
func Validate(ctx context.Context, r io.Reader, db *sql.DB, id tenant.ID, opts *RestoreOptions) (*Manifest, error) {
	o := opts.withDefaults()
	v, err := validate(ctx, r, db, id, &o)
	if err != nil {
		return nil, err
	}
	return v.fp.m, nil
}

type fkCheck struct {
	fk       catalog.ForeignKey
	cols     []int
	parent   *ptable // in the file, else nil
	parentIx int
	set      string // the parent's key set
	path     bool   // the closure table's path to its tenant
	toRoot   bool   // references the tenant table's key
	deferred bool
	dbQuery  string // existence query for a parent outside the file
	dbKinds  []kind
}

type validator struct {
	ctx      context.Context
	db       *sql.DB
	rq       querier // the read transaction of the lookups
	o        *RestoreOptions
	fr       *fileReader
	fp       *plan // the file's plan, with the target catalog attached
	cat      *catalog.Catalog
	seed     maphash.Seed
	sets     map[string]*keySet // "table\x00col\x00col" -> keys
	needed   map[string]bool    // sets some foreign key or fixup looks up
	tsets    map[*ptable][]tableSet
	checks   map[*ptable][]fkCheck
	sealed   int
	pending  []pendingRef
	dbCache  map[uint64]bool
	errs     []error
	rootRows int64
	header   string
	source   string // the file's tenant
	target   string // the tenant restored into
	dbTenant bool   // the target tenant's row exists in the database
}

type tableSet struct {
	name string
	cols []int
	pk   bool
}

type pendingRef struct {
	t   *ptable
	row int64
	chk *fkCheck
	h   uint64
}

func setName(table string, cols []string) string {
	return table + "\x00" + strings.Join(cols, "\x00")
}

func validate(ctx context.Context, r io.Reader, db *sql.DB, id tenant.ID, o *RestoreOptions) (*validator, error) {
	fr, err := newFileReader(r, o.MaxLineBytes)
	if err != nil {
		return nil, err
	}
	m := fr.manifest()
	if m.Tenant != string(id) {
		return nil, &ValidationError{Reason: fmt.Sprintf("the file holds tenant %q, not tenant %q", m.Tenant, id), Err: ErrTenant}
	}
	v := &validator{ctx: ctx, db: db, o: o, fr: fr, fp: fr.p, seed: maphash.MakeSeed(),
		sets: map[string]*keySet{}, tsets: map[*ptable][]tableSet{}, checks: map[*ptable][]fkCheck{},
		dbCache: map[uint64]bool{}, header: fr.header, source: m.Tenant, target: m.Tenant}
	if o.AsTenant != "" {
		v.target = o.AsTenant
	}
	if err := v.checkSchema(); err != nil {
		return nil, err
	}
	var rtx *sql.Tx
	if v.fp.d == sqldialect.SQLite {
		rtx, err = db.BeginTx(ctx, nil)
	} else {
		rtx, err = db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	}
	if err != nil {
		return nil, fmt.Errorf("backup: validate: begin: %w", err)
	}
	defer rtx.Rollback()
	v.rq = rtx
	if o.Session != nil {
		if err := o.Session(ctx, rtx); err != nil {
			return nil, fmt.Errorf("backup: validate: session: %w", err)
		}
	}
	if err := v.prepare(); err != nil {
		return nil, err
	}
	if err := v.run(); err != nil {
		return nil, err
	}
	return v, nil
}

// checkSchema compares the database's schema with the file's.
func (v *validator) checkSchema() error {
	m := v.fp.m
	d, err := sqldialect.Detect(v.ctx, v.db)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if d != v.fp.d {
		return &ValidationError{Reason: fmt.Sprintf("the file was exported from %s, the database is %s", v.fp.d, d), Err: ErrSchema}
	}
	cat, err := catalog.Load(v.ctx, v.db, d, &catalog.Options{TenantColumn: m.TenantColumn, TenantTable: m.TenantTable, TenantKey: m.TenantKey, Schema: v.o.Schema, Exclude: v.o.Exclude})
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	v.cat = cat
	gen, err := generatedColumns(v.ctx, v.db, cat)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	tp, err := buildPlan(cat, gen)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	for _, ft := range v.fp.tables {
		ct := cat.Table(ft.m.Name)
		if ct == nil {
			return &ValidationError{Table: ft.m.Name, Reason: "the table is not in the database", Err: ErrSchema}
		}
		if ct.Kind.String() != ft.m.Kind {
			return &ValidationError{Table: ft.m.Name, Reason: fmt.Sprintf("the table is %s in the file, %s in the database", ft.m.Kind, ct.Kind), Err: ErrSchema}
		}
		tt := tp.table(ft.m.Name)
		if tt == nil || len(tt.m.Columns) != len(ft.m.Columns) {
			n := 0
			if tt != nil {
				n = len(tt.m.Columns)
			}
			return &ValidationError{Table: ft.m.Name, Reason: fmt.Sprintf("the file has %d columns, the database %d", len(ft.m.Columns), n), Err: ErrSchema}
		}
		for i, c := range tt.m.Columns {
			fc := ft.m.Columns[i]
			if c.Name != fc.Name || catalog.NormalizeType(c.Type) != catalog.NormalizeType(fc.Type) {
				return &ValidationError{Table: ft.m.Name, Reason: fmt.Sprintf("column %d is %s %s in the file, %s %s in the database", i+1, fc.Name, fc.Type, c.Name, c.Type), Err: ErrSchema}
			}
		}
		ft.cat = ct
	}
	// Everything the restore turns into SQL must be the database's, not
	// the file's: a file may not choose another tenant path, key, cycle
	// break or column type than the schema has.
	for _, t := range tp.tables {
		ft := v.fp.table(t.m.Name)
		if ft == nil {
			continue
		}
		if !reflect.DeepEqual(t.m.TenantPath, ft.m.TenantPath) || !slices.Equal(t.m.PrimaryKey, ft.m.PrimaryKey) || !slices.Equal(t.m.Deferred, ft.m.Deferred) {
			return &ValidationError{Table: t.m.Name, Reason: "the file's tenant path, primary key or cycle columns differ from the database's", Err: ErrSchema}
		}
		for i := range ft.m.Columns {
			fc, dc := &ft.m.Columns[i], t.m.Columns[i]
			if fc.Kind != dc.Kind && !(d == sqldialect.MySQL && fc.Kind == kJSON.String() && dc.Kind == kText.String()) {
				return &ValidationError{Table: t.m.Name, Reason: fmt.Sprintf("column %s: the file says kind %s, the database's type %s is %s", fc.Name, fc.Kind, dc.Type, dc.Kind), Err: ErrSchema}
			}
			fc.Type, fc.Nullable = dc.Type, dc.Nullable
		}
	}
	for _, t := range tp.tables {
		if v.fp.table(t.m.Name) == nil {
			return &ValidationError{Table: t.m.Name, Reason: "the database has this tenant table, the file does not (the schema changed since the backup)", Err: ErrSchema}
		}
	}
	names := make([]string, len(v.fp.tables))
	for i, t := range v.fp.tables {
		names[i] = t.m.Name
	}
	if fp := cat.Fingerprint(names); fp != m.Fingerprint {
		return &ValidationError{Reason: fmt.Sprintf("schema fingerprint %s of the database differs from %s of the file (keys or nullability changed)", short(fp), short(m.Fingerprint)), Err: ErrSchema}
	}
	for i, t := range tp.tables {
		if !slices.Equal(t.m.Deferred, v.fp.tables[i].m.Deferred) || t.m.Name != v.fp.tables[i].m.Name {
			return &ValidationError{Table: t.m.Name, Reason: "the restore order or cycle handling differs from the file's", Err: ErrSchema}
		}
	}
	v.fp.cat = cat
	v.fp.addTenantRefs()
	return nil
}

// prepare registers the key sets and foreign-key checks of every table and
// looks up the target tenant.
func (v *validator) prepare() error {
	p := v.fp
	tk := p.tenantKind()
	targ, err := tenantArg(tk, v.target)
	if err != nil {
		return err
	}
	if _, err := tenantArg(tk, v.source); err != nil {
		return &ValidationError{Reason: err.Error(), Err: ErrCorrupt}
	}
	if p.cat.Table(p.m.TenantTable) != nil {
		err := tenantExists(v.ctx, v.rq, p, targ)
		switch {
		case err == nil:
			v.dbTenant = true
		case errors.Is(err, ErrTenantNotFound) && v.o.AsTenant == "":
			// The file's root row will create it; checked at the end.
		default:
			return err
		}
	}
	addSet := func(t *ptable, cols []string, pk bool) string {
		name := setName(t.m.Name, cols)
		if _, ok := v.sets[name]; ok {
			if pk {
				for i := range v.tsets[t] {
					if v.tsets[t][i].name == name {
						v.tsets[t][i].pk = true
					}
				}
			}
			return name
		}
		idx := make([]int, len(cols))
		for i, c := range cols {
			idx[i] = slices.IndexFunc(t.m.Columns, func(cm ColumnManifest) bool { return cm.Name == c })
		}
		v.sets[name] = &keySet{}
		v.tsets[t] = append(v.tsets[t], tableSet{name: name, cols: idx, pk: pk})
		return name
	}
	for _, t := range p.tables {
		if len(t.m.PrimaryKey) > 0 {
			addSet(t, t.m.PrimaryKey, true)
		}
	}
	for ti, t := range p.tables {
		for _, fk := range t.cat.ForeignKeys {
			chk := fkCheck{fk: fk, deferred: true}
			for _, c := range fk.Columns {
				j := slices.IndexFunc(t.m.Columns, func(cm ColumnManifest) bool { return cm.Name == c })
				chk.cols = append(chk.cols, j)
				if !slices.Contains(t.deferred, j) {
					chk.deferred = false
				}
			}
			if len(t.m.TenantPath) > 0 {
				st := t.m.TenantPath[0]
				chk.path = slices.Equal(st.Columns, fk.Columns) && st.RefTable == fk.RefTable && slices.Equal(st.RefColumns, fk.RefColumns)
			}
			if parent := p.table(fk.RefTable); parent != nil && parent.m.Kind != "root" {
				chk.parent = parent
				chk.parentIx = slices.Index(p.tables, parent)
				chk.set = addSet(parent, fk.RefColumns, false)
				if chk.parentIx >= ti && !chk.deferred && fk.RefTable != t.m.Name {
					return &ValidationError{Table: t.m.Name, Reason: fmt.Sprintf("manifest: references %q, which the file restores later", fk.RefTable), Err: ErrCorrupt}
				}
			} else {
				chk.toRoot = fk.RefTable == p.m.TenantTable && len(fk.RefColumns) == 1 && fk.RefColumns[0] == p.m.TenantKey
				pc := p.cat.Table(fk.RefTable)
				if pc == nil {
					return &ValidationError{Table: t.m.Name, Reason: fmt.Sprintf("references %q, which is not in the database", fk.RefTable), Err: ErrSchema}
				}
				var b strings.Builder
				b.WriteString("SELECT 1 FROM " + p.d.Quote(fk.RefTable) + " WHERE ")
				for i, rc := range fk.RefColumns {
					col, _ := pc.Column(rc)
					k := kindOf(p.d, col.Type)
					chk.dbKinds = append(chk.dbKinds, k)
					if i > 0 {
						b.WriteString(" AND ")
					}
					b.WriteString(p.d.Quote(rc) + " = " + paramFor(p.d, k, col.Type, i+1))
				}
				chk.dbQuery = b.String()
			}
			v.checks[t] = append(v.checks[t], chk)
		}
	}
	v.needed = map[string]bool{}
	for t, chks := range v.checks {
		for _, chk := range chks {
			if chk.set != "" {
				v.needed[chk.set] = true
			}
		}
		if len(t.deferred) > 0 {
			v.needed[setName(t.m.Name, t.m.PrimaryKey)] = true
		}
	}
	return nil
}

// release drops every key set: Restore calls it once validation is over,
// so the sets do not stay in memory through the writes.
func (v *validator) release() {
	v.sets, v.tsets, v.checks, v.pending, v.dbCache = nil, nil, nil, nil, nil
}

func (v *validator) fail(t *ptable, row, line int64, sentinel error, format string, a ...any) error {
	name := ""
	if t != nil {
		name = t.m.Name
	}
	v.errs = append(v.errs, &ValidationError{Table: name, Row: row, Line: line, Reason: fmt.Sprintf(format, a...), Err: sentinel})
	if len(v.errs) >= maxErrors {
		return errors.Join(v.errs...)
	}
	return nil
}

func (v *validator) run() error {
	p := v.fp
	var rows int64
	for {
		rec, err := v.fr.read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return errors.Join(append(v.errs, err)...)
		}
		ti := slices.Index(p.tables, rec.table)
		if rec.fixup {
			ti = len(p.tables)
		} else if rec.row == 1 && v.o.Progress != nil {
			v.o.Progress(Progress{Phase: "validate", Table: rec.table.m.Name, Rows: rows})
		}
		if err := v.sealUpTo(ti); err != nil {
			return err
		}
		if rec.fixup {
			err = v.fixup(rec)
		} else {
			err = v.row(rec)
			rows++
			if v.o.Progress != nil && rows%progressEvery == 0 {
				v.o.Progress(Progress{Phase: "validate", Table: rec.table.m.Name, TableRows: rec.row, Rows: rows})
			}
		}
		if err != nil {
			return err
		}
		if rows%progressEvery == 0 {
			if err := v.ctx.Err(); err != nil {
				return err
			}
		}
	}
	if v.o.Progress != nil {
		v.o.Progress(Progress{Phase: "validate", Rows: rows})
	}
	if err := v.sealUpTo(len(p.tables)); err != nil {
		return err
	}
	for _, pr := range v.pending {
		if !v.sets[pr.chk.set].has(pr.h) {
			if err := v.fail(pr.t, pr.row, 0, ErrMissingParent, "%s references %s(%s), and no such row is in the file", strings.Join(pr.chk.fk.Columns, ", "), pr.chk.fk.RefTable, strings.Join(pr.chk.fk.RefColumns, ", ")); err != nil {
				return err
			}
		}
	}
	if !v.dbTenant && v.rootRows == 0 && p.cat.Table(p.m.TenantTable) != nil {
		return errors.Join(append(v.errs, fmt.Errorf("%w: tenant %q has no row in %s, and the file does not hold it", ErrTenantNotFound, v.target, p.m.TenantTable))...)
	}
	if len(v.errs) > 0 {
		return errors.Join(v.errs...)
	}
	return nil
}

// sealUpTo completes the key sets of every table before index ti.
func (v *validator) sealUpTo(ti int) error {
	for ; v.sealed < ti && v.sealed < len(v.fp.tables); v.sealed++ {
		t := v.fp.tables[v.sealed]
		for _, ts := range v.tsets[t] {
			s := v.sets[ts.name]
			if a, b := s.seal(v.needed[ts.name]); a != 0 {
				what := "primary key"
				if !ts.pk {
					what = "referenced key"
				}
				var cols []string
				for _, c := range ts.cols {
					cols = append(cols, t.m.Columns[c].Name)
				}
				if err := v.fail(t, b, 0, ErrDuplicateKey, "duplicate %s (%s): the same as row %d", what, strings.Join(cols, ", "), a); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (v *validator) row(rec *record) error {
	t, vals := rec.table, rec.values
	if t.m.Kind == "root" {
		v.rootRows++
		if v.rootRows > 1 {
			return v.fail(t, rec.row, rec.line, ErrTenant, "more than one row of the tenant table")
		}
	}
	if t.tenantCol >= 0 {
		if tv := vals[t.tenantCol]; tv.null || tv.s != v.source {
			got := "NULL"
			if !tv.null {
				got = fmt.Sprintf("%q", truncate(tv.s))
			}
			if err := v.fail(t, rec.row, rec.line, ErrTenant, "%s is %s, not the file's tenant %q", t.m.Columns[t.tenantCol].Name, got, v.source); err != nil {
				return err
			}
		}
	}
	for i, c := range t.m.Columns {
		if !c.Nullable && vals[i].null && !slices.Contains(t.deferred, i) {
			if err := v.fail(t, rec.row, rec.line, ErrCorrupt, "NULL in NOT NULL column %s", c.Name); err != nil {
				return err
			}
		}
	}
	for _, c := range t.deferred {
		if !vals[c].null {
			return v.fail(t, rec.row, rec.line, ErrCorrupt, "deferred column %s must be NULL in the row (its value belongs in the fixups)", t.m.Columns[c].Name)
		}
	}
	for _, ts := range v.tsets[t] {
		null := false
		for _, c := range ts.cols {
			null = null || vals[c].null
		}
		if null {
			if ts.pk {
				if err := v.fail(t, rec.row, rec.line, ErrCorrupt, "NULL in the primary key"); err != nil {
					return err
				}
			}
			continue
		}
		v.sets[ts.name].add(hashValues(v.seed, vals, ts.cols))
	}
	for i := range v.checks[t] {
		chk := &v.checks[t][i]
		if chk.deferred {
			continue
		}
		if err := v.checkFK(t, rec, chk, vals, chk.cols); err != nil {
			return err
		}
	}
	return nil
}

func (v *validator) fixup(rec *record) error {
	t, vals := rec.table, rec.values
	npk := len(t.pk)
	pkSet := v.sets[setName(t.m.Name, t.m.PrimaryKey)]
	if pkSet == nil || !pkSet.has(hashValues(v.seed, vals[:npk], nil)) {
		return v.fail(t, rec.row, rec.line, ErrMissingParent, "fixup for a primary key that has no row in the file")
	}
	for i := range v.checks[t] {
		chk := &v.checks[t][i]
		if !chk.deferred {
			continue
		}
		cols := make([]int, len(chk.cols))
		for j, c := range chk.cols {
			cols[j] = npk + slices.Index(t.deferred, c)
		}
		if err := v.checkFK(t, rec, chk, vals, cols); err != nil {
			return err
		}
	}
	return nil
}

// checkFK checks one foreign key of one row; cols index vals.
func (v *validator) checkFK(t *ptable, rec *record, chk *fkCheck, vals []value, cols []int) error {
	null := false
	for _, c := range cols {
		null = null || vals[c].null
	}
	if null {
		if chk.path {
			return v.fail(t, rec.row, rec.line, ErrMissingParent, "%s is NULL: the row does not belong to any tenant through %s", strings.Join(chk.fk.Columns, ", "), chk.fk.RefTable)
		}
		return nil
	}
	describe := func() string {
		var parts []string
		for i, c := range cols {
			parts = append(parts, chk.fk.Columns[i]+"="+truncate(vals[c].s))
		}
		return strings.Join(parts, ", ")
	}
	if chk.parent != nil {
		h := hashValues(v.seed, vals, cols)
		if chk.parentIx >= v.sealed {
			if len(v.pending) > 1<<20 {
				return v.fail(t, rec.row, rec.line, ErrCorrupt, "too many forward references")
			}
			v.pending = append(v.pending, pendingRef{t: t, row: rec.row, chk: chk, h: h})
			return nil
		}
		if !v.sets[chk.set].has(h) {
			why := "no such row is in the file"
			if chk.path {
				why = "no such row is in the file, so the row is not the tenant's"
			}
			return v.fail(t, rec.row, rec.line, ErrMissingParent, "%s references %s(%s), and %s", describe(), chk.fk.RefTable, strings.Join(chk.fk.RefColumns, ", "), why)
		}
		return nil
	}
	if chk.toRoot && vals[cols[0]].s == v.source {
		return nil
	}
	h := hashValues(v.seed, vals, cols) ^ uint64(len(chk.dbQuery))*0x9e3779b97f4a7c15
	ok, seen := v.dbCache[h]
	if !seen {
		args := make([]any, len(cols))
		for i, c := range cols {
			args[i] = argFor(v.fp.d, chk.dbKinds[i], vals[c])
		}
		var one int
		err := v.rq.QueryRowContext(v.ctx, chk.dbQuery, args...).Scan(&one)
		switch {
		case err == nil:
			ok = true
		case errors.Is(err, sql.ErrNoRows):
			ok = false
		default:
			return errors.Join(append(v.errs, fmt.Errorf("backup: table %q: look up %s: %w", t.m.Name, chk.fk.RefTable, err))...)
		}
		if len(v.dbCache) >= 1<<16 {
			clear(v.dbCache)
		}
		v.dbCache[h] = ok
	}
	if !ok {
		return v.fail(t, rec.row, rec.line, ErrMissingParent, "%s references %s(%s), which is neither in the file nor in the database", describe(), chk.fk.RefTable, strings.Join(chk.fk.RefColumns, ", "))
	}
	return nil
}
