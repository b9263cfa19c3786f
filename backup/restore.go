package backup

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tenantkit/tenantkit/internal/sqldialect"
	"github.com/tenantkit/tenantkit/tenant"
)

// Report is what a Restore did (or, for a dry run, would have done). It is
// a plain value.
type Report struct {
	Manifest *Manifest
	// Tenant is the tenant restored into (AsTenant, or the file's).
	Tenant string
	DryRun bool
	Tables []TableReport
	// Sequences lists the sequences or counters raised, as "name: value".
	Sequences []string
	Elapsed   time.Duration
}

// TableReport counts one table's rows.
type TableReport struct {
	Name     string
	Deleted  int64
	Inserted int64
	Fixups   int64
}

// Restore replaces tenant id's rows in db with the rows of the backup r,
// atomically. r is read twice, which is why it must seek: first the whole
// file is validated (see Validate) and nothing is written unless it is
// clean; then, in one transaction, the tenant's rows are deleted children
// first, the file's rows inserted parents first in multi-row INSERT
// batches (foreign keys on a cycle are written NULL and set by UPDATE once
// every row is in; nothing disables triggers or foreign-key checks), the
// tenant checks run (orphans and cross-tenant references of every
// restored table), and the transaction commits only if they are clean. A
// file that changes between the two reads fails its checksums on the
// second and is rolled back (ErrChanged).
//
// Sequences are raised to cover the restored keys and never lowered:
// setval(seq, max) on PostgreSQL when the sequence is behind, right before
// the commit (setval is not transactional; a failed commit leaves a
// sequence raised, which is harmless); on SQLite sqlite_sequence inside
// the transaction; on MySQL/MariaDB InnoDB raises AUTO_INCREMENT itself on
// every explicit insert, and Restore checks it after the commit, running
// ALTER TABLE ... AUTO_INCREMENT (DDL, which commits implicitly) only for
// a table still behind.
//
// With opts.DryRun the whole restore runs and is always rolled back; the
// Report has the per-table counts. With opts.AsTenant the rows go to
// another tenant (see RestoreOptions).
func Restore(ctx context.Context, db *sql.DB, id tenant.ID, r io.ReadSeeker, opts *RestoreOptions) (*Report, error) {
	o := opts.withDefaults()
	start := time.Now()
	v, err := validate(ctx, r, db, id, &o)
	if err != nil {
		return nil, err
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("backup: restore: rewind: %w", err)
	}
	fr, err := newFileReader(r, o.MaxLineBytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrChanged, err)
	}
	if fr.header != v.header {
		return nil, fmt.Errorf("%w: the header differs from the one validated", ErrChanged)
	}
	v.release()
	p := v.fp
	rs := &restorer{ctx: ctx, p: p, o: &o, v: v, fr: fr, rep: &Report{Manifest: p.m, Tenant: v.target, DryRun: o.DryRun}}
	for _, t := range p.tables {
		rs.rep.Tables = append(rs.rep.Tables, TableReport{Name: t.m.Name})
	}
	rs.targ, _ = tenantArg(p.tenantKind(), v.target)
	q, end, err := rs.begin(db)
	if err != nil {
		return nil, fmt.Errorf("backup: restore: begin: %w", err)
	}
	rs.q = q
	committed := false
	defer func() {
		if !committed {
			_ = end(false)
		}
	}()
	if o.Session != nil {
		if err := o.Session(ctx, q); err != nil {
			return nil, fmt.Errorf("backup: restore: session: %w", err)
		}
	}
	if err := rs.deleteAll(); err != nil {
		return nil, err
	}
	if err := rs.insertAll(); err != nil {
		return nil, err
	}
	if err := rs.sequencesInTx(); err != nil {
		return nil, err
	}
	if err := rs.check(); err != nil {
		return nil, err
	}
	if o.DryRun {
		if err := end(false); err != nil {
			return nil, fmt.Errorf("backup: restore: rollback: %w", err)
		}
		committed = true
		rs.rep.Elapsed = time.Since(start)
		return rs.rep, nil
	}
	if err := rs.sequencesBeforeCommit(); err != nil {
		return nil, err
	}
	if err := end(true); err != nil {
		return nil, fmt.Errorf("backup: restore: commit: %w", err)
	}
	committed = true
	if err := rs.sequencesAfterCommit(db); err != nil {
		return rs.rep, err
	}
	rs.rep.Elapsed = time.Since(start)
	o.Logger.LogAttrs(ctx, slog.LevelInfo, "backup restored",
		slog.String("tenant_id", v.target), slog.String("source_tenant", v.source),
		slog.Int64("rows", p.m.TotalRows()), slog.Duration("elapsed", rs.rep.Elapsed))
	return rs.rep, nil
}

