package catalog

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/tenantkit/tenantkit/internal/sqldialect"
)

// Options configures Load. A nil *Options means all defaults.
type Options struct {
	// TenantColumn is the column that holds the tenant id in tenant-owned
	// tables. Default "tenant_id".
	TenantColumn string
	// TenantTable is the table tenant ids point at. Default "organizations".
	TenantTable string
	// TenantKey is the key column of TenantTable. Default "id".
	TenantKey string
	// Schema is the PostgreSQL schema (default current_schema()) or the
	// MySQL/MariaDB database (default DATABASE()). Ignored on SQLite, which
	// always reads the main database.
	Schema string
	// Exclude lists tables to ignore entirely (for example
	// goose_db_version). Names are compared exactly.
	Exclude []string
}

func (o *Options) withDefaults() Options {
	var r Options
	if o != nil {
		r = *o
		r.Exclude = slices.Clone(o.Exclude)
	}
	if r.TenantColumn == "" {
		r.TenantColumn = "tenant_id"
	}
	if r.TenantTable == "" {
		r.TenantTable = "organizations"
	}
	if r.TenantKey == "" {
		r.TenantKey = "id"
	}
	return r
}

// Kind classifies a table by how its rows belong to a tenant.
type Kind int

// Table kinds. The zero value is not a valid kind.
const (
	// TenantOwned tables have the tenant column.
	TenantOwned Kind = iota + 1
	// Closure tables have no tenant column but reach a TenantOwned table
	// through foreign keys (invoice_items through invoices); Table.TenantPath
	// is that chain.
	Closure
	// Global tables have neither: shared reference data.
	Global
	// TenantRoot is the tenant table itself (Options.TenantTable).
	TenantRoot
)

// String returns "tenant", "closure", "global", "root" or "unknown".
func (k Kind) String() string {
	switch k {
	case TenantOwned:
		return "tenant"
	case Closure:
		return "closure"
	case Global:
		return "global"
	case TenantRoot:
		return "root"
	}
	return "unknown"
}

// MarshalText encodes the kind as its String.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Column is one column of a table.
type Column struct {
	Name string
	// Type is the declared type, lower-case, as the server reports it
	// (PostgreSQL format_type, MySQL COLUMN_TYPE, SQLite's declared type).
	Type     string
	Nullable bool
	// Identity is true for PostgreSQL identity and serial columns, MySQL
	// AUTO_INCREMENT and a SQLite INTEGER PRIMARY KEY (the rowid alias).
	Identity bool
	// Default is the default expression as the server prints it; valid
	// only when HasDefault.
	Default    string
	HasDefault bool
}

// ForeignKey is one foreign-key constraint, possibly composite. Columns and
// RefColumns pair up in constraint order.
type ForeignKey struct {
	// Name is the constraint name. SQLite does not expose names; there it
	// is synthesised as "<table>_fk<id>".
	Name       string
	Table      string
	Columns    []string
	RefTable   string
	RefColumns []string
	// RefSchema is, for a key to a table in another PostgreSQL schema or
	// MySQL/MariaDB database (a shared reference table kept elsewhere),
	// that schema; empty when the parent is in Catalog.Schema. Such a
	// parent is not in Tables, and Catalog.Table(RefTable) would name a
	// different table (or none): classification and Order ignore the key.
	RefSchema string
	// Deferrable and InitiallyDeferred are PostgreSQL only (always false on
	// MySQL/MariaDB; SQLite does not report them).
	Deferrable        bool
	InitiallyDeferred bool
	// Validated is what the server claims: PostgreSQL convalidated; true on
	// MySQL/MariaDB and SQLite, which have no NOT VALID state. A claim is
	// not a proof (session_replication_role, foreign_key_checks=0 and
	// PRAGMA foreign_keys=OFF all bypass it), so checks never rely on it.
	Validated bool
	// OnDelete is the delete action in upper case: "NO ACTION",
	// "RESTRICT", "CASCADE", "SET NULL" or "SET DEFAULT".
	OnDelete string
}

// Index is one index. Expression parts of an index appear as the
// expression text in Columns.
type Index struct {
	Name    string
	Columns []string
	Unique  bool
	Primary bool
	// Partial is true for an index with a WHERE predicate; such an index
	// does not cover every row and is never returned by IndexLedBy.
	Partial bool
	// Method is the access method in lower case: "btree" (always on
	// SQLite), "hash", "gin", "gist", "brin" ... on PostgreSQL, "btree",
	// "hash", "fulltext", "spatial" on MySQL/MariaDB. Only a btree serves
	// ordered scans and MIN/MAX probes.
	Method string
	// Invalid is true for a PostgreSQL index the planner cannot use
	// (a failed CREATE INDEX CONCURRENTLY); never returned by IndexLedBy.
	Invalid bool
}

