package testenv

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	_ "modernc.org/sqlite"             // registers "sqlite"
)

// Name returns a fresh lower-case identifier with the given prefix, for a
// database, schema or key prefix that isolates one test.
func Name(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + "_" + hex.EncodeToString(b[:])
}

// PostgresDatabase creates a fresh PostgreSQL database on the server of
// TEST_POSTGRES_DSN (under the gate), drops it when t ends, and returns a DSN
// (URL form) that connects to it as the same user.
func PostgresDatabase(t testing.TB) string {
	t.Helper()
	base := Postgres(t)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("testenv: open %s: %v", PostgresDSN, err)
	}
	defer admin.Close()
	name := Name("tk")
	if _, err := admin.ExecContext(t.Context(), "CREATE DATABASE "+name); err != nil {
		t.Fatalf("testenv: create postgres database (is %s reachable?): %v", PostgresDSN, err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer db.Close()
		_, _ = db.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
	})
	dsn, err := withPostgresDB(base, name)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return dsn
}

func withPostgresDB(dsn, name string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("parse %s: %w", PostgresDSN, err)
		}
		u.Path = "/" + name
		return u.String(), nil
	}
	// key=value form
	parts := strings.Fields(dsn)
	out := parts[:0]
	for _, p := range parts {
		if !strings.HasPrefix(p, "dbname=") {
			out = append(out, p)
		}
	}
	return strings.Join(append(out, "dbname="+name), " "), nil
}

// PostgresDB opens a fresh PostgreSQL database (see PostgresDatabase) and
// closes it when t ends.
func PostgresDB(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", PostgresDatabase(t))
	if err != nil {
		t.Fatalf("testenv: open postgres: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.PingContext(t.Context()); err != nil {
		t.Fatalf("testenv: ping postgres: %v", err)
	}
	return db
}

// MySQLDatabase creates a fresh database on the MySQL/MariaDB server of
// TEST_MYSQL_DSN (under the gate), drops it when t ends, and returns a
// go-sql-driver/mysql DSN for it with parseTime=true and multiStatements off.
func MySQLDatabase(t testing.TB) string {
	t.Helper()
	base := MySQL(t)
	cfg, err := mysql.ParseDSN(base)
	if err != nil {
		t.Fatalf("testenv: parse %s: %v", MySQLDSN, err)
	}
	admin, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatalf("testenv: open %s: %v", MySQLDSN, err)
	}
	defer admin.Close()
	name := Name("tk")
	if _, err := admin.ExecContext(t.Context(), "CREATE DATABASE "+name+" CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
		t.Fatalf("testenv: create mysql database (is %s reachable?): %v", MySQLDSN, err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("mysql", cfg.FormatDSN())
		if err != nil {
			return
		}
		defer db.Close()
		_, _ = db.Exec("DROP DATABASE IF EXISTS " + name)
	})
	cfg.DBName = name
	cfg.ParseTime = true
	return cfg.FormatDSN()
}

// MySQLDB opens a fresh MySQL/MariaDB database (see MySQLDatabase) and closes
// it when t ends.
func MySQLDB(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", MySQLDatabase(t))
	if err != nil {
		t.Fatalf("testenv: open mysql: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.PingContext(t.Context()); err != nil {
		t.Fatalf("testenv: ping mysql: %v", err)
	}
	return db
}

// SQLitePath returns a DSN for a fresh SQLite file in t's temp directory with
// foreign keys enforced and a busy timeout, for the modernc.org/sqlite driver.
func SQLitePath(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "test.db")
	return "file:" + p + "?_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)"
}

// SQLiteDB opens a fresh SQLite database (see SQLitePath) and closes it when
// t ends. It needs no server and is never skipped.
func SQLiteDB(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", SQLitePath(t))
	if err != nil {
		t.Fatalf("testenv: open sqlite: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