type restorer struct {
	ctx  context.Context
	p    *plan
	o    *RestoreOptions
	v    *validator
	fr   *fileReader
	q    querier
	targ any
	rep  *Report
	rows int64
}

func (rs *restorer) begin(db *sql.DB) (querier, func(bool) error, error) {
	ctx := rs.ctx
	switch rs.p.d {
	case sqldialect.MySQL:
		conn, release, err := utcConn(ctx, db)
		if err != nil {
			return nil, nil, err
		}
		tx, err := conn.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead})
		if err != nil {
			_ = release()
			return nil, nil, err
		}
		done := false
		return tx, func(ok bool) error {
			if done {
				return nil
			}
			done = true
			var err error
			if ok {
				err = tx.Commit()
			} else if err = tx.Rollback(); errors.Is(err, sql.ErrTxDone) {
				err = nil
			}
			_ = release() // the outcome reported is the transaction's
			return err
		}, nil
	case sqldialect.Postgres:
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return nil, nil, err
		}
		if _, err := tx.ExecContext(ctx, "SET LOCAL TimeZone = 'UTC'"); err != nil {
			_ = tx.Rollback()
			return nil, nil, err
		}
		return tx, txEnd(tx), nil
	default:
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return nil, nil, err
		}
		return tx, txEnd(tx), nil
	}
}

func (rs *restorer) progress(phase, table string, tableRows int64) {
	if rs.o.Progress != nil {
		rs.o.Progress(Progress{Phase: phase, Table: table, TableRows: tableRows, Rows: rs.rows, TotalRows: rs.p.m.TotalRows()})
	}
}

// deleteAll removes the target tenant's rows, children first: foreign
// keys on a cycle are first set to NULL so the order holds. The tenant
// table's row is kept.
func (rs *restorer) deleteAll() error {
	p, d := rs.p, rs.p.d
	for _, t := range p.tables {
		if len(t.deferred) == 0 || t.m.Kind == "root" {
			continue
		}
		var sets []string
		for _, c := range t.deferred {
			sets = append(sets, d.Quote(t.m.Columns[c].Name)+" = NULL")
		}
		q := "UPDATE " + t.qname + " SET " + strings.Join(sets, ", ") + " WHERE " + p.ownerPredicate(t, d.Placeholder(1))
		if _, err := rs.q.ExecContext(rs.ctx, q, rs.targ); err != nil {
			return fmt.Errorf("backup: restore: clear cyclic keys of %q: %w", t.m.Name, err)
		}
	}
	for i := len(p.tables) - 1; i >= 0; i-- {
		t := p.tables[i]
		if t.m.Kind == "root" {
			continue
		}
		rs.progress("delete", t.m.Name, 0)
		res, err := rs.q.ExecContext(rs.ctx, "DELETE FROM "+t.qname+" WHERE "+p.ownerPredicate(t, d.Placeholder(1)), rs.targ)
		if err != nil {
			return fmt.Errorf("backup: restore: delete the tenant's rows of %q: %w", t.m.Name, err)
		}
		n, _ := res.RowsAffected()
		rs.rep.Tables[i].Deleted = n
	}
	return nil
}

