package main

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tenantkit/tenantkit/tenant"
	"github.com/tenantkit/tenantkit/tokenscope"
)

// mintToken issues a token for the tenant slug, as `demo token create` does.
func mintToken(t *testing.T, a *App, slug string, scopes ...string) (string, tokenscope.Token) {
	t.Helper()
	tn, err := a.Directory.Lookup(t.Context(), slug)
	require.NoError(t, err)
	require.NoError(t, ensureTokenSchema(t.Context(), a.Owner, a.Pool, a.Dialect))
	s, err := tokenStore(a.Owner, a.Dialect, nil)
	require.NoError(t, err)
	raw, tok, err := s.Issue(t.Context(), tn.ID, scopes, 0, "test")
	require.NoError(t, err)
	return string(raw), tok
}

// authed is a.Handler() for tests about something other than tokens; see
// withTokens.
func authed(t *testing.T, a *App) http.Handler {
	t.Helper()
	return withTokens(t, a, a.Handler())
}

// withTokens wraps h (built by a.Handler or a.compose): a request without an
// Authorization header gets a token (all demo scopes) of the tenant its URL
// names, resolved by the demo's own resolver. A request whose URL names no
// known tenant, or conflicting ones, is passed on as it is, so the tenant
// middleware answers it exactly as before.
func withTokens(t *testing.T, a *App, h http.Handler) http.Handler {
	t.Helper()
	res := a.resolver()
	var mu sync.Mutex
	tokens := map[string]string{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			if c, err := res.Resolve(r); err == nil {
				key := strings.ToLower(c.Key)
				mu.Lock()
				tok, ok := tokens[key]
				if !ok {
					if _, err := a.Directory.Lookup(r.Context(), key); err == nil {
						tok, _ = mintToken(t, a, key, demoScopes...)
						tokens[key] = tok
					}
				}
				mu.Unlock()
				if tok != "" {
					r = r.Clone(r.Context())
					r.Header.Set("Authorization", "Bearer "+tok)
				}
			}
		}
		h.ServeHTTP(w, r)
	})
}

func bearer(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

// fromManyIPs sends each request from another client address, so that the
// guest rate limit in front of the token check (10 failed authentications
// per minute and IP) does not answer 429 for the refusals these tests make
// on purpose.
func fromManyIPs(h http.Handler) http.Handler {
	var mu sync.Mutex
	n := 0
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		ip := fmt.Sprintf("198.18.%d.%d:4000", n/250, n%250+1)
		mu.Unlock()
		r = r.Clone(r.Context())
		r.RemoteAddr = ip
		h.ServeHTTP(w, r)
	})
}

