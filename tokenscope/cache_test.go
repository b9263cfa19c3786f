package tokenscope_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tenantkit/tenantkit/tokenscope"
)

func TestCachedVerifier(t *testing.T) {
	ctx := t.Context()
	clk := newClock()
	v := newFakeVerifier()
	v.add("c1", tokenscope.Token{ID: "t1", TenantID: "a", ExpiresAt: clk.Now().Add(3 * time.Second)})
	c := tokenscope.NewCachedVerifier(v, &tokenscope.CacheOptions{TTL: 5 * time.Second, Now: clk.Now})
	require.Equal(t, 5*time.Second, c.TTL())

	for range 3 {
		tok, err := c.Verify(ctx, "c1")
		require.NoError(t, err)
		require.Equal(t, "t1", tok.ID)
	}
	require.Equal(t, 1, v.Calls(), "hits do not reach the verifier")

	// Failures are never cached.
	for range 3 {
		_, err := c.Verify(ctx, "unknown")
		require.ErrorIs(t, err, tokenscope.ErrInvalidToken)
		_, err = c.Verify(ctx, "broken")
		require.Error(t, err)
	}
	require.Equal(t, 7, v.Calls())
	require.Equal(t, 1, c.Len())

	// Expiry is exact even on a cache hit.
	clk.Advance(3 * time.Second)
	_, err := c.Verify(ctx, "c1")
	require.ErrorIs(t, err, tokenscope.ErrExpired)
	require.Equal(t, 7, v.Calls())

	// After the TTL the verifier is asked again.
	v.add("c2", tokenscope.Token{ID: "t2", TenantID: "a"})
	_, err = c.Verify(ctx, "c2")
	require.NoError(t, err)
	calls := v.Calls()
	clk.Advance(5*time.Second - time.Nanosecond)
	_, err = c.Verify(ctx, "c2")
	require.NoError(t, err)
	require.Equal(t, calls, v.Calls())
	clk.Advance(time.Nanosecond)
	_, err = c.Verify(ctx, "c2")
	require.NoError(t, err)
	require.Equal(t, calls+1, v.Calls())

	// Invalidate forgets at once.
	c.Invalidate("t2")
	_, err = c.Verify(ctx, "c2")
	require.NoError(t, err)
	require.Equal(t, calls+2, v.Calls())

	// A verifier without Revoke cannot be revoked through the cache.
	require.Error(t, c.Revoke(ctx, "t2"))
}

func TestCachedVerifierBounded(t *testing.T) {
	ctx := t.Context()
	clk := newClock()
	v := newFakeVerifier()
	for i := range 50 {
		v.add(fmt.Sprint("c", i), tokenscope.Token{ID: fmt.Sprint("t", i), TenantID: "a"})
	}
	c := tokenscope.NewCachedVerifier(v, &tokenscope.CacheOptions{MaxEntries: 10, Now: clk.Now})
	for i := range 50 {
		_, err := c.Verify(ctx, tokenscope.Secret(fmt.Sprint("c", i)))
		require.NoError(t, err)
		require.LessOrEqual(t, c.Len(), 10)
	}
	require.Equal(t, 10, c.Len())
}

// blockingVerifier lets a test hold a verification in flight.
type blockingVerifier struct {
	started, release chan struct{}
	tok              tokenscope.Token
}

func (b *blockingVerifier) Verify(context.Context, tokenscope.Secret) (tokenscope.Token, error) {
	b.started <- struct{}{}
	<-b.release
	return b.tok, nil
}

// TestCachedVerifierInvalidateRace: a verification that started before an
// Invalidate must not put the (possibly revoked) token back in the cache.
func TestCachedVerifierInvalidateRace(t *testing.T) {
	b := &blockingVerifier{started: make(chan struct{}), release: make(chan struct{}), tok: tokenscope.Token{ID: "t", TenantID: "a"}}
	c := tokenscope.NewCachedVerifier(b, nil)
	var wg sync.WaitGroup
	wg.Go(func() {
		_, err := c.Verify(context.Background(), "cred")
		require.NoError(t, err)
	})
	<-b.started
	c.Invalidate("t")
	close(b.release)
	wg.Wait()
	require.Equal(t, 0, c.Len())
}

func TestCachedVerifierConcurrent(t *testing.T) {
	v := newFakeVerifier()
	for i := range 20 {
		v.add(fmt.Sprint("c", i), tokenscope.Token{ID: fmt.Sprint("t", i), TenantID: "a"})
	}
	c := tokenscope.NewCachedVerifier(v, &tokenscope.CacheOptions{MaxEntries: 8})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				k := (g*7 + i) % 20
				tok, err := c.Verify(context.Background(), tokenscope.Secret(fmt.Sprint("c", k)))
				if err != nil || tok.ID != fmt.Sprint("t", k) {
					t.Errorf("verify c%d: %v %v", k, tok, err)
					return
				}
				if i%50 == 0 {
					c.Invalidate(fmt.Sprint("t", k))
				}
			}
		})
	}
	wg.Wait()
	require.LessOrEqual(t, c.Len(), 8)
}
