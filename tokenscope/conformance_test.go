package tokenscope_test

import (
	"context"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/internal/verifiertest"
	"github.com/tenantkit/tenantkit/tenant"
	"github.com/tenantkit/tenantkit/tokenscope"
)

// TestVerifierConformance runs the Verifier suite on the SQL store of every
// database, bare and behind the cache (revoking through the cache).
func TestVerifierConformance(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			harness := func(cached bool) func(t *testing.T) verifiertest.Harness {
				return func(t *testing.T) verifiertest.Harness {
					clk := newClock()
					s := newStore(t, be.open(t), clk, nil)
					h := verifiertest.Harness{
						Verifier: s,
						Issue: func(ctx context.Context, id tenant.ID, scopes []string, ttl time.Duration) (tokenscope.Secret, tokenscope.Token, error) {
							return s.Issue(ctx, id, scopes, ttl, "conformance")
						},
						Revoke:  s.Revoke,
						Now:     clk.Now,
						Advance: clk.Advance,
					}
					if cached {
						c := tokenscope.NewCachedVerifier(s, &tokenscope.CacheOptions{Now: clk.Now})
						h.Verifier, h.Revoke = c, c.Revoke
					}
					return h
				}
			}
			t.Run("SQLStore", func(t *testing.T) { verifiertest.Run(t, harness(false)) })
			t.Run("CachedVerifier", func(t *testing.T) { verifiertest.Run(t, harness(true)) })
		})
	}
}
