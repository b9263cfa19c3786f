package tokenscope_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tenantkit/tenantkit/internal/testenv"
	"github.com/tenantkit/tenantkit/tenant"
	"github.com/tenantkit/tenantkit/tokenscope"
)

// The tenants of these tests: A and B, keyed by slug, with numeric IDs.
var (
	tenantA = tenant.Tenant{ID: "1", Slug: "a", Name: "A", Status: tenant.StatusActive}
	tenantB = tenant.Tenant{ID: "2", Slug: "b", Name: "B", Status: tenant.StatusActive}
)

func directory() tenant.Directory {
	return tenant.DirectoryFunc(func(_ context.Context, key string) (tenant.Tenant, error) {
		switch key {
		case "a":
			return tenantA, nil
		case "b":
			return tenantB, nil
		}
		return tenant.Tenant{}, tenant.ErrNotFound
	})
}

// invoices answers with the invoices of the request's tenant: what must never
// leak to another tenant's token.
var invoices = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	t := tenant.IDFromContext(r.Context())
	_, _ = io.WriteString(w, "invoices of tenant "+string(t)+": INV-"+string(t)+"-0001")
})

type fixture struct {
	store   *tokenscope.SQLStore
	checker *tokenscope.Checker
	audit   *auditLog
	logs    *logCapture
	tokenA  tokenscope.Secret
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{audit: &auditLog{}, logs: &logCapture{}}
	var err error
	f.store, err = tokenscope.NewSQLStore(testenv.SQLiteDB(t), &tokenscope.SQLStoreOptions{Logger: f.logs.logger()})
	require.NoError(t, err)
	require.NoError(t, f.store.CreateSchema(t.Context()))
	f.tokenA, _, err = f.store.Issue(t.Context(), tenantA.ID, []string{"invoices:read"}, 0, "a's token")
	require.NoError(t, err)
	f.checker = tokenscope.New(tokenscope.NewCachedVerifier(f.store, nil),
		&tokenscope.Options{Auditor: f.audit, Logger: f.logs.logger()})
	t.Cleanup(func() { f.logs.requireNoSecret(t, string(f.tokenA)) })
	return f
}

func do(t *testing.T, h http.Handler, host, path string, cred tokenscope.Secret, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "http://"+host+path, nil)
	r.RemoteAddr = "198.51.100.7:5555"
	if cred != "" {
		r.Header.Set("Authorization", "Bearer "+string(cred))
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func requireCode(t *testing.T, w *httptest.ResponseRecorder, status int, code string) {
	t.Helper()
	require.Equal(t, status, w.Code, w.Body.String())
	var body struct{ Error string }
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body), w.Body.String())
	require.Equal(t, code, body.Error)
	require.NotContains(t, w.Body.String(), "INV-2", "B's data returned")
}

// TestTokenOfAOnB: a token minted for A, sent to b.localhost and to
// /t/b/..., through the real tenant.Middleware and tenant.Chain: 403
// tenant_mismatch, nothing of B, exactly one audit record each.
func TestTokenOfAOnB(t *testing.T) {
	f := newFixture(t)
	mw := tenant.NewMiddleware(tenant.Chain(tenant.Subdomain("localhost"), tenant.PathPrefix("/t/")), directory(), nil)
	h := mw.Handler(f.checker.Require(tokenscope.AllOf("invoices:read"))(invoices))

	w := do(t, h, "a.localhost", "/api/invoices", f.tokenA)
	require.Equal(t, http.StatusOK, w.Code)
	require.Contains(t, w.Body.String(), "INV-1-0001")
	w = do(t, h, "localhost", "/t/a/api/invoices", f.tokenA)
	require.Equal(t, http.StatusOK, w.Code)
	require.Empty(t, f.audit.all())

	for i, tc := range []struct{ host, path string }{
		{"b.localhost", "/api/invoices"},
		{"B.localhost:8080", "/api/invoices"},
		{"localhost", "/t/b/api/invoices"},
	} {
		w := do(t, h, tc.host, tc.path, f.tokenA)
		requireCode(t, w, http.StatusForbidden, "tenant_mismatch")
		require.Equal(t, `Bearer error="tenant_mismatch", error_description="the access token is not valid for this tenant"`, w.Header().Get("WWW-Authenticate"))
		got := f.audit.all()
		require.Len(t, got, i+1, "exactly one audit record per attempt")
		a := got[i]
		require.Equal(t, tenantA.ID, a.TokenTenant)
		require.Equal(t, tenantB.ID, a.RequestTenant)
		require.Equal(t, "198.51.100.7", a.ClientIP)
		require.NotEmpty(t, a.TokenID)
		require.True(t, strings.HasPrefix(string(f.tokenA), a.TokenID+"|"))
		require.False(t, a.Time.IsZero())
		require.Contains(t, a.Path, "/api/invoices")
	}
}

