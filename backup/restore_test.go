package backup_test

import (
	"bytes"
	"context"
	"database/sql"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tenantkit/tenantkit/backup"
	"github.com/tenantkit/tenantkit/internal/sqldialect"
)

func TestDryRunChangesNothing(t *testing.T) {
	forEachDB(t, func(t *testing.T, c dbCase, db *sql.DB) {
		ctx := context.Background()
		createSchema(t, db, c.d)
		seed(t, db, c.d)
		file := exportBytes(t, db, "1", nil)
		mutate(t, db, c.d)
		before := tableSums(t, db)
		rep, err := backup.Restore(ctx, db, "1", bytes.NewReader(file), &backup.RestoreOptions{DryRun: true})
		require.NoError(t, err)
		require.True(t, rep.DryRun)
		require.Equal(t, before, tableSums(t, db))
		counts := map[string]backup.TableReport{}
		for _, tr := range rep.Tables {
			counts[tr.Name] = tr
		}
		// mutate left A with 11 meters, 4 invoices, 6 items (one deleted,
		// one added), 3 employees; the file has 12, 3, 6, 4.
		require.Equal(t, backup.TableReport{Name: "meters", Deleted: 11, Inserted: 12}, counts["meters"])
		require.Equal(t, backup.TableReport{Name: "invoices", Deleted: 4, Inserted: 3}, counts["invoices"])
		require.Equal(t, backup.TableReport{Name: "invoice_items", Deleted: 6, Inserted: 6}, counts["invoice_items"])
		require.Equal(t, backup.TableReport{Name: "departments", Deleted: 2, Inserted: 2, Fixups: 2}, counts["departments"])
		require.Equal(t, backup.TableReport{Name: "employees", Deleted: 3, Inserted: 4}, counts["employees"])
	})
}

// TestOrderAndCycle: the manifest restores parents first along the
// three-level chain, and breaks the departments ⇄ employees cycle at the
// nullable manager_id, whose values travel as fixups.
func TestOrderAndCycle(t *testing.T) {
	forEachDB(t, func(t *testing.T, c dbCase, db *sql.DB) {
		createSchema(t, db, c.d)
		seed(t, db, c.d)
		var buf bytes.Buffer
		m, err := backup.Export(context.Background(), db, "1", &buf, nil)
		require.NoError(t, err)
		var names []string
		for _, tm := range m.Tables {
			names = append(names, tm.Name)
		}
		pos := func(n string) int { return slices.Index(names, n) }
		require.Equal(t, 0, pos("organizations"))
		require.Less(t, pos("properties"), pos("buildings"))
		require.Less(t, pos("buildings"), pos("meters"))
		require.Less(t, pos("invoices"), pos("invoice_items"))
		require.Less(t, pos("departments"), pos("employees"))
		require.Equal(t, -1, pos("tariffs"), "global tables are not part of a tenant's backup")
		require.Equal(t, []string{"manager_id"}, m.Table("departments").Deferred)
		require.Equal(t, int64(2), m.Table("departments").Fixups)
		require.Equal(t, "closure", m.Table("invoice_items").Kind)

		// The whole tenant deleted, then restored: every level comes back.
		before := tableSums(t, db)
		mustExec(t, db, `UPDATE departments SET manager_id = NULL WHERE tenant_id = 1`, `DELETE FROM employees WHERE tenant_id = 1`,
			`DELETE FROM departments WHERE tenant_id = 1`, `DELETE FROM meters WHERE tenant_id = 1`, `DELETE FROM buildings WHERE tenant_id = 1`,
			`DELETE FROM properties WHERE tenant_id = 1`)
		_, err = backup.Restore(context.Background(), db, "1", bytes.NewReader(buf.Bytes()), nil)
		require.NoError(t, err)
		require.Equal(t, before, tableSums(t, db))
	})
}

