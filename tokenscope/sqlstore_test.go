package tokenscope_test

import (
	"context"
	"database/sql"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tenantkit/tenantkit/internal/testenv"
	"github.com/tenantkit/tenantkit/tenant"
	"github.com/tenantkit/tenantkit/tokenscope"
)

var backends = []struct {
	name string
	open func(testing.TB) *sql.DB
}{
	{"sqlite", testenv.SQLiteDB},
	{"postgres", testenv.PostgresDB},
	{"mariadb", testenv.MySQLDB},
}

func newStore(t *testing.T, db *sql.DB, clk *clock, opts *tokenscope.SQLStoreOptions) *tokenscope.SQLStore {
	t.Helper()
	if opts == nil {
		opts = &tokenscope.SQLStoreOptions{}
	}
	opts.Now = clk.Now
	s, err := tokenscope.NewSQLStore(db, opts)
	require.NoError(t, err)
	require.NoError(t, s.CreateSchema(t.Context()))
	require.NoError(t, s.CreateSchema(t.Context()), "CreateSchema is idempotent")
	return s
}

func TestSQLStore(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			db := be.open(t)
			clk := newClock()
			s := newStore(t, db, clk, nil)

			raw, tok, err := s.Issue(ctx, "acme", []string{"readings:read", "invoices:read", "readings:read"}, time.Hour, "ci")
			require.NoError(t, err)
			id, secret, ok := strings.Cut(string(raw), "|")
			require.True(t, ok)
			require.Len(t, id, 16)
			require.Len(t, secret, 43)
			require.Equal(t, id, tok.ID)
			require.Equal(t, []string{"readings:read", "invoices:read"}, tok.Scopes)

			// Only the SHA-256 of the secret is stored.
			var stored []byte
			var tenantCol string
			require.NoError(t, db.QueryRowContext(ctx, rebind(be.name, "SELECT secret_hash, tenant_id FROM api_tokens WHERE id = ?"), id).Scan(&stored, &tenantCol))
			require.Len(t, stored, 32)
			require.NotContains(t, string(stored), secret)
			require.Equal(t, "acme", tenantCol)

			got, err := s.Verify(ctx, raw)
			require.NoError(t, err)
			require.Equal(t, tok.ID, got.ID)
			require.Equal(t, tenant.ID("acme"), got.TenantID)
			require.Equal(t, tok.Scopes, got.Scopes)
			require.True(t, got.ExpiresAt.Equal(clk.Now().Add(time.Hour)), "%v", got.ExpiresAt)
			require.True(t, got.ExpiresAt.Equal(tok.ExpiresAt), "Issue and Verify agree: %v %v", tok.ExpiresAt, got.ExpiresAt)

			// Wrong secret, unknown id, malformed: ErrInvalidToken.
			other, _, err := s.Issue(ctx, "acme", nil, 0, "")
			require.NoError(t, err)
			_, otherSecret, _ := strings.Cut(string(other), "|")
			for _, bad := range []string{
				id + "|" + otherSecret,
				"aaaaaaaaaaaaaaaa|" + secret,
				id + "|" + secret[:42] + flipLast(secret),
				id + secret,
				id + "|" + secret + "=",
				strings.ToUpper(id) + "|" + secret,
				"",
				"|",
			} {
				_, err := s.Verify(ctx, tokenscope.Secret(bad))
				require.ErrorIs(t, err, tokenscope.ErrInvalidToken, "%q", bad)
				require.NotContains(t, err.Error(), secret)
			}

			// Expiry is exact.
			clk.Advance(time.Hour - time.Millisecond)
			_, err = s.Verify(ctx, raw)
			require.NoError(t, err)
			clk.Advance(time.Millisecond)
			_, err = s.Verify(ctx, raw)
			require.ErrorIs(t, err, tokenscope.ErrExpired)

			// A token without ttl never expires; revocation stops it.
			clk.Advance(1000 * time.Hour)
			_, err = s.Verify(ctx, other)
			require.NoError(t, err)
			otherID, _, _ := strings.Cut(string(other), "|")
			require.NoError(t, s.Revoke(ctx, otherID))
			require.NoError(t, s.Revoke(ctx, otherID), "revoking twice is fine")
			rt, err := s.Verify(ctx, other)
			require.ErrorIs(t, err, tokenscope.ErrRevoked)
			require.Equal(t, otherID, rt.ID)
			require.ErrorIs(t, s.Revoke(ctx, "zzzzzzzzzzzzzzzz"), tokenscope.ErrTokenNotFound)

			// Bad issue input is refused, nothing written.
			_, _, err = s.Issue(ctx, "", nil, 0, "")
			require.ErrorIs(t, err, tokenscope.ErrNoTokenTenant)
			_, _, err = s.Issue(ctx, "acme", []string{"a b"}, 0, "")
			require.Error(t, err)
			_, _, err = s.Issue(ctx, "acme", nil, -time.Second, "")
			require.Error(t, err)
			var n int
			require.NoError(t, db.QueryRowContext(ctx, "SELECT COUNT(*) FROM api_tokens").Scan(&n))
			require.Equal(t, 2, n)

			// A clock with nanoseconds: Issue and Verify still agree.
			clk.Advance(123456789 * time.Nanosecond)
			raw3, tok3, err := s.Issue(ctx, "acme", nil, time.Minute, "")
			require.NoError(t, err)
			got3, err := s.Verify(ctx, raw3)
			require.NoError(t, err)
			require.True(t, got3.ExpiresAt.Equal(tok3.ExpiresAt), "%v %v", tok3.ExpiresAt, got3.ExpiresAt)
		})
	}
}

