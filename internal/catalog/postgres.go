package catalog

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

func loadPostgres(ctx context.Context, db Querier, c *Catalog) error {
	schema := c.Opts.Schema
	if schema == "" {
		if err := db.QueryRowContext(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
			return fmt.Errorf("current_schema: %w", err)
		}
	}
	c.Schema = schema

	// Columns of every ordinary and partitioned table (not partitions).
	rows, err := db.QueryContext(ctx, `
SELECT c.relname, a.attname, lower(format_type(a.atttypid, a.atttypmod)), NOT a.attnotnull,
       a.attidentity <> '' OR coalesce(pg_get_expr(d.adbin, d.adrelid) LIKE 'nextval(%', false),
       d.adbin IS NOT NULL, coalesce(pg_get_expr(d.adbin, d.adrelid), ''),
       coalesce(pg_get_serial_sequence(quote_ident(n.nspname) || '.' || quote_ident(c.relname), a.attname), '')
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition
ORDER BY c.relname, a.attnum`, schema)
	if err != nil {
		return fmt.Errorf("columns: %w", err)
	}
	var cur *Table
	for rows.Next() {
		var tname, seq string
		var col Column
		if err := rows.Scan(&tname, &col.Name, &col.Type, &col.Nullable, &col.Identity, &col.HasDefault, &col.Default, &seq); err != nil {
			rows.Close()
			return fmt.Errorf("columns: %w", err)
		}
		if cur == nil || cur.Name != tname {
			cur = c.addTable(tname)
		}
		cur.Columns = append(cur.Columns, col)
		if seq != "" && cur.Sequence == "" {
			cur.Sequence = seq
		}
	}
	if err := closeRows(rows); err != nil {
		return fmt.Errorf("columns: %w", err)
	}
	tables := c.byName()

	// Indexes, columns in key order; expression parts as their text.
	rows, err = db.QueryContext(ctx, `
SELECT t.relname, i.relname, x.indisunique, x.indisprimary, x.indpred IS NOT NULL, k.ord,
       coalesce(a.attname, pg_get_indexdef(x.indexrelid, k.ord::int, true)),
       am.amname, NOT (x.indisvalid AND x.indisready)
FROM pg_index x
JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_am am ON am.oid = i.relam
JOIN pg_namespace n ON n.oid = t.relnamespace
CROSS JOIN LATERAL unnest(x.indkey[0:x.indnkeyatts-1]) WITH ORDINALITY AS k(attnum, ord)
LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum AND k.attnum > 0
WHERE n.nspname = $1 AND t.relkind IN ('r', 'p')
ORDER BY t.relname, i.relname, k.ord`, schema)
	if err != nil {
		return fmt.Errorf("indexes: %w", err)
	}
	var ix *Index
	var ixTable string
	for rows.Next() {
		var tname, iname, col, method string
		var unique, primary, partial, invalid bool
		var ord int
		if err := rows.Scan(&tname, &iname, &unique, &primary, &partial, &ord, &col, &method, &invalid); err != nil {
			rows.Close()
			return fmt.Errorf("indexes: %w", err)
		}
		t := tables[tname]
		if t == nil {
			continue
		}
		if ix == nil || ixTable != tname || ix.Name != iname {
			t.Indexes = append(t.Indexes, Index{Name: iname, Unique: unique, Primary: primary, Partial: partial, Method: method, Invalid: invalid})
			ix, ixTable = &t.Indexes[len(t.Indexes)-1], tname
		}
		ix.Columns = append(ix.Columns, col)
		if primary {
			t.PrimaryKey = append(t.PrimaryKey, col)
		}
	}
	if err := closeRows(rows); err != nil {
		return fmt.Errorf("indexes: %w", err)
	}

	// Foreign keys with their column pairs in constraint order.
	rows, err = db.QueryContext(ctx, `
SELECT t.relname, con.conname, r.relname, con.condeferrable, con.condeferred, con.convalidated,
       con.confdeltype, ca.attname, ra.attname, CASE WHEN rn.nspname = n.nspname THEN '' ELSE rn.nspname END
FROM pg_constraint con
JOIN pg_class t ON t.oid = con.conrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
JOIN pg_class r ON r.oid = con.confrelid
JOIN pg_namespace rn ON rn.oid = r.relnamespace
CROSS JOIN LATERAL unnest(con.conkey, con.confkey) WITH ORDINALITY AS k(col, refcol, ord)
JOIN pg_attribute ca ON ca.attrelid = con.conrelid AND ca.attnum = k.col
JOIN pg_attribute ra ON ra.attrelid = con.confrelid AND ra.attnum = k.refcol
WHERE con.contype = 'f' AND n.nspname = $1 AND con.conparentid = 0
ORDER BY t.relname, con.conname, k.ord`, schema)
	if err != nil {
		return fmt.Errorf("foreign keys: %w", err)
	}
	var fk *ForeignKey
	for rows.Next() {
		var tname, cname, rname, del, col, refcol, rschema string
		var deferrable, deferred, validated bool
		if err := rows.Scan(&tname, &cname, &rname, &deferrable, &deferred, &validated, &del, &col, &refcol, &rschema); err != nil {
			rows.Close()
			return fmt.Errorf("foreign keys: %w", err)
		}
		t := tables[tname]
		if t == nil {
			continue
		}
		if fk == nil || fk.Table != tname || fk.Name != cname {
			t.ForeignKeys = append(t.ForeignKeys, ForeignKey{
				Name: cname, Table: tname, RefTable: rname, RefSchema: rschema,
				Deferrable: deferrable, InitiallyDeferred: deferred, Validated: validated,
				OnDelete: pgAction(del),
			})
			fk = &t.ForeignKeys[len(t.ForeignKeys)-1]
		}
		fk.Columns = append(fk.Columns, col)
		fk.RefColumns = append(fk.RefColumns, refcol)
	}
	return closeRows(rows)
}

func pgAction(code string) string {
	switch code {
	case "r":
		return "RESTRICT"
	case "c":
		return "CASCADE"
	case "n":
		return "SET NULL"
	case "d":
		return "SET DEFAULT"
	}
	return "NO ACTION"
}

func closeRows(rows *sql.Rows) error {
	err := rows.Err()
	if cerr := rows.Close(); err == nil {
		err = cerr
	}
	return err
}

func upper(s string) string { return strings.ToUpper(strings.TrimSpace(s)) }
