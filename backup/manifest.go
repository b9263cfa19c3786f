package backup

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// FormatName identifies a tenantkit backup file in its header.
const FormatName = "tenantkit-backup"

// FormatVersion is the version of the file layout this package writes. A
// reader refuses any other version rather than guessing.
const FormatVersion = 1

// Format selects the codec of a backup file.
type Format int

// Codecs. The zero value is JSONL.
const (
	// JSONL writes one JSON value per line: a header object, then for each
	// table a begin object, one JSON array per row and an end object with
	// the count and SHA-256, then a footer.
	JSONL Format = iota
	// SQL writes INSERT statements that psql, mysql/mariadb and sqlite3
	// load as they are; the control records are SQL comments.
	SQL
)

// String returns "jsonl" or "sql".
func (f Format) String() string {
	if f == SQL {
		return "sql"
	}
	return "jsonl"
}

// ParseFormat returns the format named s ("jsonl", "json", "sql").
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "jsonl", "json", "ndjson":
		return JSONL, nil
	case "sql":
		return SQL, nil
	}
	return 0, fmt.Errorf("backup: unknown format %q (want jsonl or sql)", s)
}

// Manifest describes a backup file. It is a plain value, safe for
// concurrent reads once returned. The header carries everything but the
// per-table Rows and SHA256, which are only known once a table has been
// streamed: they travel in each table's end record and are filled in by
// the reader as it reaches them.
type Manifest struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	Codec   string `json:"codec"`
	// Tenant is the tenant whose rows the file holds, as text.
	Tenant       string `json:"tenant"`
	TenantColumn string `json:"tenant_column"`
	TenantTable  string `json:"tenant_table"`
	TenantKey    string `json:"tenant_key"`
	// Dialect is the database the file was exported from ("postgres",
	// "mysql", "sqlite"); a file restores only into the same dialect.
	Dialect string `json:"dialect"`
	// Fingerprint is the schema fingerprint of Tables (internal/catalog).
	Fingerprint string    `json:"fingerprint"`
	CreatedAt   time.Time `json:"created_at"`
	// Tables are in restore order: parents before children.
	Tables []TableManifest `json:"tables"`
}

// TableManifest describes one table of a backup.
type TableManifest struct {
	Name string `json:"name"`
	// Kind is "root" (the tenant's own row of the tenant table), "tenant"
	// (has the tenant column) or "closure" (reached through TenantPath).
	Kind       string           `json:"kind"`
	Columns    []ColumnManifest `json:"columns"`
	PrimaryKey []string         `json:"primary_key,omitempty"`
	// Deferred are the columns of a foreign key on a cycle: rows carry
	// NULL there and the values follow in the table's fixups section, set
	// by UPDATE once every row is in.
	Deferred []string `json:"deferred,omitempty"`
	// TenantPath is, for a closure table, the foreign keys from it up to a
	// tenant-owned table.
	TenantPath []PathStep `json:"tenant_path,omitempty"`
	// Rows and SHA256 (hex, over the table's row lines as written, after
	// decompression) come from the table's end record.
	Rows   int64  `json:"rows,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
	// Fixups and FixupsSHA256 describe the fixups section (Deferred only).
	Fixups       int64  `json:"fixups,omitempty"`
	FixupsSHA256 string `json:"fixups_sha256,omitempty"`
}

// PathStep is one foreign key of a closure table's path to its tenant.
type PathStep struct {
	Table      string   `json:"table"`
	Columns    []string `json:"columns"`
	RefTable   string   `json:"ref_table"`
	RefColumns []string `json:"ref_columns"`
}

// ColumnManifest is one column: its name, declared type and the value
// kind that says how its values are written.
type ColumnManifest struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Kind     string `json:"kind"`
	Nullable bool   `json:"nullable,omitempty"`
}

// Table returns the named table of the manifest, or nil.
func (m *Manifest) Table(name string) *TableManifest {
	for i := range m.Tables {
		if m.Tables[i].Name == name {
			return &m.Tables[i]
		}
	}
	return nil
}

// TotalRows is the sum of the tables' row counts.
func (m *Manifest) TotalRows() int64 {
	var n int64
	for _, t := range m.Tables {
		n += t.Rows
	}
	return n
}

// Errors. Callers match them with errors.Is; the text is not API.
var (
	// ErrNotBackup: the input is not a tenantkit backup file.
	ErrNotBackup = errors.New("backup: not a tenantkit backup file")
	// ErrZlib: the input is a zlib stream (what some tools write under a
	// .gz name), not gzip.
	ErrZlib = errors.New("backup: zlib stream, not gzip")
	// ErrUnsupportedCompression: bzip2, xz or zstd input.
	ErrUnsupportedCompression = errors.New("backup: unsupported compression")
	// ErrVersion: the file's format version is not FormatVersion.
	ErrVersion = errors.New("backup: unsupported format version")
	// ErrCorrupt: the file is damaged: bad syntax, a checksum or count
	// that does not match, a missing end record (truncation).
	ErrCorrupt = errors.New("backup: corrupt backup file")
	// ErrSchema: the database's schema is not the one the file was taken
	// from.
	ErrSchema = errors.New("backup: schema mismatch")
	// ErrTenant: a row belongs to another tenant, or the file is of
	// another tenant than the one named.
	ErrTenant = errors.New("backup: wrong tenant")
	// ErrTenantNotFound: the tenant does not exist in the database.
	ErrTenantNotFound = errors.New("backup: tenant not found")
	// ErrInvalidTenant: the tenant id cannot be a value of the tenant
	// column (for example not an integer for an integer column).
	ErrInvalidTenant = errors.New("backup: invalid tenant id")
	// ErrCycle: foreign keys form a cycle with no nullable column to break it.
	ErrCycle = errors.New("backup: unbreakable foreign-key cycle")
	// ErrCheck: the tenant checks found violations after the restore's
	// writes; the transaction was rolled back.
	ErrCheck = errors.New("backup: tenant integrity check failed")
	// ErrChanged: the file changed between validation and restore.
	ErrChanged = errors.New("backup: file changed during restore")
)

// ValidationError is one reason a file cannot be restored. Table and Row
// locate it when it concerns a row (Row is 1-based within the table's
// rows, 0 when not about one row; Line is the line of the decompressed
// file, 0 when unknown). It wraps one of the package's sentinel errors.
type ValidationError struct {
	Table  string
	Row    int64
	Line   int64
	Reason string
	Err    error
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("backup: ")
	if e.Table != "" {
		fmt.Fprintf(&b, "table %q: ", e.Table)
	}
	if e.Row > 0 {
		fmt.Fprintf(&b, "row %d: ", e.Row)
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "(line %d) ", e.Line)
	}
	b.WriteString(e.Reason)
	return b.String()
}

// Unwrap returns the sentinel the error is an instance of.
func (e *ValidationError) Unwrap() error { return e.Err }
