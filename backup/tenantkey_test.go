package backup_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tenantkit/tenantkit/backup"
	"github.com/tenantkit/tenantkit/internal/sqldialect"
)

// Tenants with text keys built to break a filter that concatenates: a
// quote, and a value that would widen the WHERE clause.
var hostileTenants = []string{"o'brien", "1) OR (1=1", "1' OR '1'='1", `back\slash`, "1"}

func textKeySchema(t testing.TB, db *sql.DB, d sqldialect.Dialect) {
	t.Helper()
	e := ""
	if d == sqldialect.MySQL {
		e = " ENGINE=InnoDB"
	}
	mustExec(t, db,
		`CREATE TABLE organizations (id varchar(64) PRIMARY KEY, name varchar(100) NOT NULL)`+e,
		`CREATE TABLE notes (id integer PRIMARY KEY, tenant_id varchar(64) NOT NULL, body varchar(100) NOT NULL, FOREIGN KEY (tenant_id) REFERENCES organizations(id))`+e)
	for i, id := range hostileTenants {
		_, err := db.Exec(d.Rebind(`INSERT INTO organizations (id, name) VALUES (?, ?)`), id, "org "+id)
		require.NoError(t, err)
		for j := range 3 {
			_, err := db.Exec(d.Rebind(`INSERT INTO notes (id, tenant_id, body) VALUES (?, ?, ?)`), i*10+j, id, "note of "+id)
			require.NoError(t, err)
		}
	}
}

func TestHostileTenantKeys(t *testing.T) {
	forEachDB(t, func(t *testing.T, c dbCase, db *sql.DB) {
		ctx := context.Background()
		textKeySchema(t, db, c.d)
		for _, f := range []backup.Format{backup.JSONL, backup.SQL} {
			for _, id := range hostileTenants {
				t.Run(f.String()+"/"+id, func(t *testing.T) {
					file := exportBytes(t, db, id, &backup.Options{Format: f, NoCompress: true})
					m, err := backup.Validate(ctx, bytes.NewReader(file), db, tenantID(id), nil)
					require.NoError(t, err)
					require.Equal(t, int64(3), m.Table("notes").Rows, "exactly the tenant's own rows")
					require.Equal(t, int64(1), m.Table("organizations").Rows)
					require.Equal(t, 3, strings.Count(string(file), needle(f, c.d, "note of "+id)), "only %q's notes", id)
					// Restoring it back is a no-op on the data.
					before := tableSumsOf(t, db, "organizations", "notes")
					_, err = backup.Restore(ctx, db, tenantID(id), bytes.NewReader(file), nil)
					require.NoError(t, err)
					require.Equal(t, before, tableSumsOf(t, db, "organizations", "notes"))
				})
			}
		}
		t.Run("unknown tenant", func(t *testing.T) {
			_, err := backup.Export(ctx, db, "nobody", &bytes.Buffer{}, nil)
			require.ErrorIs(t, err, backup.ErrTenantNotFound)
		})
	})
}

// needle spells s as it appears in a file of format f.
func needle(f backup.Format, d sqldialect.Dialect, s string) string {
	if f == backup.JSONL {
		return strings.ReplaceAll(s, `\`, `\\`)
	}
	if d == sqldialect.MySQL && strings.Contains(s, `\`) {
		return "X'" + hex.EncodeToString([]byte(s)) + "'" // no backslash reaches a MySQL string
	}
	return strings.ReplaceAll(s, "'", "''")
}

// TestIntegerTenantRefusesText: on an integer tenant column, a tenant id
// that is not an integer is refused before any query, so no database can
// compare it loosely (MySQL would turn "1) OR (1=1" into 1).
func TestIntegerTenantRefusesText(t *testing.T) {
	forEachDB(t, func(t *testing.T, c dbCase, db *sql.DB) {
		createSchema(t, db, c.d)
		mustExec(t, db, `INSERT INTO organizations (id, slug, name) VALUES (1, 'acme', 'Acme')`)
		for _, id := range []string{"1) OR (1=1", "1 ", "1.0", "0x1", "", "1; DROP TABLE meters"} {
			var buf bytes.Buffer
			_, err := backup.Export(context.Background(), db, tenantID(id), &buf, nil)
			require.ErrorIs(t, err, backup.ErrInvalidTenant, "%q", id)
			require.Zero(t, buf.Len())
		}
	})
}

func tableSumsOf(t testing.TB, db *sql.DB, tables ...string) map[string]string {
	out := map[string]string{}
	for _, tb := range tables {
		out[tb] = tableSum(t, db, tb, "")
	}
	return out
}