// Table is one base table.
type Table struct {
	Name       string
	Kind       Kind
	Columns    []Column
	PrimaryKey []string
	// ForeignKeys are the outgoing foreign keys, sorted by name.
	ForeignKeys []ForeignKey
	Indexes     []Index
	// TenantPath is, for a Closure table, the chain of foreign keys from
	// this table up to a TenantOwned table: TenantPath[0].Table is this
	// table and TenantPath[len-1].RefTable is tenant-owned. Paths through
	// NOT NULL columns are preferred, then the shortest.
	TenantPath []ForeignKey
	// Sequence is the PostgreSQL sequence backing the table's identity or
	// serial column (schema-qualified as pg_get_serial_sequence prints it),
	// if any.
	Sequence string
}

// Column returns the named column.
func (t *Table) Column(name string) (Column, bool) {
	for _, c := range t.Columns {
		if c.Name == name {
			return c, true
		}
	}
	return Column{}, false
}

// HasColumn reports whether the table has the named column.
func (t *Table) HasColumn(name string) bool { _, ok := t.Column(name); return ok }

// IndexLedBy returns an index (not partial, not invalid) whose leading
// columns are cols in that order, preferring btree indexes, then the
// primary key, then unique indexes, then the one with the fewest columns;
// nil when there is none. Check Method before relying on order.
func (t *Table) IndexLedBy(cols ...string) *Index {
	var best *Index
	for i := range t.Indexes {
		ix := &t.Indexes[i]
		if ix.Partial || ix.Invalid || len(ix.Columns) < len(cols) || !slices.Equal(ix.Columns[:len(cols)], cols) {
			continue
		}
		if best == nil || better(ix, best) {
			best = ix
		}
	}
	return best
}

func better(a, b *Index) bool {
	if (a.Method == "btree") != (b.Method == "btree") {
		return a.Method == "btree"
	}
	if a.Primary != b.Primary {
		return a.Primary
	}
	if a.Unique != b.Unique {
		return a.Unique
	}
	return len(a.Columns) < len(b.Columns)
}

// Catalog is the schema of one database as Load found it. It is a plain
// value: safe for concurrent reads, never refreshed (call Load again).
type Catalog struct {
	Dialect sqldialect.Dialect
	// Schema is the PostgreSQL schema or MySQL database that was read
	// ("main" on SQLite).
	Schema string
	// Tables are sorted by name.
	Tables []*Table
	Opts   Options
}

// Table returns the named table, or nil.
func (c *Catalog) Table(name string) *Table {
	i, ok := sort.Find(len(c.Tables), func(i int) int { return strings.Compare(name, c.Tables[i].Name) })
	if !ok {
		return nil
	}
	return c.Tables[i]
}

// Column returns the named column of t.
func (c *Catalog) Column(t *Table, name string) (Column, bool) { return t.Column(name) }

// Names returns every table name, sorted.
func (c *Catalog) Names() []string {
	out := make([]string, len(c.Tables))
	for i, t := range c.Tables {
		out[i] = t.Name
	}
	return out
}

// CycleError reports that foreign keys among Tables form a cycle, so no
// order puts every parent before its children.
type CycleError struct {
	// Tables are the tables on a cycle, sorted.
	Tables []string
}

func (e *CycleError) Error() string {
	return "catalog: foreign keys form a cycle among tables " + strings.Join(e.Tables, ", ")
}

// ErrUnknownTable is returned (wrapped) when a caller names a table that is
// not in the catalog.
var ErrUnknownTable = errors.New("catalog: unknown table")

