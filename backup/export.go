package backup

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/sqldialect"
	"github.com/tenantkit/tenantkit/tenant"
)

// Export writes a backup of tenant id's rows to w and returns its manifest
// (with row counts and checksums). It reads the schema, then every row of
// the tenant from one consistent snapshot (REPEATABLE READ READ ONLY on
// PostgreSQL; START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY on
// MySQL/MariaDB; one read transaction on SQLite), one row at a time, so
// memory stays flat however large the tenant. The tenant id is bound as a
// parameter of the tenant column's type; an id that cannot be such a value
// is refused with ErrInvalidTenant, an id with no row in the tenant table
// with ErrTenantNotFound. On error, what was written to w is incomplete and
// is refused by Validate (no footer).
func Export(ctx context.Context, db *sql.DB, id tenant.ID, w io.Writer, opts *Options) (*Manifest, error) {
	o := opts.withDefaults()
	start := time.Now()
	cat, err := catalog.Load(ctx, db, sqldialect.Unknown, o.catalogOptions())
	if err != nil {
		return nil, fmt.Errorf("backup: export: %w", err)
	}
	gen, err := generatedColumns(ctx, db, cat)
	if err != nil {
		return nil, fmt.Errorf("backup: export: %w", err)
	}
	p, err := buildPlan(cat, gen)
	if err != nil {
		return nil, fmt.Errorf("backup: export: %w", err)
	}
	targ, err := tenantArg(p.tenantKind(), string(id))
	if err != nil {
		return nil, err
	}
	if p.d == sqldialect.MySQL {
		if err := markMariaDBJSON(ctx, db, p); err != nil {
			return nil, fmt.Errorf("backup: export: %w", err)
		}
	}
	m := p.m
	m.Codec = o.Format.String()
	m.Tenant = string(id)
	m.CreatedAt = time.Now().UTC().Truncate(time.Second)

	q, finish, err := snapshot(ctx, db, p.d)
	if err != nil {
		return nil, fmt.Errorf("backup: export: begin snapshot: %w", err)
	}
	defer func() { _ = finish(false) }()
	if o.Session != nil {
		if err := o.Session(ctx, q); err != nil {
			return nil, fmt.Errorf("backup: export: session: %w", err)
		}
	}
	if err := tenantExists(ctx, q, p, targ); err != nil {
		return nil, err
	}
	fw, err := newFileWriter(w, o.Format, p.d, !o.NoCompress, o.CompressionLevel)
	if err != nil {
		return nil, err
	}
	if err := fw.writeHeader(m); err != nil {
		return nil, fmt.Errorf("backup: export: write: %w", err)
	}
	var total int64
	for i, t := range p.tables {
		n, sum, err := exportTable(ctx, q, p, t, fw, targ, &o, &total)
		if err != nil {
			return nil, err
		}
		m.Tables[i].Rows, m.Tables[i].SHA256 = n, sum
	}
	for i, t := range p.tables {
		if len(t.deferred) == 0 {
			continue
		}
		n, sum, err := exportFixups(ctx, q, p, t, fw, targ)
		if err != nil {
			return nil, err
		}
		m.Tables[i].Fixups, m.Tables[i].FixupsSHA256 = n, sum
	}
	if err := fw.finish(); err != nil {
		return nil, fmt.Errorf("backup: export: write: %w", err)
	}
	if err := finish(true); err != nil {
		return nil, fmt.Errorf("backup: export: end snapshot: %w", err)
	}
	o.Logger.LogAttrs(ctx, slog.LevelInfo, "backup exported",
		slog.String("tenant_id", string(id)), slog.Int("tables", len(m.Tables)),
		slog.Int64("rows", m.TotalRows()), slog.Duration("elapsed", time.Since(start)))
	return m, nil
}

