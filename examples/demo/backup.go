package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/tenantkit/tenantkit/backup"
	"github.com/tenantkit/tenantkit/internal/sqldialect"
	"github.com/tenantkit/tenantkit/tenant"
)

// Backup and restore of one tenant (package backup). api_tokens is left
// out: restoring it would bring back tokens revoked since the backup.
var backupExclude = []string{metaTable, goose.DefaultTablename, "api_tokens"}

func backupCommand() command {
	return command{Name: "backup", Summary: "back up one tenant to a file (backup verify <file> checks one)", Run: runBackup}
}

func restoreCommand() command {
	return command{Name: "restore", Summary: "validate and restore one tenant from a backup file", Run: runRestore}
}

// crossTenant is the backup's session on PostgreSQL: the demo's tables
// FORCE row-level security, and a backup works in the policy's explicit
// system mode (transaction-local), as `demo check` does.
func crossTenant(d sqldialect.Dialect) func(context.Context, backup.Execer) error {
	if d != sqldialect.Postgres {
		return nil
	}
	return func(ctx context.Context, tx backup.Execer) error {
		_, err := tx.ExecContext(ctx, "SELECT set_config('app.cross_tenant', 'on', true)")
		return err
	}
}

func runBackup(ctx context.Context, e *env, args []string) error {
	if len(args) > 0 && args[0] == "verify" {
		return runVerify(ctx, e, args[1:])
	}
	fs := newFlagSet(e, "backup", `Writes a backup of one tenant: its organization row, every table with a
tenant_id and invoice_items (through invoices), from one consistent snapshot.
The default file is tenant_<id>_<slug>_<UTC time>.jsonl.gz in the current
directory; it is written under a temporary name and renamed when complete.

  demo backup --tenant acme
  demo backup --tenant acme --format sql --no-gzip -o acme.sql
  demo backup verify tenant_1_acme_20250101T000000Z.jsonl.gz`)
	db := fs.String("db", defaultDB, "database: a SQLite file path, postgres://user@host:port/db or mysql://user:pass@host:port/db")
	slug := fs.String("tenant", "", "the tenant's slug (required)")
	format := fs.String("format", "jsonl", "file format: jsonl or sql")
	noGzip := fs.Bool("no-gzip", false, "write plain text instead of gzip")
	out := fs.String("o", "", "output file (default tenant_<id>_<slug>_<UTC time>.<ext>[.gz])")
	quiet := fs.Bool("quiet", false, "no progress on stderr")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *slug == "" {
		return usagef("--tenant is required")
	}
	f, err := backup.ParseFormat(*format)
	if err != nil || *format == "json" {
		return usagef("--format: want jsonl or sql, not %q", *format)
	}
	src, err := parseDataSource(*db)
	if err != nil {
		return usagef("--db: %v", err)
	}
	pool, err := openPool(ctx, src)
	if err != nil {
		return err
	}
	defer pool.Close()
	id, err := tenantBySlug(ctx, pool, src.Dialect, *slug)
	if err != nil {
		return err
	}
	name := *out
	if name == "" {
		ext := map[backup.Format]string{backup.JSONL: "jsonl", backup.SQL: "sql"}[f]
		if !*noGzip {
			ext += ".gz"
		}
		name = fmt.Sprintf("tenant_%d_%s_%s.%s", id, safeName(*slug), time.Now().UTC().Format("20060102T150405Z"), ext)
	}
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*.part")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	prog := newProgress(e.Stderr, *quiet)
	m, err := backup.Export(ctx, pool, tenant.ID(fmt.Sprint(id)), tmp, &backup.Options{
		Format: f, NoCompress: *noGzip, Exclude: backupExclude, Session: crossTenant(src.Dialect), Progress: prog.update,
	})
	prog.done()
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return err
	}
	st, _ := os.Stat(name)
	fmt.Fprintf(e.Stdout, "wrote %s: tenant %s (id %d), %d tables, %d rows, %d bytes\n", name, *slug, id, len(m.Tables), m.TotalRows(), st.Size())
	return nil
}

