// Package verifiertest is the conformance suite for tokenscope.Verifier.
//
// Every Verifier that can issue and revoke tokens runs it from its own
// tests:
//
//	func TestConformance(t *testing.T) {
//		verifiertest.Run(t, func(t *testing.T) verifiertest.Harness { ... })
//	}
//
// Run checks that a valid credential yields its token (ID, tenant, scopes,
// expiry); that wrong, unknown, malformed and empty credentials are
// ErrInvalidToken; that a token is refused as expired from its ExpiresAt on
// (an error wrapping ErrExpired, or the token with ExpiresAt in the past);
// that a revoked token is refused (ErrRevoked, or RevokedAt set); that
// revoking one token leaves the others working; that no error text contains
// the credential or its secret part; and that concurrent verification is
// consistent.
package verifiertest

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tenantkit/tenantkit/tenant"
	"github.com/tenantkit/tenantkit/tokenscope"
)

// Harness is one Verifier under test and the powers the suite needs.
type Harness struct {
	// Verifier is the implementation under test.
	Verifier tokenscope.Verifier
	// Issue creates a token for tenantID with scopes that expires after ttl
	// (0: never) and returns its credential and token.
	Issue func(ctx context.Context, tenantID tenant.ID, scopes []string, ttl time.Duration) (tokenscope.Secret, tokenscope.Token, error)
	// Revoke revokes the token with id, so that Verifier refuses it at once
	// (for a cache: through the cache).
	Revoke func(ctx context.Context, id string) error
	// Now and Advance are the clock of the Verifier (and of Issue).
	Now     func() time.Time
	Advance func(d time.Duration)
}

// Run runs the suite; newHarness returns a fresh, isolated Harness.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	t.Run("Valid", func(t *testing.T) {
		h := newHarness(t)
		ctx := t.Context()
		raw, want, err := h.Issue(ctx, "tenant-a", []string{"r:read", "r:write"}, time.Hour)
		require.NoError(t, err)
		got, err := h.Verifier.Verify(ctx, raw)
		require.NoError(t, err)
		require.Equal(t, want.ID, got.ID)
		require.Equal(t, tenant.ID("tenant-a"), got.TenantID)
		require.ElementsMatch(t, []string{"r:read", "r:write"}, got.Scopes)
		require.True(t, got.ExpiresAt.Equal(want.ExpiresAt), "expiry %v, want %v", got.ExpiresAt, want.ExpiresAt)
		require.False(t, got.Revoked())
		// Verifying again gives the same answer.
		again, err := h.Verifier.Verify(ctx, raw)
		require.NoError(t, err)
		require.Equal(t, got.ID, again.ID)
	})

	t.Run("Invalid", func(t *testing.T) {
		h := newHarness(t)
		ctx := t.Context()
		raw, _, err := h.Issue(ctx, "tenant-a", nil, 0)
		require.NoError(t, err)
		other, _, err := h.Issue(ctx, "tenant-a", nil, 0)
		require.NoError(t, err)
		s := string(raw)
		id, secret, hasSep := strings.Cut(s, "|")
		bad := []string{"", "x", s + "x", s[:len(s)-1], strings.ToUpper(s), "|", s + "|" + s}
		if hasSep {
			_, otherSecret, _ := strings.Cut(string(other), "|")
			bad = append(bad, id+"|"+otherSecret, id, "|"+secret, id+"|")
		}
		for _, b := range bad {
			if b == s {
				continue
			}
			_, err := h.Verifier.Verify(ctx, tokenscope.Secret(b))
			require.ErrorIs(t, err, tokenscope.ErrInvalidToken, "%q", b)
			requireNoSecret(t, err, s)
		}
	})

	t.Run("Expired", func(t *testing.T) {
		h := newHarness(t)
		ctx := t.Context()
		raw, _, err := h.Issue(ctx, "tenant-a", nil, time.Minute)
		require.NoError(t, err)
		h.Advance(time.Minute - time.Second)
		_, err = h.Verifier.Verify(ctx, raw)
		require.NoError(t, err)
		h.Advance(time.Second)
		tok, err := h.Verifier.Verify(ctx, raw)
		refused := errors.Is(err, tokenscope.ErrExpired) || (err == nil && tok.Expired(h.Now()))
		require.True(t, refused, "an expired token must be refused or carry its expiry: %v %v", tok, err)
		if err != nil {
			requireNoSecret(t, err, string(raw))
		}
	})

	t.Run("Revoked", func(t *testing.T) {
		h := newHarness(t)
		ctx := t.Context()
		raw, tok, err := h.Issue(ctx, "tenant-a", nil, 0)
		require.NoError(t, err)
		keep, _, err := h.Issue(ctx, "tenant-a", nil, 0)
		require.NoError(t, err)
		_, err = h.Verifier.Verify(ctx, raw)
		require.NoError(t, err)
		require.NoError(t, h.Revoke(ctx, tok.ID))
		got, err := h.Verifier.Verify(ctx, raw)
		require.True(t, errors.Is(err, tokenscope.ErrRevoked) || (err == nil && got.Revoked()),
			"a revoked token must be refused or marked: %v %v", got, err)
		_, err = h.Verifier.Verify(ctx, keep)
		require.NoError(t, err, "revoking one token leaves the others working")
	})

	t.Run("Concurrent", func(t *testing.T) {
		h := newHarness(t)
		ctx := t.Context()
		type issued struct {
			raw tokenscope.Secret
			tok tokenscope.Token
		}
		var toks []issued
		for i := range 4 {
			raw, tok, err := h.Issue(ctx, tenant.ID("tenant-"+string(rune('a'+i))), nil, 0)
			require.NoError(t, err)
			toks = append(toks, issued{raw, tok})
		}
		var wg sync.WaitGroup
		errs := make(chan error, 200)
		for g := range 8 {
			wg.Go(func() {
				for i := range 10 {
					it := toks[(g+i)%len(toks)]
					got, err := h.Verifier.Verify(ctx, it.raw)
					if err != nil {
						errs <- err
						continue
					}
					if got.ID != it.tok.ID || got.TenantID != it.tok.TenantID {
						errs <- errors.New("verifier answered with another token")
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
	})
}

func requireNoSecret(t *testing.T, err error, cred string) {
	t.Helper()
	if err == nil {
		return
	}
	require.NotContains(t, err.Error(), cred)
	if _, secret, ok := strings.Cut(cred, "|"); ok && secret != "" {
		require.NotContains(t, err.Error(), secret)
	}
}