func TestAsTenant(t *testing.T) {
	forEachDB(t, func(t *testing.T, c dbCase, db *sql.DB) {
		ctx := context.Background()
		createSchema(t, db, c.d)
		seed(t, db, c.d)
		file := exportBytes(t, db, "1", &backup.Options{Format: backup.SQL})

		// Into the same database: tenant 3 does not exist yet.
		_, err := backup.Restore(ctx, db, "1", bytes.NewReader(file), &backup.RestoreOptions{AsTenant: "3"})
		require.ErrorIs(t, err, backup.ErrTenantNotFound)
		// It exists, but the source rows still hold the keys: refused by
		// the database inside the transaction, nothing changed.
		mustExec(t, db, `INSERT INTO organizations (id, slug, name) VALUES (3, 'initech', 'Initech')`)
		before := tableSums(t, db)
		_, err = backup.Restore(ctx, db, "1", bytes.NewReader(file), &backup.RestoreOptions{AsTenant: "3"})
		require.Error(t, err)
		require.Equal(t, before, tableSums(t, db))
		// Without AsTenant the file never restores into another tenant.
		_, err = backup.Restore(ctx, db, "3", bytes.NewReader(file), nil)
		require.ErrorIs(t, err, backup.ErrTenant)

		// Into another database: every tenant reference is rewritten.
		target := freshTarget(t, c)
		mustExec(t, target, `INSERT INTO organizations (id, slug, name) VALUES (3, 'initech', 'Initech')`)
		rep, err := backup.Restore(ctx, target, "1", bytes.NewReader(file), &backup.RestoreOptions{AsTenant: "3"})
		require.NoError(t, err)
		require.Equal(t, "3", rep.Tenant)
		var n1, n3 int
		require.NoError(t, target.QueryRow(`SELECT COUNT(*) FROM meters WHERE tenant_id = 1`).Scan(&n1))
		require.NoError(t, target.QueryRow(`SELECT COUNT(*) FROM meters WHERE tenant_id = 3`).Scan(&n3))
		require.Equal(t, 0, n1)
		require.Equal(t, 12, n3)
		var name string
		require.NoError(t, target.QueryRow(`SELECT name FROM organizations WHERE id = 3`).Scan(&name))
		require.Equal(t, "Initech", name, "the target tenant's own row is left alone")
		var orgs int
		require.NoError(t, target.QueryRow(`SELECT COUNT(*) FROM organizations`).Scan(&orgs))
		require.Equal(t, 1, orgs)
	})
}

// TestSequencesRaisedNeverLowered: after a restore into an empty database,
// new rows get keys past the restored ones; a sequence already ahead stays
// where it is.
func TestSequencesRaisedNeverLowered(t *testing.T) {
	forEachDB(t, func(t *testing.T, c dbCase, db *sql.DB) {
		ctx := context.Background()
		createSchema(t, db, c.d)
		seed(t, db, c.d)
		file := exportBytes(t, db, "1", nil)

		target := freshTarget(t, c)
		if c.d == sqldialect.Postgres {
			// A sequence ahead of the data must not move back.
			mustExec(t, target, `SELECT setval('invoices_id_seq', 5000)`)
		}
		rep, err := backup.Restore(ctx, target, "1", bytes.NewReader(file), nil)
		require.NoError(t, err)
		t.Logf("sequences: %v", rep.Sequences)
		ins := func(q string) int64 {
			var id int64
			switch c.d {
			case sqldialect.Postgres:
				require.NoError(t, target.QueryRow(q+" RETURNING id").Scan(&id))
			default:
				res, err := target.Exec(q)
				require.NoError(t, err)
				id, err = res.LastInsertId()
				require.NoError(t, err)
			}
			return id
		}
		require.Greater(t, ins(`INSERT INTO properties (tenant_id, name) VALUES (1, 'new')`), int64(3))
		require.Greater(t, ins(`INSERT INTO meters (tenant_id, building_id, serial) VALUES (1, 11, 'new')`), int64(322))
		inv := ins(`INSERT INTO invoices (tenant_id, total) VALUES (1, 1)`)
		if c.d == sqldialect.Postgres {
			require.Equal(t, int64(5001), inv)
			require.Contains(t, rep.Sequences, "public.properties_id_seq: 3")
		} else {
			require.Greater(t, inv, int64(3))
		}
	})
}
