package main

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/go-sql-driver/mysql"

	"github.com/tenantkit/tenantkit/internal/sqldialect"
)

// dataSource is a parsed --db value: the database/sql driver name, its DSN,
// and the dialect.
type dataSource struct {
	Driver  string
	DSN     string
	Dialect sqldialect.Dialect
	// Display is the value safe to print: the password is removed.
	Display string
}

// sqlitePragmas are applied to every SQLite connection: foreign keys are
// enforced, writers wait instead of failing with SQLITE_BUSY, WAL lets
// readers run beside the writer, and synchronous=NORMAL is durable under
// WAL against application crashes (a power loss may lose the last commits).
const sqlitePragmas = "_time_format=sqlite&_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"

// parseDataSource turns a --db value into a driver and DSN:
//
//	postgres://user:pass@host:port/db?sslmode=disable  (also postgresql://)
//	mysql://user:pass@host:port/db                     (converted to a go-sql-driver DSN)
//	user:pass@tcp(host:port)/db                        (a go-sql-driver DSN as it is)
//	sqlite://path, file:path, or a plain file path     (SQLite, pure Go)
func parseDataSource(s string) (dataSource, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return dataSource{}, errors.New("empty database location")
	}
	lower := strings.ToLower(s)
	switch {
	case strings.HasPrefix(lower, "postgres://"), strings.HasPrefix(lower, "postgresql://"):
		u, err := url.Parse(s)
		if err != nil {
			return dataSource{}, fmt.Errorf("parse postgres URL: %w", redactURLError(err))
		}
		if u.Host == "" {
			return dataSource{}, errors.New("postgres URL has no host")
		}
		return dataSource{Driver: "pgx", DSN: s, Dialect: sqldialect.Postgres, Display: u.Redacted()}, nil
	case strings.HasPrefix(lower, "mysql://"), strings.HasPrefix(lower, "mariadb://"):
		u, err := url.Parse(s)
		if err != nil {
			return dataSource{}, fmt.Errorf("parse mysql URL: %w", redactURLError(err))
		}
		cfg, err := mysqlConfigFromURL(u)
		if err != nil {
			return dataSource{}, err
		}
		return dataSource{Driver: "mysql", DSN: cfg.FormatDSN(), Dialect: sqldialect.MySQL, Display: u.Redacted()}, nil
	case strings.Contains(s, "@tcp(") || strings.Contains(s, "@unix("):
		cfg, err := mysql.ParseDSN(s)
		if err != nil {
			return dataSource{}, fmt.Errorf("parse mysql DSN: %w", err)
		}
		cfg.ParseTime = true
		display := cfg.Clone()
		display.Passwd = ""
		if cfg.Passwd != "" {
			display.Passwd = "xxxxx"
		}
		return dataSource{Driver: "mysql", DSN: cfg.FormatDSN(), Dialect: sqldialect.MySQL, Display: display.FormatDSN()}, nil
	}
	if looksLikeKeyValueDSN(s) {
		return dataSource{}, errors.New("key=value connection strings are not supported: use a postgres://user@host:port/db URL")
	}
	path := s
	switch {
	case strings.HasPrefix(lower, "sqlite://"):
		path = s[len("sqlite://"):]
	case strings.HasPrefix(lower, "sqlite:"):
		path = s[len("sqlite:"):]
	case strings.HasPrefix(lower, "file:"):
		path = s[len("file:"):]
	}
	path, query, _ := strings.Cut(path, "?")
	if path == "" {
		return dataSource{}, errors.New("sqlite location has no file path")
	}
	dsn := "file:" + path + "?" + sqlitePragmas
	if query != "" {
		dsn += "&" + query
	}
	return dataSource{Driver: "sqlite", DSN: dsn, Dialect: sqldialect.SQLite, Display: path}, nil
}

// mysqlConfigFromURL converts mysql://user:pass@host:port/db?param=v into a
// go-sql-driver configuration with parseTime=true. Query parameters are the
// driver's own DSN parameters (tls, charset, loc, timeout, ...).
func mysqlConfigFromURL(u *url.URL) (*mysql.Config, error) {
	if u.Host == "" {
		return nil, errors.New("mysql URL has no host")
	}
	db := strings.TrimPrefix(u.Path, "/")
	if db == "" || strings.Contains(db, "/") {
		return nil, errors.New("mysql URL must name one database: mysql://user:pass@host:port/dbname")
	}
	cfg, err := mysql.ParseDSN("/" + db + "?" + u.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("mysql URL parameters: %w", err)
	}
	cfg.Net = "tcp"
	cfg.Addr = u.Host
	if u.Port() == "" {
		cfg.Addr = u.Host + ":3306"
	}
	if u.User != nil {
		cfg.User = u.User.Username()
		cfg.Passwd, _ = u.User.Password()
	}
	cfg.ParseTime = true
	return cfg, nil
}

// redactURLError drops the URL (which may hold a password) from a
// *url.Error, keeping the reason.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// withPostgresUser returns the postgres URL s with its user replaced by user
// and its password removed.
func withPostgresUser(s, user string) (string, error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("parse postgres URL: %w", redactURLError(err))
	}
	u.User = url.User(user)
	return u.String(), nil
}

// looksLikeKeyValueDSN reports a libpq key=value string ("host=db
// user=app dbname=demo"), which would otherwise be taken for a SQLite file
// name.
func looksLikeKeyValueDSN(s string) bool {
	for _, f := range strings.Fields(s) {
		k, _, ok := strings.Cut(f, "=")
		switch strings.ToLower(k) {
		case "host", "hostaddr", "port", "user", "dbname", "password", "sslmode":
			if ok {
				return true
			}
		}
	}
	return false
}
