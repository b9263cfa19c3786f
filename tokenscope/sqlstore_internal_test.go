package tokenscope

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tenantkit/tenantkit/internal/testenv"
)

// compareSpy records every comparison the store makes.
type compareSpy struct {
	mu    sync.Mutex
	calls [][2]int // lengths of both operands
}

func (c *compareSpy) compare(x, y []byte) int {
	c.mu.Lock()
	c.calls = append(c.calls, [2]int{len(x), len(y)})
	c.mu.Unlock()
	return subtle.ConstantTimeCompare(x, y)
}

// TestVerifyComparesInConstantTime proves the timing-safe path: every
// verification of a well-formed credential, whether the secret is right,
// wrong in its first byte, wrong in its last, or the ID unknown, goes
// through exactly one subtle.ConstantTimeCompare of two full 32-byte
// SHA-256 values. Nothing compares the secret or its hash before that (an
// early exit would show as a missing call), and the SQL lookup is by ID,
// never by secret or hash.
func TestVerifyComparesInConstantTime(t *testing.T) {
	ctx := context.Background()
	s, err := NewSQLStore(testenv.SQLiteDB(t), nil)
	require.NoError(t, err)
	spy := &compareSpy{}
	s.compare = spy.compare
	require.NoError(t, s.CreateSchema(ctx))
	raw, _, err := s.Issue(ctx, "acme", nil, 0, "")
	require.NoError(t, err)
	id, secret, _ := strings.Cut(string(raw), "|")

	// Same length, differing in the first or the last significant bits.
	firstWrong := "B" + secret[1:]
	if secret[0] == 'B' {
		firstWrong = "C" + secret[1:]
	}
	lastWrong := secret[:41] + "A" + secret[42:]
	if secret[41] == 'A' {
		lastWrong = secret[:41] + "B" + secret[42:]
	}
	cases := []struct {
		cred string
		ok   bool
	}{
		{string(raw), true},
		{id + "|" + firstWrong, false},
		{id + "|" + lastWrong, false},
		{"zzzzzzzzzzzzzzzz|" + secret, false},
	}
	for _, tc := range cases {
		spy.calls = nil
		_, err := s.Verify(ctx, Secret(tc.cred))
		if tc.ok {
			require.NoError(t, err)
		} else {
			require.True(t, errors.Is(err, ErrInvalidToken), "%v", err)
		}
		require.Equal(t, [][2]int{{sha256.Size, sha256.Size}}, spy.calls, "one full-length constant-time comparison")
	}

	// A malformed credential is refused on its shape alone, which depends
	// on nothing stored: no lookup, no comparison.
	spy.calls = nil
	_, err = s.Verify(ctx, Secret(id+"|short"))
	require.ErrorIs(t, err, ErrInvalidToken)
	require.Empty(t, spy.calls)
}

func TestParseCredential(t *testing.T) {
	_, _, ok := parseCredential(Secret("abcdefghijklmnop|" + strings.Repeat("A", 43)))
	require.True(t, ok)
	for _, bad := range []string{
		"", "abcdefghijklmnop", "abcdefghijklmnop|", "abcdefghijklmno1|" + strings.Repeat("A", 43),
		"abcdefghijklmnop|" + strings.Repeat("A", 42) + "B", // non-zero padding bits
		"abcdefghijklmnop|" + strings.Repeat("A", 42) + "+",
		"abcdefghijklmnop:" + strings.Repeat("A", 43),
	} {
		_, _, ok := parseCredential(Secret(bad))
		require.False(t, ok, bad)
	}
}

func FuzzParseCredential(f *testing.F) {
	f.Add("abcdefghijklmnop|" + strings.Repeat("A", 43))
	f.Add("abcdefghijklmnop|" + strings.Repeat("_", 42) + "w")
	f.Add("abcdefghijklmnop|" + strings.Repeat("A", 42) + "B")
	f.Add("ABCDEFGHIJKLMNOP|" + strings.Repeat("A", 43))
	f.Add("|")
	f.Add("")
	f.Add("abcdefghijklmnop|" + strings.Repeat("=", 43))
	f.Fuzz(func(t *testing.T, s string) {
		id, secret, ok := parseCredential(Secret(s))
		if !ok {
			return
		}
		// Canonical: the credential is exactly what Issue would print.
		require.Equal(t, s, id+"|"+secretEncoding.EncodeToString(secret[:]))
		_, err := idEncoding.DecodeString(id)
		require.NoError(t, err)
	})
}

func TestStoreOptionsValidated(t *testing.T) {
	db := testenv.SQLiteDB(t)
	for _, typ := range []string{"BIGINT", "VARCHAR(64)", "NUMERIC(20, 0)", "character varying(64)", "TEXT"} {
		_, err := NewSQLStore(db, &SQLStoreOptions{TenantColumnType: typ})
		require.NoError(t, err, typ)
	}
	for _, typ := range []string{"BIGINT, evil TEXT", "VARCHAR(64) NOT NULL, x INT", "INT)", "INT(", "INT(a)", "INT(1,)", "INT; DROP TABLE x", "(1)"} {
		_, err := NewSQLStore(db, &SQLStoreOptions{TenantColumnType: typ})
		require.Error(t, err, typ)
	}
	for _, table := range []string{"tokens", "auth.tokens", "_t1"} {
		_, err := NewSQLStore(db, &SQLStoreOptions{Table: table})
		require.NoError(t, err, table)
	}
	for _, table := range []string{"a.b.c", "1abc", "to-kens", "t;x", `"t"`, ""} {
		if table == "" {
			continue // default
		}
		_, err := NewSQLStore(db, &SQLStoreOptions{Table: table})
		require.Error(t, err, table)
	}
	_, err := NewSQLStore(db, &SQLStoreOptions{Dialect: "oracle"})
	require.Error(t, err)
	_, err = NewSQLStore(nil, nil)
	require.Error(t, err)
}
