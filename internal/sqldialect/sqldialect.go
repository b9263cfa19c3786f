// Package sqldialect knows the few ways PostgreSQL, MySQL/MariaDB and SQLite
// differ that tenantkit's SQL-speaking packages care about: how the dialect
// of a *sql.DB is detected, bind placeholders, identifier quoting, and
// whether DDL is transactional. It imports no driver.
package sqldialect

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// Dialect names a SQL dialect. The zero value is Unknown.
type Dialect int

// Supported dialects.
const (
	Unknown Dialect = iota
	Postgres
	MySQL // MySQL and MariaDB
	SQLite
)

// String returns "postgres", "mysql", "sqlite" or "unknown".
func (d Dialect) String() string {
	switch d {
	case Postgres:
		return "postgres"
	case MySQL:
		return "mysql"
	case SQLite:
		return "sqlite"
	}
	return "unknown"
}

// Parse returns the dialect named s ("postgres", "postgresql", "pgx",
// "mysql", "mariadb", "sqlite", "sqlite3"), case-insensitively.
func Parse(s string) (Dialect, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "postgres", "postgresql", "pgx", "pg":
		return Postgres, nil
	case "mysql", "mariadb":
		return MySQL, nil
	case "sqlite", "sqlite3":
		return SQLite, nil
	}
	return Unknown, fmt.Errorf("sqldialect: unknown dialect %q (want postgres, mysql or sqlite)", s)
}

// ErrUnknown is returned by Detect when the dialect cannot be determined.
var ErrUnknown = errors.New("sqldialect: cannot detect the SQL dialect")

// FromDriver guesses the dialect from the driver's Go package path, without
// importing any driver. It returns Unknown when the driver is not recognised.
func FromDriver(d driver.Driver) Dialect {
	if d == nil {
		return Unknown
	}
	t := reflect.TypeOf(d)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	p := strings.ToLower(t.PkgPath())
	switch {
	case strings.Contains(p, "pgx"), strings.Contains(p, "lib/pq"), strings.Contains(p, "postgres"):
		return Postgres
	case strings.Contains(p, "mysql"):
		return MySQL
	case strings.Contains(p, "sqlite"):
		return SQLite
	}
	return Unknown
}

// Detect returns the dialect of db: from its driver when recognised, else by
// asking the server. It returns ErrUnknown when neither answers.
func Detect(ctx context.Context, db *sql.DB) (Dialect, error) {
	if d := FromDriver(db.Driver()); d != Unknown {
		return d, nil
	}
	var s string
	if err := db.QueryRowContext(ctx, "SELECT sqlite_version()").Scan(&s); err == nil {
		return SQLite, nil
	}
	if err := db.QueryRowContext(ctx, "SELECT version()").Scan(&s); err == nil {
		ls := strings.ToLower(s)
		switch {
		case strings.Contains(ls, "postgres"):
			return Postgres, nil
		case strings.Contains(ls, "mariadb"), strings.Contains(ls, "mysql"):
			return MySQL, nil
		}
		// MySQL's version() is just a number such as 8.0.36.
		if len(s) > 0 && s[0] >= '0' && s[0] <= '9' {
			return MySQL, nil
		}
	}
	return Unknown, ErrUnknown
}

// Placeholder returns the n-th (1-based) bind placeholder: $n on PostgreSQL,
// ? elsewhere.
func (d Dialect) Placeholder(n int) string {
	if d == Postgres {
		return "$" + strconv.Itoa(n)
	}
	return "?"
}

// Placeholders returns n placeholders starting at start, joined by ", ".
func (d Dialect) Placeholders(start, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(d.Placeholder(start + i))
	}
	return b.String()
}

// Quote quotes an identifier: "name" on PostgreSQL and SQLite, `name` on
// MySQL. Embedded quote characters are doubled, so any string is safe.
func (d Dialect) Quote(ident string) string {
	if d == MySQL {
		return "`" + strings.ReplaceAll(ident, "`", "``") + "`"
	}
	return `"` + strings.ReplaceAll(ident, `"`, `""`) + `"`
}

// QuoteString returns s as a SQL string literal of the dialect. Backslashes
// are doubled on MySQL, whose default sql_mode treats them as escapes.
func (d Dialect) QuoteString(s string) string {
	s = strings.ReplaceAll(s, "'", "''")
	if d == MySQL {
		s = strings.ReplaceAll(s, `\`, `\\`)
	}
	return "'" + s + "'"
}

// TransactionalDDL reports whether DDL runs inside a transaction and rolls
// back with it. False on MySQL/MariaDB, where DDL commits implicitly.
func (d Dialect) TransactionalDDL() bool { return d == Postgres || d == SQLite }

// Rebind rewrites a query written with ? placeholders into the dialect's
// style. Question marks inside single-quoted strings, double-quoted or
// backquoted identifiers are left alone.
func (d Dialect) Rebind(query string) string {
	if d != Postgres {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	var quote byte
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"' || c == '`':
			quote = c
		case c == '?':
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
