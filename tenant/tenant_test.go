package tenant

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestContextCarriesTenant(t *testing.T) {
	_, ok := FromContext(context.Background())
	require.False(t, ok)
	_, err := Require(context.Background())
	require.ErrorIs(t, err, ErrNoTenant)

	v := acme
	ctx := NewContext(context.Background(), v)
	v.Name = "changed after NewContext"
	got, err := Require(ctx)
	require.NoError(t, err)
	require.Equal(t, acme, got, "NewContext keeps its own copy")
	got.Name = "changed by a reader"
	again, _ := FromContext(ctx)
	require.Equal(t, acme, again, "FromContext returns a copy")
	require.Equal(t, acme.ID, IDFromContext(ctx))

	inner := NewContext(ctx, globx)
	require.Equal(t, globx.ID, IDFromContext(inner), "the innermost tenant wins")
	_, ok = FromContext(NewContext(inner, Tenant{}))
	require.False(t, ok, "an empty ID hides an outer tenant")

	shared := acme
	require.Equal(t, acme.ID, IDFromContext(newContextShared(context.Background(), &shared)))

	var nilParent context.Context
	require.Panics(t, func() { NewContext(nilParent, acme) }, "a nil parent, as context.WithValue refuses")
}

// The tenant context is context.WithValue in one allocation: every other
// key, the deadline, cancellation and its cause are the parent's.
func TestContextIsTransparent(t *testing.T) {
	type otherKey struct{}
	u := &url.URL{Path: "/api/x", RawQuery: "q=1"}
	shared := acme
	for name, wrap := range map[string]func(context.Context) context.Context{
		"NewContext":       func(p context.Context) context.Context { return NewContext(p, acme) },
		"newContextShared": func(p context.Context) context.Context { return newContextShared(p, &shared) },
		"tenantURLCtx": func(p context.Context) context.Context {
			uc := &tenantURLCtx{c: tenantCtx{Context: p, t: &shared}, u: *u}
			return &uc.c
		},
		"NewContext of system": func(p context.Context) context.Context { return NewContext(WithSystem(p), acme) },
	} {
		t.Run(name, func(t *testing.T) {
			deadline := time.Now().Add(time.Hour)
			parent, cancelDeadline := context.WithDeadline(context.WithValue(t.Context(), otherKey{}, "v"), deadline)
			defer cancelDeadline()
			parent, cancel := context.WithCancelCause(parent)
			ctx := wrap(parent)

			require.Equal(t, "v", ctx.Value(otherKey{}))
			require.Equal(t, acme.ID, IDFromContext(ctx))
			d, ok := ctx.Deadline()
			require.True(t, ok)
			require.Equal(t, deadline, d)
			require.Equal(t, acme.ID, IDFromContext(Detach(ctx)))
			require.Contains(t, fmt.Sprint(ctx), ".WithTenant")
			require.NotContains(t, fmt.Sprint(ctx), acme.Name)

			child, cancelChild := context.WithCancel(ctx)
			defer cancelChild()
			cause := errors.New("client went away")
			cancel(cause)
			<-ctx.Done()
			<-child.Done()
			require.ErrorIs(t, ctx.Err(), context.Canceled)
			require.ErrorIs(t, context.Cause(ctx), cause)
			require.ErrorIs(t, context.Cause(child), cause)
			require.Equal(t, acme.ID, IDFromContext(child))
		})
	}
}

// The middleware's cost over the unavoidable request copy is one allocation,
// which holds the context and, for a path tenant, the stripped URL. A
// regression guard on allocations, never on time.
func TestMiddlewareAllocations(t *testing.T) {
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if IDFromContext(r.Context()) != acme.ID {
			t.Error("next ran without the tenant")
		}
	})
	dir := NewCache(newFakeDirectory(acme), nil)
	for _, tt := range []struct {
		name         string
		res          Resolver
		host, target string
	}{
		{"subdomain", Subdomain("localhost"), "acme.localhost:8080", "/api/meters"},
		{"chain_subdomain", Chain(Subdomain("localhost"), PathPrefix("/t/")), "acme.localhost:8080", "/api/meters"},
		{"chain_path", Chain(Subdomain("localhost"), PathPrefix("/t/")), "localhost:8080", "/t/acme/api/meters"},
		{"chain_both", Chain(Subdomain("localhost"), PathPrefix("/t/")), "acme.localhost:8080", "/t/acme/api/meters"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := NewMiddleware(tt.res, dir, nil).Handler(next)
			r := httptest.NewRequest(http.MethodGet, "http://localhost"+tt.target, nil)
			r.Host = tt.host
			w := &discardWriter{h: http.Header{}}
			h.ServeHTTP(w, r) // fill the cache
			allocs := testing.AllocsPerRun(100, func() { h.ServeHTTP(w, r) })
			require.LessOrEqual(t, allocs, 2.0, "the request copy and the tenant context")
		})
	}
}