// Order returns tables ordered parents before children along the foreign
// keys among them (keys to tables outside the list and self-references are
// ignored), ties broken by name so the order is stable. A nil list means
// every table. A cycle returns a *CycleError naming the tables on it.
func (c *Catalog) Order(tables []string) ([]string, error) {
	if tables == nil {
		tables = c.Names()
	}
	in := make(map[string]bool, len(tables))
	for _, n := range tables {
		if c.Table(n) == nil {
			return nil, fmt.Errorf("%w %q", ErrUnknownTable, n)
		}
		in[n] = true
	}
	// parents[n] = the distinct tables n references (within the set).
	parents := map[string]map[string]bool{}
	children := map[string][]string{}
	for n := range in {
		parents[n] = map[string]bool{}
		for _, fk := range c.Table(n).ForeignKeys {
			if fk.RefSchema != "" || fk.RefTable == n || !in[fk.RefTable] || parents[n][fk.RefTable] {
				continue
			}
			parents[n][fk.RefTable] = true
			children[fk.RefTable] = append(children[fk.RefTable], n)
		}
	}
	pending := map[string]int{}
	var ready []string
	for n := range in {
		pending[n] = len(parents[n])
		if pending[n] == 0 {
			ready = append(ready, n)
		}
	}
	out := make([]string, 0, len(in))
	for len(ready) > 0 {
		slices.Sort(ready)
		n := ready[0]
		ready = ready[1:]
		out = append(out, n)
		for _, ch := range children[n] {
			pending[ch]--
			if pending[ch] == 0 {
				ready = append(ready, ch)
			}
		}
	}
	if len(out) == len(in) {
		return out, nil
	}
	var rest []string
	for n, p := range pending {
		if p > 0 {
			rest = append(rest, n)
		}
	}
	return nil, &CycleError{Tables: cycleMembers(rest, parents)}
}

// cycleMembers returns the nodes of rest that lie on a cycle (strongly
// connected components of more than one node), sorted; tables that merely
// depend on a cycle are left out.
func cycleMembers(rest []string, parents map[string]map[string]bool) []string {
	slices.Sort(rest)
	index := map[string]int{}
	low := map[string]int{}
	onStack := map[string]bool{}
	var stack, out []string
	next := 0
	var visit func(v string)
	visit = func(v string) {
		index[v], low[v] = next, next
		next++
		stack = append(stack, v)
		onStack[v] = true
		ps := make([]string, 0, len(parents[v]))
		for p := range parents[v] {
			ps = append(ps, p)
		}
		slices.Sort(ps)
		for _, w := range ps {
			if _, seen := index[w]; !seen {
				visit(w)
				low[v] = min(low[v], low[w])
			} else if onStack[w] {
				low[v] = min(low[v], index[w])
			}
		}
		if low[v] == index[v] {
			var comp []string
			for {
				w := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[w] = false
				comp = append(comp, w)
				if w == v {
					break
				}
			}
			if len(comp) > 1 {
				out = append(out, comp...)
			}
		}
	}
	for _, v := range rest {
		if _, seen := index[v]; !seen {
			visit(v)
		}
	}
	slices.Sort(out)
	return out
}