// TestHeaderTenantOfB: a user of A sending X-Tenant: B with A's valid token
// gets 403, not B's data; without a token 401.
func TestHeaderTenantOfB(t *testing.T) {
	f := newFixture(t)
	trusted := tenant.NewMiddleware(tenant.Chain(tenant.Subdomain("localhost"), tenant.Header("X-Tenant", true)), directory(), nil)
	h := trusted.Handler(f.checker.Require(tokenscope.AllOf("invoices:read"))(invoices))

	w := do(t, h, "api.example", "/api/invoices", f.tokenA, "X-Tenant", "b")
	requireCode(t, w, http.StatusForbidden, "tenant_mismatch")
	require.Len(t, f.audit.all(), 1)

	w = do(t, h, "api.example", "/api/invoices", "", "X-Tenant", "b")
	requireCode(t, w, http.StatusUnauthorized, "missing_token")
	require.Equal(t, "Bearer", w.Header().Get("WWW-Authenticate"))

	// The header against A's own subdomain is a conflict, never B.
	w = do(t, h, "a.localhost", "/api/invoices", f.tokenA, "X-Tenant", "b")
	require.Equal(t, http.StatusBadRequest, w.Code)
	require.NotContains(t, w.Body.String(), "INV-2")

	// An untrusted header is ignored: A's token on A's host gets A's data only.
	untrusted := tenant.NewMiddleware(tenant.Chain(tenant.Subdomain("localhost"), tenant.Header("X-Tenant", false)), directory(), nil)
	h2 := untrusted.Handler(f.checker.Require(tokenscope.AllOf("invoices:read"))(invoices))
	w = do(t, h2, "a.localhost", "/api/invoices", f.tokenA, "X-Tenant", "b")
	require.Equal(t, http.StatusOK, w.Code)
	require.Contains(t, w.Body.String(), "INV-1-0001")
	require.NotContains(t, w.Body.String(), "INV-2")
}

// TestClaimNeverOverridesURL: with the token's tenant as one more source in
// the chain, host B and token A disagree: 400, never B's data, and the
// attempt is audited through TenantErrorHandler. Without a host tenant the
// claim alone selects A.
func TestClaimNeverOverridesURL(t *testing.T) {
	f := newFixture(t)
	slugOf := map[tenant.ID]string{tenantA.ID: "a", tenantB.ID: "b"}
	claim := tenant.Claim(tokenscope.TenantClaimFunc(func(_ context.Context, id tenant.ID) (string, bool) {
		s, ok := slugOf[id]
		return s, ok
	}))
	mw := tenant.NewMiddleware(tenant.Chain(tenant.Subdomain("localhost"), claim), directory(),
		&tenant.MiddlewareOptions{ErrorHandler: f.checker.TenantErrorHandler(nil)})
	h := f.checker.Authenticate(mw.Handler(f.checker.Require(tokenscope.AllOf("invoices:read"))(invoices)))

	w := do(t, h, "b.localhost", "/api/invoices", f.tokenA)
	requireCode(t, w, http.StatusBadRequest, tenant.CodeTenantConflict)
	require.Len(t, f.audit.all(), 1)
	a := f.audit.all()[0]
	require.Equal(t, tenantA.ID, a.TokenTenant)
	require.Equal(t, tenant.ID("b"), a.RequestTenant)

	w = do(t, h, "api.localhost.example", "/api/invoices", f.tokenA)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	require.Contains(t, w.Body.String(), "INV-1-0001")

	w = do(t, h, "a.localhost", "/api/invoices", f.tokenA)
	require.Equal(t, http.StatusOK, w.Code)

	// No token: refused before any tenant is chosen.
	w = do(t, h, "b.localhost", "/api/invoices", "")
	requireCode(t, w, http.StatusUnauthorized, "missing_token")
	require.Len(t, f.audit.all(), 1)
}
