package backup_test

import (
	"bytes"
	"context"
	"database/sql"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tenantkit/tenantkit/backup"
	"github.com/tenantkit/tenantkit/internal/sqldialect"
)

func mutate(t testing.TB, db *sql.DB, d sqldialect.Dialect) {
	t.Helper()
	mustExec(t, db,
		`UPDATE properties SET name = 'changed' WHERE id = 1`,
		`UPDATE oddities SET txt = 'changed', big = 1 WHERE id = 1`,
		`UPDATE organizations SET name = 'Acme renamed' WHERE id = 1`,
		`DELETE FROM invoice_items WHERE id = 11`,
		`DELETE FROM meters WHERE id = 311`,
		`INSERT INTO invoices (id, tenant_id, total) VALUES (99, 1, 1.00)`,
		`INSERT INTO invoice_items (id, invoice_id, amount) VALUES (999, 99, 1.00)`,
		`UPDATE departments SET manager_id = NULL WHERE id = 1`,
		`DELETE FROM employees WHERE id = 12`,
	)
}

func TestRoundTrip(t *testing.T) {
	for _, f := range []backup.Format{backup.JSONL, backup.SQL} {
		for _, gz := range []bool{true, false} {
			t.Run(f.String()+map[bool]string{true: "+gzip", false: ""}[gz], func(t *testing.T) {
				forEachDB(t, func(t *testing.T, c dbCase, db *sql.DB) {
					ctx := context.Background()
					createSchema(t, db, c.d)
					seed(t, db, c.d)
					before := tableSums(t, db)
					var buf bytes.Buffer
					m, err := backup.Export(ctx, db, "1", &buf, &backup.Options{Format: f, NoCompress: !gz})
					require.NoError(t, err)
					require.Equal(t, "1", m.Tenant)
					require.Equal(t, int64(6), m.Table("buildings").Rows)
					require.Equal(t, int64(6), m.Table("invoice_items").Rows)
					mutate(t, db, c.d)
					require.NotEqual(t, before, tableSums(t, db))
					rep, err := backup.Restore(ctx, db, "1", bytes.NewReader(buf.Bytes()), nil)
					require.NoError(t, err)
					require.False(t, rep.DryRun)
					require.Equal(t, before, tableSums(t, db))
				})
			})
		}
	}
}