// flipLast returns a last base64url character that, with the strict
// zero-padding-bits rule, decodes to a different secret.
func flipLast(secret string) string {
	if secret[len(secret)-1] == 'A' {
		return "E"
	}
	return "A"
}

func rebind(backend, q string) string {
	if backend != "postgres" {
		return q
	}
	return strings.Replace(q, "?", "$1", 1)
}

// TestSQLStoreLastUsed: uses are recorded off the verification path, at most
// once per interval per token, and written by Flush.
func TestSQLStoreLastUsed(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			db := be.open(t)
			clk := newClock()
			s := newStore(t, db, clk, &tokenscope.SQLStoreOptions{LastUsedInterval: time.Minute})
			raw, tok, err := s.Issue(ctx, "acme", nil, 0, "")
			require.NoError(t, err)
			lastUsed := func() string {
				var v sql.NullString
				require.NoError(t, db.QueryRowContext(ctx, rebind(be.name, "SELECT CAST(last_used_at AS CHAR(40)) FROM api_tokens WHERE id = ?"), tok.ID).Scan(&v))
				return v.String
			}
			_, err = s.Verify(ctx, raw)
			require.NoError(t, err)
			require.Empty(t, lastUsed(), "Verify itself writes nothing")
			require.NoError(t, s.Flush(ctx))
			first := lastUsed()
			require.NotEmpty(t, first)

			// Within the interval nothing new is recorded.
			clk.Advance(59 * time.Second)
			_, err = s.Verify(ctx, raw)
			require.NoError(t, err)
			require.NoError(t, s.Flush(ctx))
			require.Equal(t, first, lastUsed())

			// After it, the next use is.
			clk.Advance(time.Second)
			_, err = s.Verify(ctx, raw)
			require.NoError(t, err)
			require.NoError(t, s.Flush(ctx))
			require.NotEqual(t, first, lastUsed())
		})
	}
}

// TestSQLStoreMySQLWithoutParseTime: timestamps read as text still work.
func TestSQLStoreMySQLWithoutParseTime(t *testing.T) {
	dsn := strings.Replace(testenv.MySQLDatabase(t), "parseTime=true", "parseTime=false", 1)
	db, err := sql.Open("mysql", dsn)
	require.NoError(t, err)
	defer db.Close()
	clk := newClock()
	s := newStore(t, db, clk, nil)
	raw, _, err := s.Issue(t.Context(), "acme", nil, time.Minute, "")
	require.NoError(t, err)
	tok, err := s.Verify(t.Context(), raw)
	require.NoError(t, err)
	require.True(t, tok.ExpiresAt.Equal(clk.Now().Add(time.Minute)), "%v", tok.ExpiresAt)
	clk.Advance(time.Minute)
	_, err = s.Verify(t.Context(), raw)
	require.ErrorIs(t, err, tokenscope.ErrExpired)
}

// TestSQLStoreBigintTenant: the tenant column can have the type of an
// integer tenant key; IDs travel as decimal strings.
func TestSQLStoreBigintTenant(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			db := be.open(t)
			s := newStore(t, db, newClock(), &tokenscope.SQLStoreOptions{TenantColumnType: "BIGINT", Table: "tokens_b"})
			raw, _, err := s.Issue(ctx, "9007199254740993", []string{"x"}, 0, "")
			require.NoError(t, err)
			tok, err := s.Verify(ctx, raw)
			require.NoError(t, err)
			require.Equal(t, tenant.ID("9007199254740993"), tok.TenantID)
			var n int64
			require.NoError(t, db.QueryRowContext(ctx, "SELECT tenant_id FROM tokens_b").Scan(&n))
			require.Equal(t, int64(9007199254740993), n)
		})
	}
}

