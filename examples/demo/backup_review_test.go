package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tenantkit/tenantkit/internal/sqldialect"
)

// tokenState returns "revoked" or "live" for the token id, read as the
// schema owner.
func tokenState(t *testing.T, dbArg, id string) string {
	t.Helper()
	state := ""
	withSystemTx(t, dbArg, func(tx *sql.Tx, d sqldialect.Dialect) {
		var revoked sql.NullString
		require.NoError(t, tx.QueryRow(d.Rebind(`SELECT revoked_at FROM api_tokens WHERE id = ?`), id).Scan(&revoked))
		state = "live"
		if revoked.Valid {
			state = "revoked"
		}
	})
	return state
}

// TestCLIBackupReview: API tokens stay out of backups (a restore neither
// brings back a revoked token nor needs the table to be as it was);
// compression is read from the bytes, not the file name; failures exit 1
// with the reason and change nothing.
func TestCLIBackupReview(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := b.db(t)
		code, _, errOut := runCLI(t, ctx, "seed", "--db", db, "--size", "small")
		require.Equal(t, 0, code, errOut)
		dir := t.TempDir()
		want := countAcmeReadings(t, db)

		// A backup taken before api_tokens existed still verifies and
		// restores once it does.
		early := filepath.Join(dir, "early.jsonl")
		code, _, errOut = runCLI(t, ctx, "backup", "--db", db, "--tenant", "acme", "--no-gzip", "--quiet", "-o", early)
		require.Equal(t, 0, code, errOut)

		code, out, errOut := runCLI(t, ctx, "token", "create", "--db", db, "--tenant", "acme", "--scopes", "readings:read")
		require.Equal(t, 0, code, errOut)
		raw := strings.TrimSpace(out)
		id, _, ok := strings.Cut(raw, "|")
		require.True(t, ok, raw)

		file := filepath.Join(dir, "acme.jsonl")
		code, _, errOut = runCLI(t, ctx, "backup", "--db", db, "--tenant", "acme", "--no-gzip", "--quiet", "-o", file)
		require.Equal(t, 0, code, errOut)
		plain, err := os.ReadFile(file)
		require.NoError(t, err)
		require.NotContains(t, string(plain), "api_tokens", "the backup holds the token table")
		require.NotContains(t, string(plain), id, "the backup holds a token")

		code, out, errOut = runCLI(t, ctx, "token", "revoke", "--db", db, id)
		require.Equal(t, 0, code, errOut+out)
		require.Equal(t, "revoked", tokenState(t, db, id))

		for _, f := range []string{early, file} {
			code, out, errOut = runCLI(t, ctx, "restore", "--db", db, "--tenant", "acme", "--quiet", f)
			require.Equal(t, 0, code, errOut)
			require.Contains(t, out, "restored")
			require.Equal(t, "revoked", tokenState(t, db, id), "a restore brought a revoked token back")
			require.Equal(t, want, countAcmeReadings(t, db))
		}

		// The name says nothing: gzip named .sql, plain text named .gz.
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		_, _ = zw.Write(plain)
		require.NoError(t, zw.Close())
		gzAsSQL := filepath.Join(dir, "really_gzip.sql")
		require.NoError(t, os.WriteFile(gzAsSQL, gz.Bytes(), 0o600))
		plainAsGz := filepath.Join(dir, "really_plain.jsonl.gz")
		require.NoError(t, os.WriteFile(plainAsGz, plain, 0o600))
		for _, f := range []string{gzAsSQL, plainAsGz} {
			code, out, errOut = runCLI(t, ctx, "backup", "verify", "--db", db, "--quiet", f)
			require.Equal(t, 0, code, errOut)
			require.Contains(t, out, "OK")
			code, _, errOut = runCLI(t, ctx, "restore", "--db", db, "--tenant", "acme", "--quiet", "--dry-run", f)
			require.Equal(t, 0, code, errOut)
		}

		// Refusals exit 1 naming the reason; nothing changes.
		empty := filepath.Join(dir, "empty.jsonl")
		require.NoError(t, os.WriteFile(empty, nil, 0o600))
		trailing := filepath.Join(dir, "trailing.jsonl")
		require.NoError(t, os.WriteFile(trailing, append(bytes.Clone(plain), "[\"1\"]\n"...), 0o600))
		for _, c := range []struct {
			args []string
			msg  string
		}{
			{[]string{"backup", "verify", "--db", db, empty}, "empty"},
			{[]string{"restore", "--db", db, "--tenant", "acme", empty}, "empty"},
			{[]string{"backup", "verify", "--db", db, trailing}, "after the footer"},
			{[]string{"restore", "--db", db, "--tenant", "acme", trailing}, "after the footer"},
			{[]string{"backup", "verify", "--db", db, filepath.Join(dir, "missing.jsonl")}, "missing.jsonl"},
			{[]string{"restore", "--db", db, "--tenant", "nosuch", file}, `no tenant with slug "nosuch"`},
			{[]string{"restore", "--db", db, "--tenant", "acme", "--as-tenant", "nosuch", file}, `no tenant with slug "nosuch"`},
			{[]string{"restore", "--db", db, "--tenant", "globex", file}, "the file holds tenant"},
			// Into another tenant of the same database the keys collide:
			// refused inside the transaction.
			{[]string{"restore", "--db", db, "--tenant", "acme", "--as-tenant", "globex", file}, ""},
		} {
			code, _, errOut = runCLI(t, ctx, append(c.args, "--quiet")...)
			require.Equal(t, 1, code, "%v: %s", c.args, errOut)
			require.Contains(t, errOut, c.msg, c.args)
			require.Equal(t, want, countAcmeReadings(t, db))
		}
	})
}
