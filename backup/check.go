package backup

import (
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/sqldialect"
)

// CheckError lists the tenant-check violations found after a restore's
// writes (the transaction was rolled back). It wraps ErrCheck.
type CheckError struct {
	Violations []string
}

func (e *CheckError) Error() string {
	return "backup: tenant integrity check failed after restore (rolled back): " + strings.Join(e.Violations, "; ")
}

// Unwrap returns ErrCheck.
func (e *CheckError) Unwrap() error { return ErrCheck }

// check runs the tenant checks on the restored rows, inside the restore's
// transaction: for every foreign key of every restored table, the
// tenant's rows with no parent (orphans, which a database with foreign-key
// enforcement off would let through) and rows whose parent belongs to
// another tenant (cross-tenant references).
func (rs *restorer) check() error {
	p, d := rs.p, rs.p.d
	rs.progress("check", "", 0)
	var bad []string
	for _, t := range p.tables {
		if t.cat == nil {
			continue
		}
		for _, fk := range t.cat.ForeignKeys {
			parent := p.cat.Table(fk.RefTable)
			if parent == nil {
				continue
			}
			var on, notNull []string
			for i := range fk.Columns {
				on = append(on, "p."+d.Quote(fk.RefColumns[i])+" = c."+d.Quote(fk.Columns[i]))
				notNull = append(notNull, "c."+d.Quote(fk.Columns[i])+" IS NOT NULL")
			}
			owner := strings.ReplaceAll(p.ownerPredicate(t, d.Placeholder(1)), d.Quote(t.m.Name)+".", "c.")
			if t.m.Kind == "tenant" || t.m.Kind == "root" {
				owner = "c." + owner
			}
			orphans := "SELECT COUNT(*) FROM " + t.qname + " c WHERE " + owner + " AND " + strings.Join(notNull, " AND ") +
				" AND NOT EXISTS (SELECT 1 FROM " + d.Quote(fk.RefTable) + " p WHERE " + strings.Join(on, " AND ") + ")"
			n, err := rs.count(orphans)
			if err != nil {
				return fmt.Errorf("backup: restore: check %s: %w", fk.Name, err)
			}
			if n > 0 {
				bad = append(bad, fmt.Sprintf("%s: %d rows reference a missing %s row (%s)", t.m.Name, n, fk.RefTable, fk.Name))
			}
			if t.m.Kind == "tenant" && parent.Kind == catalog.TenantOwned {
				tc := d.Quote(p.m.TenantColumn)
				cross := "SELECT COUNT(*) FROM " + t.qname + " c JOIN " + d.Quote(fk.RefTable) + " p ON " + strings.Join(on, " AND ") +
					" WHERE c." + tc + " = " + d.Placeholder(1) + " AND p." + tc + " <> c." + tc
				n, err := rs.count(cross)
				if err != nil {
					return fmt.Errorf("backup: restore: check %s: %w", fk.Name, err)
				}
				if n > 0 {
					bad = append(bad, fmt.Sprintf("%s: %d rows reference a %s row of another tenant (%s)", t.m.Name, n, fk.RefTable, fk.Name))
				}
			}
		}
	}
	if len(bad) > 0 {
		return &CheckError{Violations: bad}
	}
	return nil
}

func (rs *restorer) count(q string) (int64, error) {
	var n int64
	err := rs.q.QueryRowContext(rs.ctx, q, rs.targ).Scan(&n)
	return n, err
}

// identity returns the identity column of a restored table, if any.
func identity(t *ptable) (catalog.Column, bool) {
	if t.cat == nil {
		return catalog.Column{}, false
	}
	for _, c := range t.cat.Columns {
		if c.Identity {
			return c, true
		}
	}
	return catalog.Column{}, false
}