// TestTokensRequired: every /api route of the demo refuses a request without
// a valid token of its own tenant, each route needs its scope, and a
// cross-tenant attempt is refused, returns nothing of the other tenant and
// is written to that tenant's audit_logs, once. On every backend.
func TestTokensRequired(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		logs := &syncBuffer{}
		a := openApp(t, Config{DB: b.db(t), Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
		h := fromManyIPs(a.Handler())
		_, acme := lookup(t, a, "acme")
		globexT, globex := lookup(t, a, "globex")
		meter := firstMeter(t, a, acme, true)
		globexMeter := firstMeter(t, a, globex, true)
		// Readings of a cumulative meter only grow: each POST sends more.
		value := lastReading(t, a, acme, meter.ID).Value
		body := func(b string) string {
			if b == "" {
				return ""
			}
			value += 10
			return fmt.Sprintf(`{"value": %.3f}`, value)
		}
		readOnly, _ := mintToken(t, a, "acme", scopeReadingsRead)
		all, allTok := mintToken(t, a, "acme", demoScopes...)
		invoicesOnly, _ := mintToken(t, a, "acme", scopeInvoicesRead)

		routes := []struct{ method, path, body, scope string }{
			{"GET", "/api/tenant", "", ""},
			{"GET", "/api/properties", "", ""},
			{"GET", "/api/meters/" + strconv.FormatInt(meter.ID, 10) + "/readings", "", scopeReadingsRead},
			{"POST", "/api/meters/" + strconv.FormatInt(meter.ID, 10) + "/readings", `{"value": 1}`, scopeReadingsWrite},
			{"GET", "/api/invoices", "", scopeInvoicesRead},
			{"GET", "/api/nosuch", "", ""},
		}
		for _, base := range []string{"http://acme.localhost", "http://localhost/t/acme"} {
			for _, rt := range routes {
				url := base + rt.path
				// No token, a malformed one, an unknown one: 401.
				r := do(t, h, rt.method, url, body(rt.body))
				require.Equal(t, http.StatusUnauthorized, r.Status, "%s %s: %s", rt.method, url, r.Body)
				require.Equal(t, `Bearer realm="tenantkit-demo"`, r.Header.Get("WWW-Authenticate"))
				require.Equal(t, "missing_token", r.errorCode(t))
				r = do(t, h, rt.method, url, body(rt.body), bearer("not a token")...)
				require.Equal(t, http.StatusUnauthorized, r.Status)
				require.Contains(t, r.Header.Get("WWW-Authenticate"), `error="invalid_token"`)
				r = do(t, h, rt.method, url, body(rt.body), bearer("aaaaaaaaaaaaaaaa|"+strings.Repeat("A", 43))...)
				require.Equal(t, http.StatusUnauthorized, r.Status)

				// The scope decides.
				want := http.StatusOK
				switch {
				case rt.method == "POST":
					want = http.StatusCreated
				case rt.path == "/api/nosuch":
					want = http.StatusNotFound
				}
				r = do(t, h, rt.method, url, body(rt.body), bearer(all)...)
				require.Equal(t, want, r.Status, "%s %s: %s", rt.method, url, r.Body)
				for _, tok := range []struct {
					raw    string
					scopes []string
				}{{readOnly, []string{scopeReadingsRead}}, {invoicesOnly, []string{scopeInvoicesRead}}} {
					r = do(t, h, rt.method, url, body(rt.body), bearer(tok.raw)...)
					if rt.scope == "" || tok.scopes[0] == rt.scope {
						require.Equal(t, want, r.Status, "%s %s: %s", rt.method, url, r.Body)
						continue
					}
					require.Equal(t, http.StatusForbidden, r.Status, "%s %s: %s", rt.method, url, r.Body)
					require.Equal(t, "insufficient_scope", r.errorCode(t))
					require.Contains(t, r.Header.Get("WWW-Authenticate"), `scope="`+rt.scope+`"`)
				}
			}
		}

		// acme's token on globex's URLs: 403 tenant_mismatch, nothing of
		// globex, one audit_logs row for globex per attempt.
		auditBefore, err := a.AuditCount(globex, "cross_tenant_access_denied")
		require.NoError(t, err)
		attempts := []struct{ method, url, body string }{
			{"GET", "http://globex.localhost/api/tenant", ""},
			{"GET", "http://localhost/t/globex/api/properties", ""},
			{"GET", fmt.Sprintf("http://globex.localhost/api/meters/%d/readings", globexMeter.ID), ""},
			{"POST", fmt.Sprintf("http://localhost/t/globex/api/meters/%d/readings", globexMeter.ID), `{"value": 99999999}`},
			{"GET", "http://globex.localhost/api/invoices", ""},
		}
		readingsBefore := ownerCount(t, a, "SELECT COUNT(*) FROM meter_readings WHERE meter_id = ?", globexMeter.ID)
		for i, at := range attempts {
			r := do(t, h, at.method, at.url, at.body, bearer(all)...)
			require.Equal(t, http.StatusForbidden, r.Status, "%s: %s", at.url, r.Body)
			require.Equal(t, "tenant_mismatch", r.errorCode(t))
			require.Contains(t, r.Header.Get("WWW-Authenticate"), `error="tenant_mismatch"`)
			require.NotContains(t, string(r.Body), "globex")
			require.NotContains(t, string(r.Body), string(globexT.ID))
			n, err := a.AuditCount(globex, "cross_tenant_access_denied")
			require.NoError(t, err)
			require.Equal(t, auditBefore+i+1, n, "one audit record per attempt")
		}
		require.Equal(t, readingsBefore, ownerCount(t, a, "SELECT COUNT(*) FROM meter_readings WHERE meter_id = ?", globexMeter.ID))
		// The audit row names the token by ID, never its secret.
		var notes string
		require.NoError(t, a.DB.Tx(globex, func(tx *sql.Tx) error {
			return tx.QueryRowContext(globex, a.q("SELECT notes FROM audit_logs WHERE tenant_id = ? AND action = ? ORDER BY id DESC LIMIT 1"),
				numericID(t, globexT), "cross_tenant_access_denied").Scan(&notes)
		}))
		require.Contains(t, notes, allTok.ID)
		require.Equal(t, allTok.TenantID, tokenTenantFromNotes(notes), "the monitor reads the token's tenant back")
		_, secret, _ := strings.Cut(all, "|")
		require.NotContains(t, notes, secret)

		// Uses are recorded in last_used_at by a background job.
		a.jobs.Wait()
		require.Equal(t, 1, ownerCount(t, a, "SELECT COUNT(*) FROM api_tokens WHERE id = ? AND last_used_at IS NOT NULL", allTok.ID))

		// A revoked token stops working (a fresh server: no cache).
		s, err := tokenStore(a.Owner, a.Dialect, nil)
		require.NoError(t, err)
		require.NoError(t, s.Revoke(t.Context(), allTok.ID))
		r := get(t, a.Handler(), "http://acme.localhost/api/tenant", bearer(all)...)
		require.Equal(t, http.StatusUnauthorized, r.Status)
		require.Contains(t, r.Header.Get("WWW-Authenticate"), "revoked")

		// Routes outside the tenant chain need no tenant token.
		require.Equal(t, http.StatusOK, get(t, h, "http://localhost/healthz").Status)

		// Every refusal was logged, and no log line holds a credential.
		require.Contains(t, logs.String(), "cross-tenant token rejected")
		require.Contains(t, logs.String(), allTok.ID)
		for _, raw := range []string{all, readOnly, invoicesOnly} {
			_, secret, _ := strings.Cut(raw, "|")
			require.NotContains(t, logs.String(), secret)
		}
	})
}

