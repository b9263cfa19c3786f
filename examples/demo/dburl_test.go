package main

import (
	"net/url"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"github.com/tenantkit/tenantkit/internal/sqldialect"
	"github.com/tenantkit/tenantkit/internal/testenv"
)

func TestParseDataSource(t *testing.T) {
	for _, c := range []struct {
		in      string
		driver  string
		dialect sqldialect.Dialect
		check   func(t *testing.T, ds dataSource)
	}{
		{"./tenantkit-demo.db", "sqlite", sqldialect.SQLite, func(t *testing.T, ds dataSource) {
			require.True(t, strings.HasPrefix(ds.DSN, "file:./tenantkit-demo.db?"))
			require.Contains(t, ds.DSN, "foreign_keys(1)")
			require.Contains(t, ds.DSN, "journal_mode(WAL)")
			require.Contains(t, ds.DSN, "synchronous(NORMAL)")
		}},
		{"sqlite:///tmp/x.db", "sqlite", sqldialect.SQLite, func(t *testing.T, ds dataSource) {
			require.Equal(t, "/tmp/x.db", ds.Display)
		}},
		{"file:/tmp/x.db?cache=shared", "sqlite", sqldialect.SQLite, func(t *testing.T, ds dataSource) {
			require.Contains(t, ds.DSN, "&cache=shared")
		}},
		{"postgres://u:secret@db:5432/demo?sslmode=disable", "pgx", sqldialect.Postgres, func(t *testing.T, ds dataSource) {
			require.NotContains(t, ds.Display, "secret")
			require.Contains(t, ds.DSN, "secret")
		}},
		{"postgresql://u@db/demo", "pgx", sqldialect.Postgres, nil},
		{"mysql://app:p%40ss@db.example:3307/billing?tls=false&loc=UTC", "mysql", sqldialect.MySQL, func(t *testing.T, ds dataSource) {
			cfg, err := mysql.ParseDSN(ds.DSN)
			require.NoError(t, err)
			require.Equal(t, "app", cfg.User)
			require.Equal(t, "p@ss", cfg.Passwd)
			require.Equal(t, "tcp", cfg.Net)
			require.Equal(t, "db.example:3307", cfg.Addr)
			require.Equal(t, "billing", cfg.DBName)
			require.True(t, cfg.ParseTime)
			require.NotContains(t, ds.Display, "p%40ss")
		}},
		{"mysql://root@127.0.0.1/demo", "mysql", sqldialect.MySQL, func(t *testing.T, ds dataSource) {
			cfg, err := mysql.ParseDSN(ds.DSN)
			require.NoError(t, err)
			require.Equal(t, "127.0.0.1:3306", cfg.Addr)
		}},
		{"root:pw@tcp(127.0.0.1:3306)/test", "mysql", sqldialect.MySQL, func(t *testing.T, ds dataSource) {
			cfg, err := mysql.ParseDSN(ds.DSN)
			require.NoError(t, err)
			require.True(t, cfg.ParseTime)
			require.NotContains(t, ds.Display, ":pw@")
		}},
	} {
		ds, err := parseDataSource(c.in)
		require.NoError(t, err, c.in)
		require.Equal(t, c.driver, ds.Driver, c.in)
		require.Equal(t, c.dialect, ds.Dialect, c.in)
		if c.check != nil {
			c.check(t, ds)
		}
	}
	for _, bad := range []string{"", "  ", "mysql://host", "mysql:///db", "mysql://h/a/b", "postgres:///db", "sqlite://", "mysql://h/db?timeout=forever"} {
		_, err := parseDataSource(bad)
		require.Error(t, err, "%q", bad)
	}
	u, err := withPostgresUser("postgres://owner:pw@h:5432/db?sslmode=disable", defaultAppRole)
	require.NoError(t, err)
	require.Equal(t, "postgres://tenantkit_app@h:5432/db?sslmode=disable", u)
}

// FuzzParseDataSource: any --db value parses or fails cleanly, and the
// printable form never shows a password.
func FuzzParseDataSource(f *testing.F) {
	for _, s := range []string{
		"./tenantkit-demo.db", "file:x.db?a=b", "sqlite://x", "postgres://u:pw@h:5432/d?sslmode=disable",
		"mysql://u:pw@h:3306/d?parseTime=false", "u:pw@tcp(h:3306)/d", "mysql://u:p@w@h/d", "postgres://[::1", "mysql://%zz@h/d",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ds, err := parseDataSource(s)
		if err != nil {
			return
		}
		require.NotEmpty(t, ds.Driver)
		require.NotEmpty(t, ds.DSN)
		if ds.Driver == "mysql" {
			cfg, err := mysql.ParseDSN(ds.DSN)
			require.NoError(t, err, "the converted DSN parses")
			if len(cfg.Passwd) >= 3 {
				require.NotContains(t, ds.Display, ":"+cfg.Passwd+"@")
			}
		}
	})
}

// TestMySQLURLConnects: a mysql:// URL converted by parseDataSource reaches
// a real server.
func TestMySQLURLConnects(t *testing.T) {
	t.Parallel()
	cfg, err := mysql.ParseDSN(testenv.MySQLDatabase(t))
	require.NoError(t, err)
	u := url.URL{Scheme: "mysql", Host: cfg.Addr, Path: "/" + cfg.DBName}
	if cfg.Passwd != "" {
		u.User = url.UserPassword(cfg.User, cfg.Passwd)
	} else {
		u.User = url.User(cfg.User)
	}
	a := openApp(t, Config{DB: u.String()})
	require.Equal(t, sqldialect.MySQL, a.Dialect)
	require.Equal(t, 4, a.Seeded.Organizations)
}
