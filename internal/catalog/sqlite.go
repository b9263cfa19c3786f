package catalog

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
)

func loadSQLite(ctx context.Context, db Querier, c *Catalog) error {
	c.Schema = "main"
	rows, err := db.QueryContext(ctx, `SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY name`)
	if err != nil {
		return fmt.Errorf("tables: %w", err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return fmt.Errorf("tables: %w", err)
		}
		names = append(names, n)
	}
	if err := closeRows(rows); err != nil {
		return fmt.Errorf("tables: %w", err)
	}
	for _, n := range names {
		t := c.addTable(n)
		if err := sqliteTable(ctx, db, t); err != nil {
			return fmt.Errorf("table %q: %w", n, err)
		}
	}
	// SQLite reports the parent table and columns as the REFERENCES clause
	// spells them, and compares names without regard to (ASCII) case:
	// name them as the parent declares them. A foreign key that names no
	// parent columns references the parent's primary key.
	tables := map[string]*Table{}
	for _, t := range c.Tables {
		tables[foldASCII(t.Name)] = t
	}
	for _, t := range c.Tables {
		for i := range t.ForeignKeys {
			fk := &t.ForeignKeys[i]
			p := tables[foldASCII(fk.RefTable)]
			if p == nil {
				continue
			}
			fk.RefTable = p.Name
			if len(fk.RefColumns) > 0 && fk.RefColumns[0] == "" {
				if len(p.PrimaryKey) == len(fk.Columns) {
					copy(fk.RefColumns, p.PrimaryKey)
				}
				continue
			}
			for j, rc := range fk.RefColumns {
				for _, col := range p.Columns {
					if foldASCII(col.Name) == foldASCII(rc) {
						fk.RefColumns[j] = col.Name
					}
				}
			}
		}
	}
	return nil
}

// foldASCII lower-cases the ASCII letters of s, as SQLite does when it
// compares identifiers.
func foldASCII(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}

func sqliteTable(ctx context.Context, db Querier, t *Table) error {
	rows, err := db.QueryContext(ctx, `SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(?) ORDER BY cid`, t.Name)
	if err != nil {
		return fmt.Errorf("columns: %w", err)
	}
	pk := map[int]string{}
	for rows.Next() {
		var col Column
		var notnull, pos int
		var def sql.NullString
		if err := rows.Scan(&col.Name, &col.Type, &notnull, &def, &pos); err != nil {
			rows.Close()
			return fmt.Errorf("columns: %w", err)
		}
		col.Type = strings.ToLower(col.Type)
		col.Nullable = notnull == 0
		col.Default, col.HasDefault = def.String, def.Valid
		if pos > 0 {
			pk[pos] = col.Name
		}
		t.Columns = append(t.Columns, col)
	}
	if err := closeRows(rows); err != nil {
		return fmt.Errorf("columns: %w", err)
	}
	for i := 1; i <= len(pk); i++ {
		t.PrimaryKey = append(t.PrimaryKey, pk[i])
	}

	rows, err = db.QueryContext(ctx, `SELECT name, "unique", origin, partial FROM pragma_index_list(?) ORDER BY name`, t.Name)
	if err != nil {
		return fmt.Errorf("indexes: %w", err)
	}
	hasPKIndex := false
	for rows.Next() {
		var ix Index
		var unique, partial int
		var origin string
		if err := rows.Scan(&ix.Name, &unique, &origin, &partial); err != nil {
			rows.Close()
			return fmt.Errorf("indexes: %w", err)
		}
		ix.Unique, ix.Primary, ix.Partial, ix.Method = unique != 0, origin == "pk", partial != 0, "btree"
		hasPKIndex = hasPKIndex || ix.Primary
		t.Indexes = append(t.Indexes, ix)
	}
	if err := closeRows(rows); err != nil {
		return fmt.Errorf("indexes: %w", err)
	}
	for i := range t.Indexes {
		ix := &t.Indexes[i]
		// pragma_index_xinfo lists key columns (key=1) then the rowid.
		rows, err := db.QueryContext(ctx, `SELECT cid, name FROM pragma_index_xinfo(?) WHERE key = 1 ORDER BY seqno`, ix.Name)
		if err != nil {
			return fmt.Errorf("index %q: %w", ix.Name, err)
		}
		for rows.Next() {
			var cid int
			var name sql.NullString
			if err := rows.Scan(&cid, &name); err != nil {
				rows.Close()
				return fmt.Errorf("index %q: %w", ix.Name, err)
			}
			switch {
			case name.Valid:
				ix.Columns = append(ix.Columns, name.String)
			case cid == -1:
				ix.Columns = append(ix.Columns, "rowid")
			default:
				ix.Columns = append(ix.Columns, "(expression)")
			}
		}
		if err := closeRows(rows); err != nil {
			return fmt.Errorf("index %q: %w", ix.Name, err)
		}
	}
	// A single INTEGER PRIMARY KEY on a rowid table is the rowid itself:
	// an identity column with the table's own b-tree as its index. A
	// WITHOUT ROWID table has a "pk" index instead.
	if len(t.PrimaryKey) == 1 && !hasPKIndex {
		for i := range t.Columns {
			col := &t.Columns[i]
			if col.Name == t.PrimaryKey[0] && col.Type == "integer" {
				col.Identity, col.Nullable = true, false
				t.Indexes = append(t.Indexes, Index{Name: "rowid", Columns: []string{col.Name}, Unique: true, Primary: true, Method: "btree"})
			}
		}
	}

	rows, err = db.QueryContext(ctx, `SELECT id, seq, "table", "from", "to", on_delete FROM pragma_foreign_key_list(?) ORDER BY id, seq`, t.Name)
	if err != nil {
		return fmt.Errorf("foreign keys: %w", err)
	}
	var fk *ForeignKey
	lastID := -1
	for rows.Next() {
		var id, seq int
		var ref, from, del string
		var to sql.NullString
		if err := rows.Scan(&id, &seq, &ref, &from, &to, &del); err != nil {
			rows.Close()
			return fmt.Errorf("foreign keys: %w", err)
		}
		if fk == nil || id != lastID {
			t.ForeignKeys = append(t.ForeignKeys, ForeignKey{
				Name: t.Name + "_fk" + strconv.Itoa(id), Table: t.Name, RefTable: ref,
				Validated: true, OnDelete: upper(del),
			})
			fk, lastID = &t.ForeignKeys[len(t.ForeignKeys)-1], id
		}
		fk.Columns = append(fk.Columns, from)
		fk.RefColumns = append(fk.RefColumns, to.String)
	}
	return closeRows(rows)
}