func runVerify(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "backup verify", `Reads a whole backup file and checks it against the database without
writing anything: checksums and row counts, that every row is the file's
tenant's, keys, foreign-key targets and the schema. Exits 1 if it would not
restore.

  demo backup verify [--db ...] <file>`)
	db := fs.String("db", defaultDB, "database: a SQLite file path, postgres://user@host:port/db or mysql://user:pass@host:port/db")
	quiet := fs.Bool("quiet", false, "no progress on stderr")
	file, err := parseWithFile(fs, args)
	if err != nil {
		return err
	}
	src, err := parseDataSource(*db)
	if err != nil {
		return usagef("--db: %v", err)
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	head, err := backup.ReadManifest(f)
	if err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	pool, err := openPool(ctx, src)
	if err != nil {
		return err
	}
	defer pool.Close()
	prog := newProgress(e.Stderr, *quiet)
	m, err := backup.Validate(ctx, f, pool, tenant.ID(head.Tenant), &backup.RestoreOptions{Exclude: backupExclude, Session: crossTenant(src.Dialect), Progress: prog.update})
	prog.done()
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "%s: OK: tenant %s, %s, %s, %d tables, %d rows, taken %s\n", file, m.Tenant, m.Codec, m.Dialect, len(m.Tables), m.TotalRows(), m.CreatedAt.Format(time.RFC3339))
	for _, t := range m.Tables {
		fmt.Fprintf(e.Stdout, "  %-16s %-8s %9d rows  sha256 %s\n", t.Name, t.Kind, t.Rows, shortSum(t.SHA256))
	}
	return nil
}

func runRestore(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "restore", `Validates the whole file first, then replaces the tenant's rows with the
file's in one transaction (children deleted first, parents inserted first,
tenant checks before the commit). Nothing is written if the file is
damaged, of another tenant or of another schema. --dry-run does everything
and rolls back. --as-tenant restores the file's tenant into another one.

  demo restore --tenant acme tenant_1_acme_20250101T000000Z.jsonl.gz --dry-run`)
	db := fs.String("db", defaultDB, "database: a SQLite file path, postgres://user@host:port/db or mysql://user:pass@host:port/db")
	slug := fs.String("tenant", "", "the slug of the tenant the file holds (required)")
	as := fs.String("as-tenant", "", "restore into this other tenant (slug) instead")
	dry := fs.Bool("dry-run", false, "perform the restore and roll it back")
	quiet := fs.Bool("quiet", false, "no progress on stderr")
	file, err := parseWithFile(fs, args)
	if err != nil {
		return err
	}
	if *slug == "" {
		return usagef("--tenant is required")
	}
	src, err := parseDataSource(*db)
	if err != nil {
		return usagef("--db: %v", err)
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	pool, err := openPool(ctx, src)
	if err != nil {
		return err
	}
	defer pool.Close()
	id, err := tenantBySlug(ctx, pool, src.Dialect, *slug)
	if err != nil {
		return err
	}
	opts := &backup.RestoreOptions{DryRun: *dry, Exclude: backupExclude, Session: crossTenant(src.Dialect)}
	if *as != "" {
		target, err := tenantBySlug(ctx, pool, src.Dialect, *as)
		if err != nil {
			return err
		}
		opts.AsTenant = fmt.Sprint(target)
	}
	prog := newProgress(e.Stderr, *quiet)
	opts.Progress = prog.update
	rep, err := backup.Restore(ctx, pool, tenant.ID(fmt.Sprint(id)), f, opts)
	prog.done()
	if err != nil {
		return err
	}
	verb := "restored"
	if rep.DryRun {
		verb = "dry run (rolled back): would restore"
	}
	fmt.Fprintf(e.Stdout, "%s %s into tenant %s in %v\n", verb, file, rep.Tenant, rep.Elapsed.Round(time.Millisecond))
	for _, t := range rep.Tables {
		fmt.Fprintf(e.Stdout, "  %-16s deleted %7d  inserted %7d\n", t.Name, t.Deleted, t.Inserted)
	}
	for _, s := range rep.Sequences {
		fmt.Fprintf(e.Stdout, "  raised %s\n", s)
	}
	return nil
}