// TestRevocationBound: behind a CachedVerifier, a token revoked on another
// instance keeps working for at most the cache TTL, and stops at once on the
// instance that revoked it.
func TestRevocationBound(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			ctx := tenant.NewContext(t.Context(), tenant.Tenant{ID: "acme", Status: tenant.StatusActive})
			db := be.open(t)
			clk := newClock()
			s := newStore(t, db, clk, nil)
			raw, tok, err := s.Issue(ctx, "acme", []string{"readings:read"}, 0, "")
			require.NoError(t, err)

			const ttl = 5 * time.Second
			here := tokenscope.NewCachedVerifier(s, &tokenscope.CacheOptions{TTL: ttl, Now: clk.Now})
			there := tokenscope.NewCachedVerifier(s, &tokenscope.CacheOptions{TTL: ttl, Now: clk.Now})
			checkHere := tokenscope.New(here, &tokenscope.Options{Now: clk.Now})
			checkThere := tokenscope.New(there, &tokenscope.Options{Now: clk.Now})
			req := tokenscope.AllOf("readings:read")
			_, err = checkHere.Check(ctx, raw, req)
			require.NoError(t, err)
			_, err = checkThere.Check(ctx, raw, req)
			require.NoError(t, err)

			clk.Advance(time.Second)
			require.NoError(t, here.Revoke(ctx, tok.ID))
			revokedAt := clk.Now()

			// The revoking instance refuses at once.
			_, err = checkHere.Check(ctx, raw, req)
			require.ErrorIs(t, err, tokenscope.ErrRevoked)

			// The other instance may still accept it, but only within the TTL
			// of its cache entry, which was filled before the revocation.
			for clk.Now().Sub(revokedAt) < ttl {
				if _, err := checkThere.Check(ctx, raw, req); err != nil {
					require.ErrorIs(t, err, tokenscope.ErrRevoked)
					break
				}
				clk.Advance(500 * time.Millisecond)
			}
			require.LessOrEqual(t, clk.Now().Sub(revokedAt), ttl)
			_, err = checkThere.Check(ctx, raw, req)
			require.ErrorIs(t, err, tokenscope.ErrRevoked)
		})
	}
}

// TestSQLStoreConcurrent verifies and revokes from many goroutines (for -race).
func TestSQLStoreConcurrent(t *testing.T) {
	ctx := t.Context()
	db := testenv.SQLiteDB(t)
	s := newStore(t, db, newClock(), nil)
	c := tokenscope.NewCachedVerifier(s, nil)
	raws := make([]tokenscope.Secret, 8)
	for i := range raws {
		var err error
		raws[i], _, err = s.Issue(ctx, "acme", nil, 0, "")
		require.NoError(t, err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 20 {
				_, err := c.Verify(ctx, raws[i])
				require.NoError(t, err)
			}
		})
	}
	wg.Wait()
	require.NoError(t, s.Flush(ctx))
}

// TestSQLStoreRun: Run writes pending uses when its context ends.
func TestSQLStoreRun(t *testing.T) {
	db := testenv.SQLiteDB(t)
	s := newStore(t, db, newClock(), &tokenscope.SQLStoreOptions{LastUsedInterval: time.Hour})
	raw, tok, err := s.Issue(t.Context(), "acme", nil, 0, "")
	require.NoError(t, err)
	_, err = s.Verify(t.Context(), raw)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	cancel()
	require.NoError(t, <-done)
	var n int
	require.NoError(t, db.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM api_tokens WHERE id = ? AND last_used_at IS NOT NULL", tok.ID).Scan(&n))
	require.Equal(t, 1, n)
}

// TestSQLStoreTenantStoredExactly: a tenant ID that the tenant column would
// convert (BIGINT reads "01", " 1", "+1" or "1e0" as 1) is refused by Issue
// and nothing is written, so no token is ever bound to another tenant than
// the one it was issued for.
func TestSQLStoreTenantStoredExactly(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			db := be.open(t)
			s := newStore(t, db, newClock(), &tokenscope.SQLStoreOptions{TenantColumnType: "BIGINT", Table: "tokens_c"})
			for _, id := range []tenant.ID{"01", " 1", "1 ", "+1", "1e0", "1.0", "0x1", "abc"} {
				raw, _, err := s.Issue(ctx, id, []string{"x"}, 0, "")
				if err == nil {
					got, verr := s.Verify(ctx, raw)
					require.NoError(t, verr)
					require.Equal(t, id, got.TenantID, "a token issued for %q verifies for %q", id, got.TenantID)
					continue
				}
				require.Empty(t, raw)
			}
			var n int
			require.NoError(t, db.QueryRowContext(ctx, "SELECT COUNT(*) FROM tokens_c WHERE tenant_id = 1").Scan(&n))
			require.Zero(t, n, "no token bound to tenant 1")
			raw, tok, err := s.Issue(ctx, "0", nil, 0, "")
			require.NoError(t, err)
			got, err := s.Verify(ctx, raw)
			require.NoError(t, err)
			require.Equal(t, tok.TenantID, got.TenantID)
		})
	}
}
