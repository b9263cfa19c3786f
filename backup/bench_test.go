package backup_test

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/tenantkit/tenantkit/backup"
	"github.com/tenantkit/tenantkit/internal/testenv"
)

// Benchmarks for the note; they need PostgreSQL and run only with -bench.
// BACKUP_BENCH_ROWS overrides the tenant size (default 1,000,000; the
// peak-heap benchmark uses twice as many).

func benchRows() int {
	if n, err := strconv.Atoi(os.Getenv("BACKUP_BENCH_ROWS")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}

var (
	benchMu  sync.Mutex
	benchDBs = map[int]*sql.DB{}
	// benchDrop drops the benchmark databases; TestMain calls it.
	benchDrop []func()
)

// benchDB returns a database whose tenant 1 has rows readings (and tenant
// 2 a tenth as many), created once per process and size so that -count
// does not rebuild it.
func benchDB(b *testing.B, rows int) *sql.DB {
	b.Helper()
	benchMu.Lock()
	defer benchMu.Unlock()
	if db := benchDBs[rows]; db != nil {
		return db
	}
	base := testenv.Postgres(b)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		b.Fatal(err)
	}
	name := testenv.Name("tk_bench")
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		b.Fatal(err)
	}
	u, err := url.Parse(base)
	if err != nil {
		b.Fatal(err)
	}
	u.Path = "/" + name
	db, err := sql.Open("pgx", u.String())
	if err != nil {
		b.Fatal(err)
	}
	benchDrop = append(benchDrop, func() {
		db.Close()
		admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
		admin.Close()
	})
	mustExec(b, db,
		`CREATE TABLE organizations (id bigint PRIMARY KEY, slug text NOT NULL UNIQUE)`,
		`CREATE TABLE readings (id bigserial PRIMARY KEY, tenant_id bigint NOT NULL REFERENCES organizations(id), meter_id bigint NOT NULL,
			value numeric(14,3) NOT NULL, read_at timestamptz NOT NULL, note text)`,
		`CREATE INDEX readings_tenant ON readings (tenant_id)`,
		`INSERT INTO organizations VALUES (1, 'acme'), (2, 'globex')`,
		`INSERT INTO readings (tenant_id, meter_id, value, read_at, note) SELECT 1, n % 1000, (n * 7919 % 1000000) / 1000.0,
			timestamptz '2024-01-01 00:00:00+00' + n * interval '1 minute', CASE WHEN n % 10 = 0 THEN NULL ELSE 'reading ' || n END
			FROM generate_series(1::bigint, `+strconv.Itoa(rows)+`) n`,
		`INSERT INTO readings (tenant_id, meter_id, value, read_at, note) SELECT 2, n % 100, n / 10.0, now(), 'b'
			FROM generate_series(1::bigint, `+strconv.Itoa(rows/10)+`) n`,
		`VACUUM ANALYZE`)
	benchDBs[rows] = db // only once it is complete
	return db
}

func withPgx(b *testing.B, db *sql.DB, f func(c *pgx.Conn) error) {
	b.Helper()
	conn, err := db.Conn(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Raw(func(dc any) error { return f(dc.(*stdlib.Conn).Conn()) }); err != nil {
		b.Fatal(err)
	}
}

func reportRows(b *testing.B, rows, iters int) {
	b.ReportMetric(float64(rows)*float64(iters)/b.Elapsed().Seconds(), "rows/s")
}

const copyOut = `COPY (SELECT * FROM readings WHERE tenant_id = 1) TO STDOUT`

func BenchmarkPostgresExport(b *testing.B) {
	rows := benchRows()
	db := benchDB(b, rows)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		opts *backup.Options
	}{
		{"jsonl", &backup.Options{NoCompress: true}},
		{"jsonl-gzip", &backup.Options{CompressionLevel: 1}},
		{"sql", &backup.Options{NoCompress: true, Format: backup.SQL}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				if _, err := backup.Export(ctx, db, "1", io.Discard, tc.opts); err != nil {
					b.Fatal(err)
				}
				n++
			}
			reportRows(b, rows, n)
		})
	}
	b.Run("copy-to", func(b *testing.B) {
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			withPgx(b, db, func(c *pgx.Conn) error {
				_, err := c.PgConn().CopyTo(ctx, io.Discard, copyOut)
				return err
			})
			n++
		}
		reportRows(b, rows, n)
	})
}

func BenchmarkPostgresRestore(b *testing.B) {
	rows := benchRows()
	db := benchDB(b, rows)
	ctx := context.Background()
	var file, copyData bytes.Buffer
	if _, err := backup.Export(ctx, db, "1", &file, &backup.Options{NoCompress: true}); err != nil {
		b.Fatal(err)
	}
	withPgx(b, db, func(c *pgx.Conn) error {
		_, err := c.PgConn().CopyTo(ctx, &copyData, copyOut)
		return err
	})
	b.Run("restore-jsonl", func(b *testing.B) {
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			if _, err := backup.Restore(ctx, db, "1", bytes.NewReader(file.Bytes()), nil); err != nil {
				b.Fatal(err)
			}
			n++
		}
		reportRows(b, rows, n)
	})
	// The same work with COPY FROM: delete the tenant's rows and load them,
	// in one transaction (no validation, no checks).
	b.Run("copy-from", func(b *testing.B) {
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			withPgx(b, db, func(c *pgx.Conn) error {
				tx, err := c.Begin(ctx)
				if err != nil {
					return err
				}
				defer tx.Rollback(ctx)
				if _, err := tx.Exec(ctx, `DELETE FROM readings WHERE tenant_id = 1`); err != nil {
					return err
				}
				if _, err := tx.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(copyData.Bytes()), `COPY readings FROM STDIN`); err != nil {
					return err
				}
				return tx.Commit(ctx)
			})
			n++
		}
		reportRows(b, rows, n)
	})
}

// peakHeap samples the live heap every millisecond while f runs.
func peakHeap(f func()) uint64 {
	var peak atomic.Uint64
	done := make(chan struct{})
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	go func() {
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	runtime.GC()
	f()
	close(done)
	return peak.Load()
}

// BenchmarkPostgresPeakHeap reports the peak heap (MiB) of an export and
// a restore of a tenant of 2×BACKUP_BENCH_ROWS rows, through a file.
func BenchmarkPostgresPeakHeap(b *testing.B) {
	rows := 2 * benchRows()
	db := benchDB(b, rows)
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "tenant.jsonl.gz")
	var exportPeak, restorePeak uint64
	n := 0
	for b.Loop() {
		exportPeak = max(exportPeak, peakHeap(func() {
			f, err := os.Create(path)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := backup.Export(ctx, db, "1", f, &backup.Options{CompressionLevel: 1}); err != nil {
				b.Fatal(err)
			}
			if err := f.Close(); err != nil {
				b.Fatal(err)
			}
		}))
		restorePeak = max(restorePeak, peakHeap(func() {
			f, err := os.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			if _, err := backup.Restore(ctx, db, "1", f, nil); err != nil {
				b.Fatal(err)
			}
		}))
		n++
	}
	b.ReportMetric(float64(exportPeak)/(1<<20), "export-peak-MiB")
	b.ReportMetric(float64(restorePeak)/(1<<20), "restore-peak-MiB")
	reportRows(b, 2*rows, n)
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, drop := range benchDrop {
		drop()
	}
	os.Exit(code)
}
