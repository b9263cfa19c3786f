package tenant_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/tenantkit/tenantkit/tenant"

	_ "modernc.org/sqlite"
)

// directory is the application's tenant table, here a map.
var directory = tenant.DirectoryFunc(func(ctx context.Context, key string) (tenant.Tenant, error) {
	switch key {
	case "acme":
		return tenant.Tenant{ID: "1", Slug: "acme", Name: "Acme Utilities", Plan: "basic", Status: tenant.StatusActive}, nil
	case "globex":
		return tenant.Tenant{ID: "2", Slug: "globex", Name: "Globex", Plan: "enterprise", Status: tenant.StatusActive}, nil
	case "initech":
		return tenant.Tenant{ID: "3", Slug: "initech", Name: "Initech", Plan: "basic", Status: tenant.StatusSuspended}, nil
	}
	return tenant.Tenant{}, tenant.ErrNotFound
})

func ExampleMiddleware_Handler() {
	m := tenant.NewMiddleware(
		tenant.Chain(tenant.Subdomain("localhost"), tenant.PathPrefix("/t/")),
		tenant.NewCache(directory, nil),
		nil,
	)
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t, _ := tenant.FromContext(r.Context())
		fmt.Fprintf(w, "%s %s", t.Slug, r.URL.Path)
	}))

	for _, target := range []string{
		"http://acme.localhost:8080/api/meters",
		"http://localhost:8080/t/globex/api/meters",
		"http://localhost:8080/api/meters",
		"http://nobody.localhost:8080/",
		"http://initech.localhost:8080/",
		"http://globex.localhost:8080/t/acme/api/meters",
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
		fmt.Println(rec.Code, strings.TrimSpace(rec.Body.String()))
	}
	// Output:
	// 200 acme /api/meters
	// 200 globex /api/meters
	// 404 {"error":"tenant_required","message":"no tenant in request"}
	// 404 {"error":"unknown_tenant","message":"unknown tenant"}
	// 403 {"error":"tenant_suspended","message":"tenant is not active"}
	// 400 {"error":"tenant_conflict","message":"conflicting tenants in request"}
}

func ExampleMiddleware_Optional() {
	m := tenant.NewMiddleware(tenant.Subdomain("localhost"), tenant.NewCache(directory, nil), nil)
	home := m.Optional(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if t, ok := tenant.FromContext(r.Context()); ok {
			fmt.Fprintf(w, "welcome back, %s", t.Name)
			return
		}
		fmt.Fprint(w, "welcome, pick your organization")
	}))
	for _, host := range []string{"localhost", "acme.localhost", "nobody.localhost"} {
		rec := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Host = host
		home.ServeHTTP(rec, r)
		fmt.Println(rec.Code, strings.TrimSpace(rec.Body.String()))
	}
	// Output:
	// 200 welcome, pick your organization
	// 200 welcome back, Acme Utilities
	// 404 {"error":"unknown_tenant","message":"unknown tenant"}
}

func ExampleMiddleware_Resolve() {
	m := tenant.NewMiddleware(tenant.Header("X-Tenant", true), directory, nil)
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("X-Tenant", "initech")
	_, _, err := m.Resolve(r)
	var e *tenant.Error
	if errors.As(err, &e) {
		fmt.Println(e.Status, e.Code)
	}
	// Output:
	// 403 tenant_suspended
}

func ExampleChain() {
	res := tenant.Chain(tenant.Subdomain("example.com"), tenant.PathPrefix("/t/"), tenant.Header("X-Tenant", false))

	r := httptest.NewRequest(http.MethodGet, "http://ACME.example.com/t/acme/invoices", nil)
	r.Header.Set("X-Tenant", "globex") // untrusted: ignored
	c, err := res.Resolve(r)
	fmt.Printf("%+v %v\n", c, err)

	r = httptest.NewRequest(http.MethodGet, "http://globex.example.com/t/acme/invoices", nil)
	_, err = res.Resolve(r)
	var conflict *tenant.ConflictError
	fmt.Println(errors.As(err, &conflict), err)
	// Output:
	// {Key:acme Source:host StripPrefix:/t/acme} <nil>
	// true tenant: conflicting tenant candidates: host says "globex", path says "acme"
}

func ExampleSubdomain() {
	res := tenant.Subdomain("localhost")
	for _, host := range []string{"ACME.localhost:8080", "localhost:8080", "a.b.localhost", "127.0.0.1", "[::1]:8080", "acme.localhost.evil.com"} {
		c, err := res.Resolve(&http.Request{Host: host})
		fmt.Printf("%-24s %q %v\n", host, c.Key, errors.Is(err, tenant.ErrNoCandidate))
	}
	// Output:
	// ACME.localhost:8080      "acme" false
	// localhost:8080           "" true
	// a.b.localhost            "" true
	// 127.0.0.1                "" true
	// [::1]:8080               "" true
	// acme.localhost.evil.com  "" true
}