func tenantExists(ctx context.Context, q querier, p *plan, targ any) error {
	if p.cat.Table(p.m.TenantTable) == nil {
		return nil // no tenant table: nothing to check against
	}
	var one int
	err := q.QueryRowContext(ctx, "SELECT 1 FROM "+p.d.Quote(p.m.TenantTable)+" WHERE "+p.d.Quote(p.m.TenantKey)+" = "+p.d.Placeholder(1), targ).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: no row in %s with %s = %v", ErrTenantNotFound, p.m.TenantTable, p.m.TenantKey, targ)
	}
	if err != nil {
		return fmt.Errorf("backup: look up tenant: %w", err)
	}
	return nil
}

func exportTable(ctx context.Context, q querier, p *plan, t *ptable, fw *fileWriter, targ any, o *Options, total *int64) (int64, string, error) {
	if err := fw.begin(t.m.Name, false); err != nil {
		return 0, "", fmt.Errorf("backup: export: write: %w", err)
	}
	report := func(n int64) {
		if o.Progress != nil {
			o.Progress(Progress{Phase: "export", Table: t.m.Name, TableRows: n, Rows: *total})
		}
	}
	report(0)
	rows, err := q.QueryContext(ctx, p.exportQuery(t), targ)
	if err != nil {
		return 0, "", fmt.Errorf("backup: export table %q: %w", t.m.Name, err)
	}
	defer rows.Close()
	n := len(t.kinds)
	raw := make([]any, n)
	dest := make([]any, n)
	for i := range raw {
		dest[i] = &raw[i]
	}
	vals := make([]value, n)
	var count int64
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return 0, "", fmt.Errorf("backup: export table %q: %w", t.m.Name, err)
		}
		for i := range raw {
			v, err := canonical(p.d, t.kinds[i], raw[i])
			if err != nil {
				return 0, "", fmt.Errorf("backup: export table %q column %q: %w", t.m.Name, t.m.Columns[i].Name, err)
			}
			if p.d == sqldialect.MySQL && t.kinds[i] == kTimestampTZ && !v.null {
				v.s += "+00:00"
			}
			vals[i] = v
		}
		for _, c := range t.deferred {
			vals[c] = nullValue
		}
		if err := fw.row(t, vals); err != nil {
			return 0, "", fmt.Errorf("backup: export: write: %w", err)
		}
		count++
		*total++
		if count%progressEvery == 0 {
			report(count)
			if err := ctx.Err(); err != nil {
				return 0, "", err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return 0, "", fmt.Errorf("backup: export table %q: %w", t.m.Name, err)
	}
	report(count)
	c, sum, err := fw.end(t.m.Name, false)
	if err != nil {
		return 0, "", fmt.Errorf("backup: export: write: %w", err)
	}
	return c, sum, nil
}

func exportFixups(ctx context.Context, q querier, p *plan, t *ptable, fw *fileWriter, targ any) (int64, string, error) {
	if err := fw.begin(t.m.Name, true); err != nil {
		return 0, "", err
	}
	rows, err := q.QueryContext(ctx, p.fixupQuery(t), targ)
	if err != nil {
		return 0, "", fmt.Errorf("backup: export fixups of %q: %w", t.m.Name, err)
	}
	defer rows.Close()
	cols := append(append([]int(nil), t.pk...), t.deferred...)
	raw := make([]any, len(cols))
	dest := make([]any, len(cols))
	for i := range raw {
		dest[i] = &raw[i]
	}
	vals := make([]value, len(cols))
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return 0, "", fmt.Errorf("backup: export fixups of %q: %w", t.m.Name, err)
		}
		for i, c := range cols {
			v, err := canonical(p.d, t.kinds[c], raw[i])
			if err != nil {
				return 0, "", fmt.Errorf("backup: export fixups of %q: %w", t.m.Name, err)
			}
			if p.d == sqldialect.MySQL && t.kinds[c] == kTimestampTZ && !v.null {
				v.s += "+00:00"
			}
			vals[i] = v
		}
		if err := fw.fixup(t, vals); err != nil {
			return 0, "", err
		}
	}
	if err := rows.Err(); err != nil {
		return 0, "", fmt.Errorf("backup: export fixups of %q: %w", t.m.Name, err)
	}
	return fw.end(t.m.Name, true)
}

