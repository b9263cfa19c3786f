package backup_test

import (
	"bytes"
	"context"
	"database/sql"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"github.com/tenantkit/tenantkit/backup"
	"github.com/tenantkit/tenantkit/internal/sqldialect"
	"github.com/tenantkit/tenantkit/internal/testenv"
)

// tenantSums are the per-table checksums of tenant 1's rows only.
func tenantSums(t testing.TB, db *sql.DB) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, tb := range allTables {
		where := "WHERE tenant_id = 1"
		switch tb {
		case "organizations":
			where = "WHERE id = 1"
		case "tariffs":
			where = ""
		case "invoice_items":
			where = "WHERE invoice_id IN (SELECT id FROM invoices WHERE tenant_id = 1)"
		}
		out[tb] = tableSum(t, db, tb, where)
	}
	return out
}

// TestSQLLoadsWithClients: the SQL format loads as it is with psql,
// mariadb and sqlite3 into a database that has the schema, and yields the
// tenant's rows exactly.
func TestSQLLoadsWithClients(t *testing.T) {
	type target struct {
		db   *sql.DB
		load func(file string) *exec.Cmd
	}
	targets := map[string]func(t *testing.T) target{
		"sqlite": func(t *testing.T) target {
			p := filepath.Join(t.TempDir(), "target.db")
			db, err := sql.Open("sqlite", "file:"+p+"?_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)")
			require.NoError(t, err)
			t.Cleanup(func() { db.Close() })
			return target{db, func(file string) *exec.Cmd {
				c := exec.Command("sqlite3", "-bail", p)
				c.Stdin = mustOpen(t, file)
				return c
			}}
		},
		"postgres": func(t *testing.T) target {
			dsn := testenv.PostgresDatabase(t)
			db, err := sql.Open("pgx", dsn)
			require.NoError(t, err)
			t.Cleanup(func() { db.Close() })
			return target{db, func(file string) *exec.Cmd {
				return exec.Command("psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-f", file)
			}}
		},
		"mysql": func(t *testing.T) target {
			dsn := testenv.MySQLDatabase(t)
			cfg, err := mysql.ParseDSN(dsn)
			require.NoError(t, err)
			db, err := sql.Open("mysql", dsn)
			require.NoError(t, err)
			t.Cleanup(func() { db.Close() })
			host, port := "127.0.0.1", "3306"
			if u, err := url.Parse("tcp://" + cfg.Addr); err == nil {
				host, port = u.Hostname(), u.Port()
			}
			args := []string{"-h", host, "-P", port, "-u", cfg.User, cfg.DBName}
			if cfg.Passwd != "" {
				args = append(args, "-p"+cfg.Passwd)
			}
			return target{db, func(file string) *exec.Cmd {
				c := exec.Command("mariadb", args...)
				c.Stdin = mustOpen(t, file)
				return c
			}}
		},
	}
	forEachDB(t, func(t *testing.T, c dbCase, db *sql.DB) {
		client := map[sqldialect.Dialect]string{sqldialect.SQLite: "sqlite3", sqldialect.Postgres: "psql", sqldialect.MySQL: "mariadb"}[c.d]
		if _, err := exec.LookPath(client); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is not installed", client)
			}
			t.Skipf("%s is not installed", client)
		}
		createSchema(t, db, c.d)
		seed(t, db, c.d)
		want := tenantSums(t, db)
		file := filepath.Join(t.TempDir(), "tenant_1.sql")
		var buf bytes.Buffer
		_, err := backup.Export(context.Background(), db, "1", &buf, &backup.Options{Format: backup.SQL, NoCompress: true})
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(file, buf.Bytes(), 0o600))

		tg := targets[c.name](t)
		createSchema(t, tg.db, c.d)
		mustExec(t, tg.db, `INSERT INTO tariffs (id, name) VALUES (1, 'standard'), (2, 'night')`)
		out, err := tg.load(file).CombinedOutput()
		require.NoError(t, err, "%s: %s", client, out)
		require.Equal(t, want, tenantSums(t, tg.db))
	})
}

func mustOpen(t testing.TB, name string) *os.File {
	f, err := os.Open(name)
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	return f
}