// TestTokenCLI: `demo token create` prints a working token once, `demo token
// revoke` stops it; bad input is a usage error.
func TestTokenCLI(t *testing.T) {
	db := allBackends[0].db(t)
	code, _, errOut := runCLI(t, t.Context(), "seed", "--db", db, "--size", "small")
	require.Equal(t, 0, code, errOut)

	code, out, errOut := runCLI(t, t.Context(), "token", "create", "--db", db, "--tenant", "acme", "--scopes", "readings:read,invoices:read", "--ttl", "24h", "--name", "ci")
	require.Equal(t, 0, code, errOut)
	raw := strings.TrimSpace(out)
	id, secret, ok := strings.Cut(raw, "|")
	require.True(t, ok, out)
	require.Len(t, secret, 43)
	require.Contains(t, errOut, "Token "+id+" for tenant acme")
	require.NotContains(t, errOut, secret, "the token is printed once, on standard output")

	a := openApp(t, Config{DB: db})
	r := get(t, a.Handler(), "http://acme.localhost/api/invoices", bearer(raw)...)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	r = get(t, a.Handler(), "http://globex.localhost/api/invoices", bearer(raw)...)
	require.Equal(t, http.StatusForbidden, r.Status)

	code, out, errOut = runCLI(t, t.Context(), "token", "revoke", id, "--db", db)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "revoked token "+id)
	r = get(t, a.Handler(), "http://acme.localhost/api/invoices", bearer(raw)...)
	require.Equal(t, http.StatusUnauthorized, r.Status)

	for _, bad := range [][]string{
		{"token"},
		{"token", "mint"},
		{"token", "create", "--db", db, "--tenant", "acme"},
		{"token", "create", "--db", db, "--tenant", "acme", "--scopes", "admin"},
		{"token", "create", "--db", db, "--scopes", "readings:read"},
		{"token", "create", "--db", db, "--tenant", "acme", "--scopes", "readings:read", "--ttl", "-1h"},
		{"token", "revoke", "--db", db},
	} {
		code, _, _ := runCLI(t, t.Context(), bad...)
		require.Equal(t, 2, code, "%v", bad)
	}
	code, _, errOut = runCLI(t, t.Context(), "token", "create", "--db", db, "--tenant", "nosuch", "--scopes", "readings:read")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "no tenant")
	code, _, errOut = runCLI(t, t.Context(), "token", "revoke", "zzzzzzzzzzzzzzzz", "--db", db)
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "no token")
}

// exampleToken issues a token with every demo scope for tenant id, for
// examples and benchmarks (which have no *testing.T).
func exampleToken(a *App, id tenant.ID) string {
	ctx := context.Background()
	if err := ensureTokenSchema(ctx, a.Owner, a.Pool, a.Dialect); err != nil {
		panic(err)
	}
	s, err := tokenStore(a.Owner, a.Dialect, nil)
	if err != nil {
		panic(err)
	}
	raw, _, err := s.Issue(ctx, id, demoScopes, 0, "example")
	if err != nil {
		panic(err)
	}
	return string(raw)
}

// TestTokenWithTenantHeader: with a trusted X-Tenant header, a user of acme
// naming globex with acme's valid token gets 403 and nothing of globex; the
// same request without a token gets 401.
func TestTokenWithTenantHeader(t *testing.T) {
	a := openApp(t, Config{DB: allBackends[0].db(t), TenantHeader: "X-Tenant", TrustTenantHeader: true})
	h := fromManyIPs(a.Handler())
	acmeTok, _ := mintToken(t, a, "acme", demoScopes...)
	globexT, globex := lookup(t, a, "globex")
	before, err := a.AuditCount(globex, "cross_tenant_access_denied")
	require.NoError(t, err)

	for _, path := range []string{"/api/tenant", "/api/properties", "/api/invoices"} {
		r := get(t, h, "http://localhost"+path, append(bearer(acmeTok), "X-Tenant", "globex")...)
		require.Equal(t, http.StatusForbidden, r.Status, "%s: %s", path, r.Body)
		require.Equal(t, "tenant_mismatch", r.errorCode(t))
		require.NotContains(t, string(r.Body), "globex")
		require.NotContains(t, string(r.Body), `"tenant_id":`+string(globexT.ID))

		r = get(t, h, "http://localhost"+path, "X-Tenant", "globex")
		require.Equal(t, http.StatusUnauthorized, r.Status, "%s: %s", path, r.Body)
		require.Equal(t, "missing_token", r.errorCode(t))
	}
	after, err := a.AuditCount(globex, "cross_tenant_access_denied")
	require.NoError(t, err)
	require.Equal(t, before+3, after)

	// acme's own header with acme's token works.
	r := get(t, h, "http://localhost/api/tenant", append(bearer(acmeTok), "X-Tenant", "acme")...)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
}
