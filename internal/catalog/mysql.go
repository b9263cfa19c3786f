package catalog

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

func loadMySQL(ctx context.Context, db Querier, c *Catalog) error {
	schema := c.Opts.Schema
	if schema == "" {
		var s sql.NullString
		if err := db.QueryRowContext(ctx, "SELECT DATABASE()").Scan(&s); err != nil {
			return fmt.Errorf("DATABASE(): %w", err)
		}
		if !s.Valid || s.String == "" {
			return fmt.Errorf("no database selected and Options.Schema is empty")
		}
		schema = s.String
	}
	c.Schema = schema

	rows, err := db.QueryContext(ctx, `
SELECT c.TABLE_NAME, c.COLUMN_NAME, c.COLUMN_TYPE, c.IS_NULLABLE, c.EXTRA, c.COLUMN_DEFAULT
FROM information_schema.COLUMNS c
JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME
WHERE c.TABLE_SCHEMA = ? AND t.TABLE_TYPE = 'BASE TABLE'
ORDER BY c.TABLE_NAME, c.ORDINAL_POSITION`, schema)
	if err != nil {
		return fmt.Errorf("columns: %w", err)
	}
	var cur *Table
	for rows.Next() {
		var tname, cname, ctype, nullable, extra string
		var def sql.NullString
		if err := rows.Scan(&tname, &cname, &ctype, &nullable, &extra, &def); err != nil {
			rows.Close()
			return fmt.Errorf("columns: %w", err)
		}
		if cur == nil || cur.Name != tname {
			cur = c.addTable(tname)
		}
		col := Column{
			Name:     cname,
			Type:     strings.ToLower(ctype),
			Nullable: nullable == "YES",
			Identity: strings.Contains(strings.ToLower(extra), "auto_increment"),
		}
		// MariaDB reports a NULL default as the text NULL; MySQL as SQL NULL.
		if def.Valid && !(def.String == "NULL" && col.Nullable) {
			col.Default, col.HasDefault = def.String, true
		}
		cur.Columns = append(cur.Columns, col)
	}
	if err := closeRows(rows); err != nil {
		return fmt.Errorf("columns: %w", err)
	}
	tables := c.byName()

	rows, err = db.QueryContext(ctx, `
SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, COLUMN_NAME, INDEX_TYPE
FROM information_schema.STATISTICS
WHERE TABLE_SCHEMA = ?
ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX`, schema)
	if err != nil {
		return fmt.Errorf("indexes: %w", err)
	}
	var ix *Index
	var ixTable string
	for rows.Next() {
		var tname, iname, method string
		var col sql.NullString
		var nonUnique, seq int
		if err := rows.Scan(&tname, &iname, &nonUnique, &seq, &col, &method); err != nil {
			rows.Close()
			return fmt.Errorf("indexes: %w", err)
		}
		t := tables[tname]
		if t == nil {
			continue
		}
		if ix == nil || ixTable != tname || ix.Name != iname {
			t.Indexes = append(t.Indexes, Index{Name: iname, Unique: nonUnique == 0, Primary: iname == "PRIMARY", Method: strings.ToLower(method)})
			ix, ixTable = &t.Indexes[len(t.Indexes)-1], tname
		}
		name := col.String // NULL for a functional key part (MySQL 8)
		if !col.Valid {
			name = "(expression)"
		}
		ix.Columns = append(ix.Columns, name)
		if ix.Primary {
			t.PrimaryKey = append(t.PrimaryKey, name)
		}
	}
	if err := closeRows(rows); err != nil {
		return fmt.Errorf("indexes: %w", err)
	}

	rows, err = db.QueryContext(ctx, `
SELECT k.TABLE_NAME, k.CONSTRAINT_NAME, k.REFERENCED_TABLE_NAME, k.COLUMN_NAME, k.REFERENCED_COLUMN_NAME, r.DELETE_RULE,
       CASE WHEN k.REFERENCED_TABLE_SCHEMA = k.TABLE_SCHEMA THEN '' ELSE k.REFERENCED_TABLE_SCHEMA END
FROM information_schema.KEY_COLUMN_USAGE k
JOIN information_schema.REFERENTIAL_CONSTRAINTS r
  ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME AND r.TABLE_NAME = k.TABLE_NAME
WHERE k.TABLE_SCHEMA = ? AND k.REFERENCED_TABLE_NAME IS NOT NULL
ORDER BY k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION`, schema)
	if err != nil {
		return fmt.Errorf("foreign keys: %w", err)
	}
	var fk *ForeignKey
	for rows.Next() {
		var tname, cname, rname, col, refcol, del, rschema string
		if err := rows.Scan(&tname, &cname, &rname, &col, &refcol, &del, &rschema); err != nil {
			rows.Close()
			return fmt.Errorf("foreign keys: %w", err)
		}
		t := tables[tname]
		if t == nil {
			continue
		}
		if fk == nil || fk.Table != tname || fk.Name != cname {
			t.ForeignKeys = append(t.ForeignKeys, ForeignKey{
				Name: cname, Table: tname, RefTable: rname, RefSchema: rschema, Validated: true, OnDelete: upper(del),
			})
			fk = &t.ForeignKeys[len(t.ForeignKeys)-1]
		}
		fk.Columns = append(fk.Columns, col)
		fk.RefColumns = append(fk.RefColumns, refcol)
	}
	return closeRows(rows)
}