// snapshot opens the read transaction of an export and returns what to
// query through and how to end it (commit true: the export succeeded).
func snapshot(ctx context.Context, db *sql.DB, d sqldialect.Dialect) (querier, func(bool) error, error) {
	switch d {
	case sqldialect.Postgres:
		tx, err := db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
		if err != nil {
			return nil, nil, err
		}
		for _, s := range []string{"SET LOCAL TimeZone = 'UTC'", "SET LOCAL DateStyle = 'ISO, YMD'", "SET LOCAL bytea_output = 'hex'", "SET LOCAL extra_float_digits = 1", "SET LOCAL IntervalStyle = 'postgres'"} {
			if _, err := tx.ExecContext(ctx, s); err != nil {
				_ = tx.Rollback()
				return nil, nil, err
			}
		}
		return tx, txEnd(tx), nil
	case sqldialect.MySQL:
		// database/sql cannot ask for WITH CONSISTENT SNAPSHOT, so the
		// transaction is driven by statements on one pinned connection.
		conn, release, err := utcConn(ctx, db)
		if err != nil {
			return nil, nil, err
		}
		for _, s := range []string{"SET TRANSACTION ISOLATION LEVEL REPEATABLE READ", "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"} {
			if _, err := conn.ExecContext(ctx, s); err != nil {
				_ = release()
				return nil, nil, err
			}
		}
		done := false
		return conn, func(ok bool) error {
			if done {
				return nil
			}
			done = true
			end := "ROLLBACK"
			if ok {
				end = "COMMIT"
			}
			_, err := conn.ExecContext(context.WithoutCancel(ctx), end)
			if err2 := release(); err == nil && err2 != nil {
				err = err2
			}
			return err
		}, nil
	default:
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return nil, nil, err
		}
		return tx, txEnd(tx), nil
	}
}

// utcConn pins one MySQL connection and sets its session time zone to UTC,
// so timestamps are read and written without conversion. release puts the
// session's time zone back and returns the connection to the pool.
func utcConn(ctx context.Context, db *sql.DB) (conn *sql.Conn, release func() error, err error) {
	conn, err = db.Conn(ctx)
	if err != nil {
		return nil, nil, err
	}
	var oldTZ string
	if err := conn.QueryRowContext(ctx, "SELECT @@session.time_zone").Scan(&oldTZ); err != nil {
		conn.Close()
		return nil, nil, err
	}
	if _, err := conn.ExecContext(ctx, "SET time_zone = '+00:00'"); err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, func() error {
		defer conn.Close()
		_, err := conn.ExecContext(context.WithoutCancel(ctx), "SET time_zone = ?", oldTZ)
		return err
	}, nil
}

func txEnd(tx *sql.Tx) func(bool) error {
	return func(ok bool) error {
		if ok {
			return tx.Commit()
		}
		err := tx.Rollback()
		if errors.Is(err, sql.ErrTxDone) {
			return nil
		}
		return err
	}
}

// markMariaDBJSON gives MariaDB's JSON columns, which it declares as
// longtext with a json_valid check, the json kind, so JSON Lines embeds
// them raw as it does MySQL's and PostgreSQL's.
func markMariaDBJSON(ctx context.Context, db *sql.DB, p *plan) error {
	rows, err := db.QueryContext(ctx, `SELECT TABLE_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE()`)
	if err != nil {
		return nil // MySQL before 8.0.16 has no such view, and no JSON-as-text either
	}
	defer rows.Close()
	for rows.Next() {
		var table, clause string
		if err := rows.Scan(&table, &clause); err != nil {
			return err
		}
		t := p.table(table)
		if t == nil {
			continue
		}
		for i, c := range t.m.Columns {
			if t.kinds[i] == kText && strings.EqualFold(strings.TrimSpace(clause), "json_valid(`"+c.Name+"`)") {
				t.kinds[i] = kJSON
				p.m.Tables[slices.Index(p.tables, t)].Columns[i].Kind = kJSON.String()
			}
		}
	}
	return rows.Err()
}
