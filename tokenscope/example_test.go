package tokenscope_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/tenantkit/tenantkit/tenant"
	"github.com/tenantkit/tenantkit/tokenscope"
	_ "modernc.org/sqlite"
)

// exampleVerifier knows two tokens: one of tenant "1" that can read
// readings, one of tenant "2".
var exampleVerifier = tokenscope.VerifierFunc(func(_ context.Context, c tokenscope.Secret) (tokenscope.Token, error) {
	switch c {
	case "token-of-1":
		return tokenscope.Token{ID: "t1", TenantID: "1", Scopes: []string{"readings:read"}}, nil
	case "token-of-2":
		return tokenscope.Token{ID: "t2", TenantID: "2", Scopes: []string{"readings:read"}}, nil
	}
	return tokenscope.Token{}, tokenscope.ErrInvalidToken
})

// The decision without HTTP: the tenant comes from the context, the
// credential from wherever the caller found it.
func ExampleChecker_Check() {
	c := tokenscope.New(exampleVerifier, nil)
	ctx := tenant.NewContext(context.Background(), tenant.Tenant{ID: "1", Status: tenant.StatusActive})

	tok, err := c.Check(ctx, "token-of-1", tokenscope.AllOf("readings:read"))
	fmt.Println(tok.ID, err)
	_, err = c.Check(ctx, "token-of-2", tokenscope.AllOf("readings:read"))
	fmt.Println(errors.Is(err, tokenscope.ErrTenantMismatch))
	_, err = c.Check(ctx, "token-of-1", tokenscope.AllOf("readings:write"))
	fmt.Println(err)
	// Output:
	// t1 <nil>
	// true
	// tokenscope: insufficient scope (requires readings:write)
}

// Per-route scopes behind tenant.Middleware; a token of tenant 2 on tenant
// 1's subdomain is refused and audited.
func ExampleChecker_Require() {
	dir := tenant.DirectoryFunc(func(_ context.Context, key string) (tenant.Tenant, error) {
		ids := map[string]tenant.ID{"one": "1", "two": "2"}
		if id, ok := ids[key]; ok {
			return tenant.Tenant{ID: id, Slug: key, Status: tenant.StatusActive}, nil
		}
		return tenant.Tenant{}, tenant.ErrNotFound
	})
	audit := tokenscope.AuditorFunc(func(_ context.Context, a tokenscope.Attempt) error {
		fmt.Printf("audit: token %s of tenant %s tried tenant %s at %s\n", a.TokenID, a.TokenTenant, a.RequestTenant, a.Path)
		return nil
	})
	c := tokenscope.New(exampleVerifier, &tokenscope.Options{Auditor: audit})
	mux := http.NewServeMux()
	mux.Handle("GET /api/readings", c.Require(tokenscope.AllOf("readings:read"))(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "readings of tenant %s", tenant.IDFromContext(r.Context()))
		})))
	h := tenant.NewMiddleware(tenant.Subdomain("example.com"), dir, nil).Handler(mux)

	for _, cred := range []string{"token-of-1", "token-of-2", ""} {
		r := httptest.NewRequest("GET", "http://one.example.com/api/readings", nil)
		if cred != "" {
			r.Header.Set("Authorization", "Bearer "+cred)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Println(w.Code, w.Header().Get("WWW-Authenticate"), strings.TrimSpace(w.Body.String()))
	}
	// Output:
	// 200  readings of tenant 1
	// audit: token t2 of tenant 2 tried tenant 1 at /api/readings
	// 403 Bearer error="tenant_mismatch", error_description="the access token is not valid for this tenant" {"error":"tenant_mismatch","message":"the access token is not valid for this tenant"}
	// 401 Bearer {"error":"missing_token","message":"a bearer token is required"}
}

// Issue a token, verify it, revoke it, on SQLite.
func ExampleSQLStore() {
	ctx := context.Background()
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		panic(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1) // one in-memory database

	store, err := tokenscope.NewSQLStore(db, nil)
	if err != nil {
		panic(err)
	}
	if err := store.CreateSchema(ctx); err != nil {
		panic(err)
	}
	raw, tok, err := store.Issue(ctx, "42", []string{"readings:read"}, 0, "meter gateway")
	if err != nil {
		panic(err)
	}
	fmt.Println(raw)                                        // a Secret prints redacted
	fmt.Println(strings.HasPrefix(string(raw), tok.ID+"|")) // string(raw) is what the client gets, once
	got, err := store.Verify(ctx, raw)
	fmt.Println(got.TenantID, got.Scopes, err)
	if err := store.Revoke(ctx, tok.ID); err != nil {
		panic(err)
	}
	_, err = store.Verify(ctx, raw)
	fmt.Println(errors.Is(err, tokenscope.ErrRevoked))
	// Output:
	// [REDACTED]
	// true
	// 42 [readings:read] <nil>
	// true
}

func ExampleParseBearer() {
	for _, h := range []string{"Bearer mF_9.B5f-4.1JqM", "bearer abc|def", "Basic dXNlcjpwYXNz", "Bearer a b"} {
		s, err := tokenscope.ParseBearer(h)
		fmt.Printf("%q %v\n", string(s), err)
	}
	// Output:
	// "mF_9.B5f-4.1JqM" <nil>
	// "abc|def" <nil>
	// "" tokenscope: no bearer token: authorization scheme is not Bearer
	// "" tokenscope: invalid token: more than one bearer token
}

// On a shared API host the URL names no tenant, so the verified token's
// tenant chooses it; where the host does name one, both must agree.
func ExampleTenantClaim() {
	dir := tenant.DirectoryFunc(func(_ context.Context, key string) (tenant.Tenant, error) {
		switch key {
		case "1", "2":
			return tenant.Tenant{ID: tenant.ID(key), Status: tenant.StatusActive}, nil
		}
		return tenant.Tenant{}, tenant.ErrNotFound
	})
	c := tokenscope.New(exampleVerifier, nil)
	tenants := tenant.NewMiddleware(
		tenant.Chain(tenant.Subdomain("example.com"), tenant.Claim(tokenscope.TenantClaim)), dir,
		&tenant.MiddlewareOptions{ErrorHandler: c.TenantErrorHandler(nil)})
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "data of tenant %s", tenant.IDFromContext(r.Context()))
	})
	h := c.Authenticate(tenants.Handler(c.Handler(api)))

	for _, host := range []string{"api.test", "2.example.com"} {
		r := httptest.NewRequest("GET", "http://"+host+"/readings", nil)
		r.Header.Set("Authorization", "Bearer token-of-1")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Println(host, w.Code, strings.TrimSpace(w.Body.String()))
	}
	// Output:
	// api.test 200 data of tenant 1
	// 2.example.com 400 {"error":"tenant_conflict","message":"conflicting tenants in request"}
}