func ExampleNewContext() {
	ctx := tenant.NewContext(context.Background(), tenant.Tenant{ID: "1", Slug: "acme", Status: tenant.StatusActive})
	t, err := tenant.Require(ctx)
	fmt.Println(t.Slug, err)

	_, err = tenant.Require(context.Background())
	fmt.Println(err)
	// Output:
	// acme <nil>
	// tenant: no tenant in context
}

func ExampleDetach() {
	// A handler hands background work a context derived from the request:
	// it keeps the tenant but not the request's cancellation.
	reqCtx, cancel := context.WithCancel(tenant.NewContext(context.Background(), tenant.Tenant{ID: "1", Slug: "acme"}))
	job := tenant.Detach(reqCtx)
	cancel() // the response has been written

	var wg sync.WaitGroup
	wg.Go(func() {
		t, err := tenant.Require(job)
		fmt.Println("detached:", t.Slug, err, job.Err())
	})
	wg.Wait()

	// A goroutine started with context.Background() has no tenant.
	_, err := tenant.Require(context.Background())
	fmt.Println("background:", err)
	// Output:
	// detached: acme <nil> <nil>
	// background: tenant: no tenant in context
}

func ExampleWithSystem() {
	ctx := tenant.NewContext(context.Background(), tenant.Tenant{ID: "1"})
	fmt.Println(tenant.IsSystem(ctx), tenant.IsSystem(tenant.WithSystem(ctx)))
	// Output:
	// false true
}

func ExampleNewCache() {
	calls := 0
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := tenant.NewCache(tenant.DirectoryFunc(func(ctx context.Context, key string) (tenant.Tenant, error) {
		calls++
		return directory.Lookup(ctx, key)
	}), &tenant.CacheOptions{TTL: time.Minute, NegativeTTL: 5 * time.Second, Now: func() time.Time { return now }})

	ctx := context.Background()
	c.Lookup(ctx, "acme")
	c.Lookup(ctx, "acme")
	c.Lookup(ctx, "nobody")
	_, err := c.Lookup(ctx, "nobody")
	fmt.Println(calls, err)

	now = now.Add(10 * time.Second) // the negative entry expired, the positive one did not
	c.Lookup(ctx, "acme")
	c.Lookup(ctx, "nobody")
	fmt.Println(calls)
	// Output:
	// 2 tenant: unknown tenant
	// 3
}

func ExampleDB_Tx() {
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		panic(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1) // one in-memory database
	if _, err := db.Exec("CREATE TABLE meters (tenant_id INTEGER NOT NULL, serial TEXT NOT NULL)"); err != nil {
		panic(err)
	}
	d := tenant.NewDB(db, nil) // on PostgreSQL, Tx also sets app.tenant_id for row-level security

	ctx := tenant.NewContext(context.Background(), tenant.Tenant{ID: "1", Slug: "acme", Status: tenant.StatusActive})
	err = d.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO meters (tenant_id, serial) VALUES (?, ?)", tenant.IDFromContext(ctx), "M-001")
		return err
	})
	fmt.Println("insert:", err)

	err = d.Tx(context.Background(), func(tx *sql.Tx) error {
		_, err := tx.Exec("DELETE FROM meters")
		return err
	})
	fmt.Println("without a tenant:", err)
	// Output:
	// insert: <nil>
	// without a tenant: tenant: no tenant in context
}

func ExamplePathPrefix() {
	res := tenant.PathPrefix("/t/")
	for _, target := range []string{"/t/acme/api/meters", "/api/meters", "/t/a%2Fb/api"} {
		c, err := res.Resolve(httptest.NewRequest(http.MethodGet, target, nil))
		fmt.Printf("%-20s %+v %v\n", target, c, err)
	}
	// Output:
	// /t/acme/api/meters   {Key:acme Source:path StripPrefix:/t/acme} <nil>
	// /api/meters          {Key: Source: StripPrefix:} tenant: no tenant candidate in request (path)
	// /t/a%2Fb/api         {Key: Source: StripPrefix:} tenant: invalid tenant key from path: "a/b"
}

func ExampleHeader() {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("X-Tenant", "globex")

	c, err := tenant.Header("X-Tenant", false).Resolve(r) // anyone can send a header
	fmt.Printf("untrusted: %q %v\n", c.Key, errors.Is(err, tenant.ErrNoCandidate))

	c, err = tenant.Header("X-Tenant", true).Resolve(r) // set by a proxy you control
	fmt.Printf("trusted: %q %v\n", c.Key, err)
	// Output:
	// untrusted: "" true
	// trusted: "globex" <nil>
}

type principalKey struct{}

func ExampleClaim() {
	// An authentication middleware earlier in the chain stored the verified
	// principal's organization in the context.
	res := tenant.Claim(func(ctx context.Context) (string, bool) {
		org, ok := ctx.Value(principalKey{}).(string)
		return org, ok
	})
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r = r.WithContext(context.WithValue(r.Context(), principalKey{}, "acme"))
	c, err := res.Resolve(r)
	fmt.Printf("%+v %v\n", c, err)
	// Output:
	// {Key:acme Source:claim StripPrefix:} <nil>
}