// sequencesInTx raises SQLite's AUTOINCREMENT counters inside the
// transaction (SQLite raises them itself on explicit inserts; this makes
// sure, and rolls back with everything else).
func (rs *restorer) sequencesInTx() error {
	if rs.p.d != sqldialect.SQLite {
		return nil
	}
	var has int
	if err := rs.q.QueryRowContext(rs.ctx, "SELECT COUNT(*) FROM sqlite_schema WHERE name = 'sqlite_sequence'").Scan(&has); err != nil || has == 0 {
		return err
	}
	for _, t := range rs.p.tables {
		col, ok := identity(t)
		if !ok {
			continue
		}
		q := fmt.Sprintf("UPDATE sqlite_sequence SET seq = (SELECT MAX(%[1]s) FROM %[2]s) WHERE name = ? AND seq < (SELECT MAX(%[1]s) FROM %[2]s)", rs.p.d.Quote(col.Name), t.qname)
		res, err := rs.q.ExecContext(rs.ctx, q, t.m.Name)
		if err != nil {
			return fmt.Errorf("backup: restore: raise sqlite_sequence of %q: %w", t.m.Name, err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			rs.rep.Sequences = append(rs.rep.Sequences, "sqlite_sequence "+t.m.Name)
		}
	}
	return nil
}

// sequencesBeforeCommit raises PostgreSQL sequences behind the restored
// keys: setval only when MAX(column) is past the sequence's last value.
func (rs *restorer) sequencesBeforeCommit() error {
	if rs.p.d != sqldialect.Postgres {
		return nil
	}
	for _, t := range rs.p.tables {
		col, ok := identity(t)
		if !ok || t.cat.Sequence == "" || kindOf(sqldialect.Postgres, col.Type) != kInt {
			continue
		}
		var maxv sql.NullInt64
		if err := rs.q.QueryRowContext(rs.ctx, "SELECT MAX("+rs.p.d.Quote(col.Name)+") FROM "+t.qname).Scan(&maxv); err != nil {
			return fmt.Errorf("backup: restore: max of %q: %w", t.m.Name, err)
		}
		if !maxv.Valid {
			continue
		}
		var last int64
		var called bool
		if err := rs.q.QueryRowContext(rs.ctx, "SELECT last_value, is_called FROM "+t.cat.Sequence).Scan(&last, &called); err != nil {
			return fmt.Errorf("backup: restore: read sequence %s: %w", t.cat.Sequence, err)
		}
		if !called {
			last--
		}
		if maxv.Int64 <= last {
			continue
		}
		if _, err := rs.q.ExecContext(rs.ctx, "SELECT setval($1::regclass, $2, true)", t.cat.Sequence, maxv.Int64); err != nil {
			return fmt.Errorf("backup: restore: raise sequence %s: %w", t.cat.Sequence, err)
		}
		rs.rep.Sequences = append(rs.rep.Sequences, t.cat.Sequence+": "+strconv.FormatInt(maxv.Int64, 10))
	}
	return nil
}

// sequencesAfterCommit makes sure MySQL/MariaDB AUTO_INCREMENT counters
// are past the restored keys. InnoDB raises them on explicit inserts, so
// this normally finds nothing to do; when it does, ALTER TABLE is DDL and
// commits implicitly, which is why it runs after the restore committed.
func (rs *restorer) sequencesAfterCommit(db *sql.DB) error {
	if rs.p.d != sqldialect.MySQL {
		return nil
	}
	for _, t := range rs.p.tables {
		col, ok := identity(t)
		if !ok {
			continue
		}
		var maxv sql.NullInt64
		if err := db.QueryRowContext(rs.ctx, "SELECT MAX("+rs.p.d.Quote(col.Name)+") FROM "+t.qname).Scan(&maxv); err != nil || !maxv.Valid {
			continue
		}
		var next sql.NullInt64
		err := db.QueryRowContext(rs.ctx, "SELECT AUTO_INCREMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?", t.m.Name).Scan(&next)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("backup: restore committed; read AUTO_INCREMENT of %q: %w", t.m.Name, err)
		}
		if next.Valid && next.Int64 > maxv.Int64 {
			continue
		}
		if _, err := db.ExecContext(rs.ctx, "ALTER TABLE "+t.qname+" AUTO_INCREMENT = "+strconv.FormatInt(maxv.Int64+1, 10)); err != nil {
			return fmt.Errorf("backup: restore committed; raise AUTO_INCREMENT of %q: %w", t.m.Name, err)
		}
		rs.rep.Sequences = append(rs.rep.Sequences, t.m.Name+".AUTO_INCREMENT: "+strconv.FormatInt(maxv.Int64+1, 10))
	}
	return nil
}