// parseWithFile parses flags around exactly one positional file argument
// (flags may come before or after it).
func parseWithFile(fs *flag.FlagSet, args []string) (string, error) {
	var files []string
	for {
		if err := parseQuiet(fs, args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.Usage()
				return "", errHelp
			}
			return "", usagef("%v", err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		files = append(files, rest[0])
		args = rest[1:]
	}
	switch len(files) {
	case 0:
		return "", usagef("a backup file is required")
	case 1:
		return files[0], nil
	}
	return "", usagef("one backup file, not %d", len(files))
}

// tenantBySlug returns the id of the organization with the slug.
func tenantBySlug(ctx context.Context, db *sql.DB, d sqldialect.Dialect, slug string) (int64, error) {
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: d != sqldialect.SQLite})
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	if s := crossTenant(d); s != nil {
		if err := s(ctx, tx); err != nil {
			return 0, err
		}
	}
	var id int64
	err = tx.QueryRowContext(ctx, d.Rebind("SELECT id FROM organizations WHERE slug = ?"), slug).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("no tenant with slug %q", slug)
	}
	return id, err
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, s)
}

func shortSum(s string) string {
	if len(s) > 16 {
		return s[:16]
	}
	return s
}

// progress shows backup.Progress on stderr: a redrawn bar (rows, rows/s,
// current table) when stderr is a terminal, one plain line per table
// otherwise.
type progress struct {
	mu      sync.Mutex
	w       io.Writer
	tty     bool
	off     bool
	last    time.Time // last redraw
	drawn   bool
	phase   string
	phaseAt time.Time
	table   string
	rows    int64
}

func newProgress(w io.Writer, quiet bool) *progress {
	tty := false
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	return &progress{w: w, tty: tty, off: quiet}
}

func (p *progress) update(pr backup.Progress) {
	if p.off {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if pr.Phase != p.phase {
		if !p.tty && p.phase != "" {
			p.phaseLine(now)
		}
		p.phase, p.phaseAt, p.table = pr.Phase, now, ""
	}
	p.rows = pr.Rows
	rate := 0.0
	if el := now.Sub(p.phaseAt).Seconds(); el > 0 {
		rate = float64(pr.Rows) / el
	}
	if !p.tty {
		if pr.Table != p.table && pr.Table != "" {
			fmt.Fprintf(p.w, "%s: %s\n", pr.Phase, pr.Table)
		}
		p.table = pr.Table
		return
	}
	p.table = pr.Table
	if now.Sub(p.last) < 100*time.Millisecond && p.drawn {
		return
	}
	p.last = now
	bar := ""
	if pr.TotalRows > 0 {
		const width = 24
		done := int(float64(width) * float64(min(pr.Rows, pr.TotalRows)) / float64(pr.TotalRows))
		bar = "[" + strings.Repeat("=", done) + strings.Repeat(" ", width-done) + "] "
	}
	fmt.Fprintf(p.w, "\r\033[K%-8s %s%d rows  %.0f rows/s  %s", pr.Phase, bar, pr.Rows, rate, pr.Table)
	p.drawn = true
}

func (p *progress) done() {
	if p.off {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
	}
	if !p.tty && p.phase != "" {
		p.phaseLine(time.Now())
	}
}

// phaseLine ends a phase in plain mode with its rows and rate.
func (p *progress) phaseLine(now time.Time) {
	el := now.Sub(p.phaseAt)
	if p.rows > 0 && el > 0 {
		fmt.Fprintf(p.w, "%s: %d rows in %v (%.0f rows/s)\n", p.phase, p.rows, el.Round(time.Millisecond), float64(p.rows)/el.Seconds())
		return
	}
	fmt.Fprintf(p.w, "%s: done in %v\n", p.phase, el.Round(time.Millisecond))
}