// Fingerprint returns a stable SHA-256 (hex) of the named tables' shape:
// table names, columns in order with their normalised type and
// nullability, primary keys and foreign keys. It changes with anything that
// changes the meaning of a row (a column added, dropped, reordered, retyped
// or made nullable; a key changed) and ignores indexes, defaults and
// constraint names. A nil list means every table; unknown names are
// included as absent, so they change the fingerprint too.
func (c *Catalog) Fingerprint(tables []string) string {
	if tables == nil {
		tables = c.Names()
	}
	names := slices.Clone(tables)
	slices.Sort(names)
	names = slices.Compact(names)
	h := sha256.New()
	w := func(parts ...string) {
		for _, p := range parts {
			h.Write([]byte(strconv.Quote(p)))
			h.Write([]byte{' '})
		}
		h.Write([]byte{'\n'})
	}
	w("tenantkit-catalog-fingerprint-v1")
	for _, n := range names {
		t := c.Table(n)
		if t == nil {
			w("absent", n)
			continue
		}
		w("table", t.Name)
		for _, col := range t.Columns {
			w("column", col.Name, NormalizeType(col.Type), strconv.FormatBool(col.Nullable))
		}
		w(append([]string{"pk"}, t.PrimaryKey...)...)
		fks := make([]string, 0, len(t.ForeignKeys))
		for _, fk := range t.ForeignKeys {
			fks = append(fks, strings.Join(fk.Columns, ",")+"->"+fk.RefTable+"("+strings.Join(fk.RefColumns, ",")+")")
		}
		slices.Sort(fks)
		for _, f := range fks {
			w("fk", f)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// NormalizeType returns a declared type lower-cased with runs of white
// space collapsed and spaces around parentheses and commas removed, so
// "VARCHAR (255)" and "varchar(255)" compare equal.
func NormalizeType(s string) string {
	s = strings.Join(strings.Fields(strings.ToLower(s)), " ")
	for _, p := range [][2]string{{" (", "("}, {"( ", "("}, {" )", ")"}, {" ,", ","}, {", ", ","}} {
		s = strings.ReplaceAll(s, p[0], p[1])
	}
	return s
}

// Querier is what Load reads through: a *sql.DB, *sql.Conn or *sql.Tx.
// Reading inside a transaction sees that transaction's uncommitted DDL
// (PostgreSQL, SQLite), which is how a migration's post-checks see the
// tables and keys the migration just created.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// ErrNoDialect is returned by Load when d is sqldialect.Unknown and db is
// not a *sql.DB whose dialect could be detected.
var ErrNoDialect = errors.New("catalog: dialect unknown: pass it explicitly when reading through a *sql.Conn or *sql.Tx")

// Load reads the catalog of db. d names the dialect; sqldialect.Unknown
// detects it (only possible when db is a *sql.DB). Tables named in
// opts.Exclude are skipped. Load only reads the system catalogs; it takes no
// locks beyond what those reads take.
func Load(ctx context.Context, db Querier, d sqldialect.Dialect, opts *Options) (*Catalog, error) {
	o := opts.withDefaults()
	if d == sqldialect.Unknown {
		sdb, ok := db.(*sql.DB)
		if !ok {
			return nil, ErrNoDialect
		}
		var err error
		if d, err = sqldialect.Detect(ctx, sdb); err != nil {
			return nil, fmt.Errorf("catalog: %w", err)
		}
	}
	c := &Catalog{Dialect: d, Opts: o}
	var err error
	switch d {
	case sqldialect.Postgres:
		err = loadPostgres(ctx, db, c)
	case sqldialect.MySQL:
		err = loadMySQL(ctx, db, c)
	case sqldialect.SQLite:
		err = loadSQLite(ctx, db, c)
	default:
		return nil, fmt.Errorf("catalog: unsupported dialect %v", d)
	}
	if err != nil {
		return nil, fmt.Errorf("catalog: load %s schema: %w", d, err)
	}
	excluded := map[string]bool{}
	for _, n := range o.Exclude {
		excluded[n] = true
	}
	c.Tables = slices.DeleteFunc(c.Tables, func(t *Table) bool { return excluded[t.Name] })
	sort.Slice(c.Tables, func(i, j int) bool { return c.Tables[i].Name < c.Tables[j].Name })
	for _, t := range c.Tables {
		sort.SliceStable(t.ForeignKeys, func(i, j int) bool { return t.ForeignKeys[i].Name < t.ForeignKeys[j].Name })
		sort.SliceStable(t.Indexes, func(i, j int) bool { return t.Indexes[i].Name < t.Indexes[j].Name })
	}
	c.classify()
	return c, nil
}

func (c *Catalog) classify() {
	for _, t := range c.Tables {
		switch {
		case t.Name == c.Opts.TenantTable:
			t.Kind = TenantRoot
		case t.HasColumn(c.Opts.TenantColumn):
			t.Kind = TenantOwned
		default:
			t.Kind = Global // until a path is found
		}
	}
	for _, t := range c.Tables {
		if t.Kind != Global {
			continue
		}
		if p := c.tenantPath(t, true); p != nil {
			t.Kind, t.TenantPath = Closure, p
		} else if p := c.tenantPath(t, false); p != nil {
			t.Kind, t.TenantPath = Closure, p
		}
	}
}

// tenantPath finds the shortest FK chain from t to a TenantOwned table
// through tables without the tenant column; with notNull only through FKs
// whose columns are all NOT NULL.
func (c *Catalog) tenantPath(t *Table, notNull bool) []ForeignKey {
	type node struct {
		t    *Table
		path []ForeignKey
	}
	seen := map[string]bool{t.Name: true}
	queue := []node{{t, nil}}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for _, fk := range n.t.ForeignKeys {
			if fk.RefSchema != "" || seen[fk.RefTable] {
				continue
			}
			if notNull && !allNotNull(n.t, fk.Columns) {
				continue
			}
			ref := c.Table(fk.RefTable)
			if ref == nil || ref.Kind == TenantRoot {
				continue
			}
			path := append(slices.Clone(n.path), fk)
			if ref.Kind == TenantOwned {
				return path
			}
			seen[ref.Name] = true
			queue = append(queue, node{ref, path})
		}
	}
	return nil
}

func allNotNull(t *Table, cols []string) bool {
	for _, n := range cols {
		if c, ok := t.Column(n); !ok || c.Nullable {
			return false
		}
	}
	return true
}

func (c *Catalog) addTable(name string) *Table {
	t := &Table{Name: name}
	c.Tables = append(c.Tables, t)
	return t
}

func (c *Catalog) byName() map[string]*Table {
	m := make(map[string]*Table, len(c.Tables))
	for _, t := range c.Tables {
		m[t.Name] = t
	}
	return m
}
