package backup_test

import (
	"bytes"
	"compress/zlib"
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tenantkit/tenantkit/backup"
)

func exportBytes(t testing.TB, db *sql.DB, id string, opts *backup.Options) []byte {
	t.Helper()
	var buf bytes.Buffer
	_, err := backup.Export(context.Background(), db, tenantID(id), &buf, opts)
	require.NoError(t, err)
	return buf.Bytes()
}

// TestRefusals: every damaged or foreign file is refused by Validate and
// by Restore before any write, and the database is unchanged.
func TestRefusals(t *testing.T) {
	forEachDB(t, func(t *testing.T, c dbCase, db *sql.DB) {
		ctx := context.Background()
		createSchema(t, db, c.d)
		seed(t, db, c.d)
		plain := exportBytes(t, db, "1", &backup.Options{NoCompress: true})
		plainSQL := exportBytes(t, db, "1", &backup.Options{NoCompress: true, Format: backup.SQL})
		gz := exportBytes(t, db, "1", nil)
		// Leave the database different from the file, so a restore that
		// wrongly went ahead would show.
		mutate(t, db, c.d)
		before := tableSums(t, db)

		var zl bytes.Buffer
		zw := zlib.NewWriter(&zl)
		_, _ = zw.Write(plain)
		require.NoError(t, zw.Close())
		gzPath := filepath.Join(t.TempDir(), "tenant_1_acme.jsonl.gz")
		require.NoError(t, os.WriteFile(gzPath, zl.Bytes(), 0o600))
		zlibFile, err := os.ReadFile(gzPath)
		require.NoError(t, err)

		flipped := bytes.Clone(plain)
		i := bytes.Index(flipped, []byte("Acme property 2"))
		flipped[i] = 'X'
		flippedGz := bytes.Clone(gz)
		flippedGz[len(flippedGz)/2] ^= 0x01

		propLine := `["2","1","Acme property 2","1"]`
		otherTenant := reseal(t, replaceOnce(t, plain, propLine, `["2","2","Acme property 2","1"]`))
		otherTenantSQL := reseal(t, replaceOnce(t, plainSQL, "VALUES (2, 1, 'Acme property 2', 1);", "VALUES (2, 2, 'Acme property 2', 1);"))
		dupKey := reseal(t, replaceOnce(t, plain, propLine+"\n", propLine+"\n"+`["2","1","again","1"]`+"\n"))
		orphanItem := reseal(t, replaceOnce(t, plain, `["12","1","100.25","item 2"]`, `["12","1001","100.25","item 2"]`))
		nullPathItem := reseal(t, replaceOnce(t, plain, `["12","1","100.25","item 2"]`, `["12",null,"100.25","item 2"]`))
		missingGlobal := reseal(t, replaceOnce(t, plain, propLine, `["2","1","Acme property 2","77"]`))
		notInt := reseal(t, replaceOnce(t, plain, propLine, `["2","1","Acme property 2","1.5"]`))

		hostilePath := reseal(t, replaceOnce(t, plain, `"ref_table":"invoices","ref_columns":["id"]`, `"ref_table":"departments","ref_columns":["id"]`))
		hostileKind := reseal(t, regexp.MustCompile(`("name":"big","type":"[^"]*","kind":)"int"`).ReplaceAll(plain, []byte(`$1"bytes"`)))

		cases := []struct {
			name     string
			file     []byte
			id       string
			sentinel error
			table    string
			row      int64
		}{
			{"row of another tenant", otherTenant, "1", backup.ErrTenant, "properties", 2},
			{"row of another tenant (sql)", otherTenantSQL, "1", backup.ErrTenant, "properties", 2},
			{"file of another tenant", plain, "2", backup.ErrTenant, "", 0},
			{"truncated gzip", gz[:len(gz)-40], "1", backup.ErrCorrupt, "", 0},
			{"gzip cut in the middle", gz[:len(gz)/2], "1", backup.ErrCorrupt, "", 0},
			{"zlib stream named .gz", zlibFile, "1", backup.ErrZlib, "", 0},
			{"flipped byte in a table payload", flipped, "1", backup.ErrCorrupt, "properties", 0},
			{"flipped byte in gzip", flippedGz, "1", nil, "", 0},
			{"duplicate key", dupKey, "1", backup.ErrDuplicateKey, "properties", 3},
			{"closure row whose parent is not in the file", orphanItem, "1", backup.ErrMissingParent, "invoice_items", 2},
			{"closure row with a NULL path", nullPathItem, "1", backup.ErrMissingParent, "invoice_items", 2},
			{"NULL in a NOT NULL column", reseal(t, replaceOnce(t, plain, propLine, `["2","1",null,"1"]`)), "1", backup.ErrCorrupt, "properties", 2},
			{"reference to a missing global row", missingGlobal, "1", backup.ErrMissingParent, "properties", 2},
			{"malformed integer", notInt, "1", backup.ErrCorrupt, "properties", 2},
			{"manifest naming another tenant path", hostilePath, "1", backup.ErrSchema, "invoice_items", 0},
			{"manifest naming another value kind", hostileKind, "1", backup.ErrSchema, "oddities", 0},
			{"empty file", nil, "1", backup.ErrNotBackup, "", 0},
			{"not a backup", []byte("hello world\n"), "1", backup.ErrNotBackup, "", 0},
			{"truncated plain file", plain[:len(plain)-20], "1", backup.ErrCorrupt, "", 0},
		}
		for _, tc := range cases {
			t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
				_, verr := backup.Validate(ctx, bytes.NewReader(tc.file), db, tenantID(tc.id), nil)
				_, rerr := backup.Restore(ctx, db, tenantID(tc.id), bytes.NewReader(tc.file), nil)
				for _, err := range []error{verr, rerr} {
					require.Error(t, err)
					if tc.sentinel != nil {
						require.ErrorIs(t, err, tc.sentinel)
					}
					if tc.table != "" {
						var ve *backup.ValidationError
						require.True(t, errors.As(err, &ve), "%v", err)
						require.Equal(t, tc.table, ve.Table, "%v", err)
						if tc.row != 0 {
							require.Equal(t, tc.row, ve.Row, "%v", err)
						}
					}
				}
				t.Log(rerr)
				require.Equal(t, before, tableSums(t, db), "the database changed")
			})
		}

		t.Run("incompatible_schema", func(t *testing.T) {
			other := c.open(t)
			createSchema(t, other, c.d)
			seed(t, other, c.d)
			alter := "ALTER TABLE meters ADD COLUMN extra integer"
			mustExec(t, other, alter)
			sums := tableSums(t, other)
			_, err := backup.Restore(ctx, other, "1", bytes.NewReader(plain), nil)
			require.ErrorIs(t, err, backup.ErrSchema)
			t.Log(err)
			require.Equal(t, sums, tableSums(t, other))
		})
	})
}

func TestSentinelsAreDistinct(t *testing.T) {
	all := []error{backup.ErrNotBackup, backup.ErrZlib, backup.ErrUnsupportedCompression, backup.ErrVersion, backup.ErrCorrupt,
		backup.ErrSchema, backup.ErrTenant, backup.ErrTenantNotFound, backup.ErrInvalidTenant, backup.ErrCycle, backup.ErrCheck,
		backup.ErrChanged, backup.ErrDuplicateKey, backup.ErrMissingParent}
	for i, a := range all {
		for j, b := range all {
			require.Equal(t, i == j, errors.Is(a, b))
		}
	}
}
