package backup

import (
	"compress/gzip"
	"context"
	"database/sql"
	"log/slog"

	"github.com/tenantkit/tenantkit/internal/catalog"
)

// Options configures Export. A nil *Options means all defaults; the zero
// value is the defaults too. Export does not modify it; Progress and
// Session are called on Export's goroutine.
type Options struct {
	// Format is the codec. Default JSONL.
	Format Format
	// NoCompress writes plain text. Default false: gzip.
	NoCompress bool
	// CompressionLevel is the gzip level (gzip.BestSpeed ..
	// gzip.BestCompression). Default gzip.DefaultCompression.
	CompressionLevel int
	// TenantColumn is the column holding the tenant id. Default "tenant_id".
	TenantColumn string
	// TenantTable is the table tenant ids point at. Default "organizations".
	TenantTable string
	// TenantKey is TenantTable's key column. Default "id".
	TenantKey string
	// Schema is the PostgreSQL schema or MySQL database to read. Default
	// the connection's current one.
	Schema string
	// Exclude names tables left out of the backup entirely (for example
	// goose_db_version). Default none.
	Exclude []string
	// Progress, when set, is called as rows stream (at each table's start
	// and end and every few thousand rows), on the calling goroutine.
	Progress func(Progress)
	// Session, when set, runs first in the export's snapshot transaction:
	// the place to set what row-level security needs (for example
	// set_config('app.tenant_id', ..., true) on PostgreSQL). Default none.
	Session func(ctx context.Context, tx Execer) error
	// Logger receives one record per finished export. Default: discard.
	Logger *slog.Logger
}

func (o *Options) withDefaults() Options {
	var r Options
	if o != nil {
		r = *o
	}
	if r.CompressionLevel == 0 {
		r.CompressionLevel = gzip.DefaultCompression
	}
	if r.Logger == nil {
		r.Logger = slog.New(slog.DiscardHandler)
	}
	return r
}

func (o *Options) catalogOptions() *catalog.Options {
	return &catalog.Options{TenantColumn: o.TenantColumn, TenantTable: o.TenantTable, TenantKey: o.TenantKey, Schema: o.Schema, Exclude: o.Exclude}
}

// RestoreOptions configures Validate and Restore. A nil *RestoreOptions
// (or the zero value) means all defaults. It is only read.
type RestoreOptions struct {
	// AsTenant, when set, restores the file's tenant into this other
	// tenant: every tenant reference (the tenant column and every foreign
	// key to the tenant table's key holding the file's tenant) is
	// rewritten, and the tenant table's row is left as it is (it must
	// exist). Keys are kept as they are: cloning into a database that
	// still holds the source rows fails on their primary keys, and is
	// rolled back. Default "": restore into the file's own tenant.
	AsTenant string
	// DryRun performs the whole restore, checks included, and always rolls
	// it back; the Report has the counts. Default false.
	DryRun bool
	// Schema and Exclude are as in Options. The tenant column, table and
	// key come from the file.
	Schema  string
	Exclude []string
	// MaxLineBytes bounds one line of the file (one row). Default 64 MiB.
	MaxLineBytes int
	// BatchRows is the number of rows per INSERT. Default 1000 (5000 on
	// PostgreSQL), always within the dialect's placeholder limit.
	BatchRows int
	// Progress is as in Options.
	Progress func(Progress)
	// Session, when set, runs first in every transaction Validate and
	// Restore open (the validation's reads and the restore's writes).
	// Default none.
	Session func(ctx context.Context, tx Execer) error
	// Logger receives one record per finished restore. Default: discard.
	Logger *slog.Logger
}

func (o *RestoreOptions) withDefaults() RestoreOptions {
	var r RestoreOptions
	if o != nil {
		r = *o
	}
	if r.MaxLineBytes <= 0 {
		r.MaxLineBytes = 64 << 20
	}
	if r.Logger == nil {
		r.Logger = slog.New(slog.DiscardHandler)
	}
	return r
}

// Execer is what a Session hook gets: the transaction (or, for a MySQL
// export, the connection holding the snapshot).
type Execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// Progress reports how far an Export, Validate or Restore is.
type Progress struct {
	// Phase is "export", "validate", "delete", "insert", "fixups" or "check".
	Phase string
	// Table is the table being worked on ("" between tables).
	Table string
	// TableRows is the number of rows of Table done so far.
	TableRows int64
	// Rows is the number of rows done in the phase so far, all tables.
	Rows int64
	// TotalRows is the phase's total when known (validated files), else 0.
	TotalRows int64
}

const progressEvery = 8192