// insertAll streams the file a second time and writes it.
func (rs *restorer) insertAll() error {
	p := rs.p
	var b *batch
	flush := func() error {
		if b == nil {
			return nil
		}
		err := b.flush(rs)
		return err
	}
	for {
		rec, err := rs.fr.read()
		if errors.Is(err, io.EOF) {
			if err := rs.sameAsValidated(); err != nil {
				return err
			}
			break
		}
		if err != nil {
			return fmt.Errorf("%w: %w", ErrChanged, err)
		}
		t := p.table(rec.table.m.Name) // the validated plan's table, with its catalog
		ti := slices.Index(p.tables, t)
		if rec.fixup {
			if err := flush(); err != nil {
				return err
			}
			b = nil
			if err := rs.fixup(t, rec.values); err != nil {
				return fmt.Errorf("backup: restore: table %q row %d: %w", t.m.Name, rec.row, err)
			}
			rs.rep.Tables[ti].Fixups++
			continue
		}
		rs.rewrite(t, rec.values)
		if t.m.Kind == "root" {
			if err := rs.root(t, rec.values); err != nil {
				return err
			}
			rs.rows++
			continue
		}
		if b == nil || b.t != t {
			if err := flush(); err != nil {
				return err
			}
			b = newBatch(p, t, rs.o.BatchRows)
			rs.progress("insert", t.m.Name, 0)
		}
		b.add(p, rec.values)
		rs.rep.Tables[ti].Inserted++
		rs.rows++
		if b.full() {
			if err := flush(); err != nil {
				return err
			}
			rs.progress("insert", t.m.Name, rs.rep.Tables[ti].Inserted)
			if err := rs.ctx.Err(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	rs.progress("insert", "", 0)
	return nil
}

// sameAsValidated compares the counts and SHA-256 of every section the
// write pass read with those the validation pass verified: a file swapped
// in between for another self-consistent one (same header, other rows) is
// refused before the commit.
func (rs *restorer) sameAsValidated() error {
	read := rs.fr.manifest().Tables
	for i, want := range rs.p.m.Tables {
		got := read[i]
		if got.Rows != want.Rows || got.SHA256 != want.SHA256 || got.Fixups != want.Fixups || got.FixupsSHA256 != want.FixupsSHA256 {
			return fmt.Errorf("%w: table %q differs from the one validated", ErrChanged, want.Name)
		}
	}
	return nil
}

// rewrite replaces the file's tenant with the target tenant in every
// tenant reference of a row (AsTenant only).
func (rs *restorer) rewrite(t *ptable, vals []value) {
	if rs.v.source == rs.v.target {
		return
	}
	for _, c := range t.tenantRefs {
		if !vals[c].null && vals[c].s == rs.v.source {
			vals[c] = value{s: rs.v.target}
		}
	}
}

// root restores the tenant's own row of the tenant table: updated in
// place when it exists (deleting it would cascade to tables outside the
// backup), inserted when it does not. With AsTenant it is left alone.
func (rs *restorer) root(t *ptable, vals []value) error {
	if rs.v.source != rs.v.target {
		return nil
	}
	p, d := rs.p, rs.p.d
	ti := slices.Index(p.tables, t)
	if rs.v.dbTenant {
		var sets []string
		var args []any
		for i, c := range t.m.Columns {
			if i == t.tenantCol {
				continue
			}
			args = append(args, p.arg(t, i, vals[i]))
			sets = append(sets, d.Quote(c.Name)+" = "+p.param(t, i, len(args)))
		}
		if len(sets) == 0 {
			return nil
		}
		args = append(args, p.arg(t, t.tenantCol, vals[t.tenantCol]))
		q := "UPDATE " + t.qname + " SET " + strings.Join(sets, ", ") + " WHERE " + d.Quote(p.m.TenantKey) + " = " + p.param(t, t.tenantCol, len(args))
		if _, err := rs.q.ExecContext(rs.ctx, q, args...); err != nil {
			return fmt.Errorf("backup: restore: update the tenant's row of %q: %w", t.m.Name, err)
		}
		rs.rep.Tables[ti].Inserted++
		return nil
	}
	b := newBatch(p, t, 1)
	b.add(p, vals)
	rs.rep.Tables[ti].Inserted++
	return b.flush(rs)
}

func (rs *restorer) fixup(t *ptable, vals []value) error {
	p, d := rs.p, rs.p.d
	var sets, where []string
	var args []any
	for i, c := range t.deferred {
		args = append(args, p.arg(t, c, vals[len(t.pk)+i]))
		sets = append(sets, d.Quote(t.m.Columns[c].Name)+" = "+p.param(t, c, len(args)))
	}
	for i, c := range t.pk {
		args = append(args, p.arg(t, c, vals[i]))
		where = append(where, d.Quote(t.m.Columns[c].Name)+" = "+p.param(t, c, len(args)))
	}
	res, err := rs.q.ExecContext(rs.ctx, "UPDATE "+t.qname+" SET "+strings.Join(sets, ", ")+" WHERE "+strings.Join(where, " AND "), args...)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err == nil && n != 1 {
		return fmt.Errorf("fixup updated %d rows, want 1", n)
	}
	return nil
}

// batch accumulates rows of one table for a multi-row INSERT (PostgreSQL:
// one INSERT ... SELECT FROM unnest of one text array per column).
type batch struct {
	t    *ptable
	max  int
	n    int
	args []any       // MySQL, SQLite: row-major
	cols [][]*string // PostgreSQL: one array per column
}

// Placeholder limits: 65535 on PostgreSQL and MySQL, 32766 on SQLite.
func newBatch(p *plan, t *ptable, rows int) *batch {
	if rows <= 0 {
		rows = 1000
		if p.d == sqldialect.Postgres {
			rows = 5000
		}
	}
	limit := 65535
	if p.d == sqldialect.SQLite {
		limit = 32766
	}
	if p.d != sqldialect.Postgres && rows*len(t.kinds) > limit {
		rows = max(1, limit/len(t.kinds))
	}
	b := &batch{t: t, max: rows}
	if p.d == sqldialect.Postgres {
		b.cols = make([][]*string, len(t.kinds))
		for i := range b.cols {
			b.cols[i] = make([]*string, 0, rows)
		}
	} else {
		b.args = make([]any, 0, rows*len(t.kinds))
	}
	return b
}

func (b *batch) full() bool { return b.n >= b.max }

func (b *batch) add(p *plan, vals []value) {
	b.n++
	if b.cols == nil {
		for i, v := range vals {
			b.args = append(b.args, p.arg(b.t, i, v))
		}
		return
	}
	for i, v := range vals {
		if v.null {
			b.cols[i] = append(b.cols[i], nil)
			continue
		}
		s := v.s
		if b.t.kinds[i] == kBytes {
			s = pgBytea(s)
		}
		b.cols[i] = append(b.cols[i], &s)
	}
}

func pgBytea(raw string) string {
	const hex = "0123456789abcdef"
	out := make([]byte, 2, 2+2*len(raw))
	out[0], out[1] = '\\', 'x'
	for i := 0; i < len(raw); i++ {
		out = append(out, hex[raw[i]>>4], hex[raw[i]&0xf])
	}
	return string(out)
}

func (b *batch) flush(rs *restorer) error {
	if b.n == 0 {
		return nil
	}
	t := b.t
	var q strings.Builder
	q.WriteString("INSERT INTO " + t.qname + " (" + t.qcols + ") ")
	var args []any
	if b.cols != nil {
		// Keys are restored as they were, GENERATED ALWAYS identities too.
		q.WriteString("OVERRIDING SYSTEM VALUE SELECT ")
		for i := range t.kinds {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("CAST(u.c" + strconv.Itoa(i) + " AS " + pgType(t, i) + ")")
		}
		q.WriteString(" FROM unnest(")
		for i := range t.kinds {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("$" + strconv.Itoa(i+1) + "::text[]")
			args = append(args, b.cols[i])
		}
		q.WriteString(") AS u(")
		for i := range t.kinds {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("c" + strconv.Itoa(i))
		}
		q.WriteString(")")
	} else {
		q.WriteString("VALUES ")
		row := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(t.kinds)), ", ") + ")"
		for i := 0; i < b.n; i++ {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString(row)
		}
		args = b.args
	}
	if _, err := rs.q.ExecContext(rs.ctx, q.String(), args...); err != nil {
		return fmt.Errorf("backup: restore: insert into %q: %w", t.m.Name, err)
	}
	b.n = 0
	b.args = b.args[:0]
	for i := range b.cols {
		b.cols[i] = b.cols[i][:0]
	}
	return nil
}
