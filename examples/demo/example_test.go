package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
)

// ExampleApp_Handler opens a small demo database, issues an API token to
// acme and one to globex, then asks for acme's first property in several
// ways.
func ExampleApp_Handler() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "tenantkit-demo-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	app, err := Open(ctx, Config{DB: filepath.Join(dir, "demo.db"), Size: "small"})
	if err != nil {
		panic(err)
	}
	defer app.Close()
	h := app.Handler()

	token := func(slug string) string {
		tn, err := app.Directory.Lookup(ctx, slug)
		if err != nil {
			panic(err)
		}
		store, err := tokenStore(app.Owner, app.Dialect, nil)
		if err != nil {
			panic(err)
		}
		raw, _, err := store.Issue(ctx, tn.ID, demoScopes, 0, "example")
		if err != nil {
			panic(err)
		}
		return string(raw)
	}
	acme, globex := token("acme"), token("globex")

	for _, c := range []struct{ url, token, note string }{
		{"http://acme.localhost/api/properties/1", acme, "acme's property, tenant from the subdomain"},
		{"http://localhost/t/acme/api/properties/1", acme, "the same, tenant from the path"},
		{"http://localhost/t/globex/api/properties/1", globex, "globex asks for acme's ID: as if it did not exist"},
		{"http://localhost/t/globex/api/properties/1", acme, "acme's token for globex: tenant mismatch"},
		{"http://localhost/api/properties/1", acme, "no tenant in the request"},
		{"http://globex.localhost/t/acme/api/tenant", acme, "subdomain and path disagree"},
	} {
		req := httptest.NewRequest(http.MethodGet, c.url, nil)
		req.Header.Set("Authorization", "Bearer "+c.token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Println(rec.Code, c.note)
	}
	// Output:
	// 200 acme's property, tenant from the subdomain
	// 200 the same, tenant from the path
	// 404 globex asks for acme's ID: as if it did not exist
	// 403 acme's token for globex: tenant mismatch
	// 404 no tenant in the request
	// 400 subdomain and path disagree
}
