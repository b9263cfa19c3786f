package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tenantkit/tenantkit/internal/testenv"
)

// TestReviewHostileRequests sends requests crafted to cross from one tenant
// into another (odd IDs, pagination edges, injection-looking filters, body
// fields naming another tenant, conflicting or encoded tenant names, other
// methods, the admin routes) and checks that none of them answers with
// another tenant's rows or with a status that would reveal them.
func TestReviewHostileRequests(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		a := openApp(t, Config{DB: b.db(t), AdminToken: "admin-secret"})
		h := authed(t, a)
		acme, _ := lookup(t, a, "acme")
		globex, _ := lookup(t, a, "globex")
		aid, gid := numericID(t, acme), numericID(t, globex)

		var gProp, gMeter, gInvoice int64
		gProp = int64(ownerCount(t, a, "SELECT MIN(id) FROM properties WHERE tenant_id = ?", gid))
		gMeter = int64(ownerCount(t, a, "SELECT MIN(id) FROM meters WHERE tenant_id = ?", gid))
		gInvoice = int64(ownerCount(t, a, "SELECT MIN(id) FROM invoices WHERE tenant_id = ?", gid))
		acmeBase := "http://localhost/t/acme"

		// Another tenant's IDs in every spelling strconv.ParseInt accepts
		// (leading zeros, a plus sign) and spellings it does not.
		for path, other := range map[string]int64{"/api/properties/%s": gProp, "/api/properties/%s/meters": gProp,
			"/api/meters/%s/readings": gMeter, "/api/invoices/%s": gInvoice} {
			o := fmt.Sprint(other)
			for _, id := range []string{
				o, "0" + o, "+" + o, "000000000000000000000" + o, "0", "-1", "-" + o, "9223372036854775807",
				"9223372036854775808", "99999999999999999999", o + ".0", "1e3", "%20" + o, "0x1", o + "%00", "abc",
			} {
				r := get(t, h, acmeBase+fmt.Sprintf(path, id))
				require.Equal(t, http.StatusNotFound, r.Status, "%s %s: %.300s", path, id, r.Body)
				require.NotContains(t, string(r.Body), "tenant_id")
			}
		}
		// Pagination edges.
		for _, q := range []string{"per_page=0", "per_page=-1", "per_page=101", "per_page=99999999999999999999",
			"page=0", "page=-1", "page=99999999999999999999", "page=1000001", "page=1.5", "per_page=1e2"} {
			r := get(t, h, acmeBase+"/api/properties?"+q)
			require.Equal(t, http.StatusBadRequest, r.Status, "%s: %s", q, r.Body)
		}
		r := get(t, h, acmeBase+"/api/properties?page=1000000&per_page=100")
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		var l list
		r.json(t, &l)
		require.Empty(t, l.Data)
		require.Nil(t, l.Next)

		// Injection-looking filters.
		aMeter := int64(ownerCount(t, a, "SELECT MIN(id) FROM meters WHERE tenant_id = ?", aid))
		for _, v := range []string{"2020-01-01'%20OR%20'1'='1", "2020-01-01%27%20OR%201=1--", "1%20OR%201=1", "2020-01-01T00:00:00Z%00"} {
			for _, k := range []string{"from", "to"} {
				r := get(t, h, acmeBase+fmt.Sprintf("/api/meters/%d/readings?%s=%s", aMeter, k, v))
				require.Equal(t, http.StatusBadRequest, r.Status, "%s=%s: %s", k, v, r.Body)
			}
		}
		r = get(t, h, acmeBase+"/api/invoices?status=paid'%20OR%20'1'='1")
		require.Equal(t, http.StatusBadRequest, r.Status)

		// Bodies naming another tenant or meter.
		for _, body := range []string{
			fmt.Sprintf(`{"value": 1e9, "tenant_id": %d}`, gid),
			fmt.Sprintf(`{"value": 1e9, "meter_id": %d}`, gMeter),
			fmt.Sprintf(`{"value": 1e9, "TENANT_ID": %d}`, gid),
			`{"value": 1e9, "value": 1e9, "tenant": "globex"}`,
		} {
			before := ownerCount(t, a, "SELECT COUNT(*) FROM meter_readings WHERE tenant_id = ?", gid)
			r := do(t, h, http.MethodPost, acmeBase+fmt.Sprintf("/api/meters/%d/readings", aMeter), body)
			require.Equal(t, http.StatusBadRequest, r.Status, "%s: %s", body, r.Body)
			require.Equal(t, before, ownerCount(t, a, "SELECT COUNT(*) FROM meter_readings WHERE tenant_id = ?", gid))
		}

		// Tenant names: conflicting, encoded, upper case, headers.
		for _, c := range []struct {
			url    string
			header []string
			want   int
		}{
			{"http://acme.localhost/t/globex/api/properties", nil, http.StatusBadRequest},
			{"http://acme.localhost/t/GLOBEX/api/properties", nil, http.StatusBadRequest},
			{"http://acme.localhost/t/gl%6Fbex/api/properties", nil, http.StatusBadRequest},
			{"http://ACME.localhost/t/globex/api/properties", nil, http.StatusBadRequest},
			{"http://globex.acme.localhost/api/properties", nil, http.StatusNotFound},
			{"http://acme.localhost:8080/t/globex/api/properties", nil, http.StatusBadRequest},
		} {
			r := get(t, h, c.url, c.header...)
			require.Equal(t, c.want, r.Status, "%s: %s", c.url, r.Body)
			require.NotContains(t, string(r.Body), `"tenant_id"`)
		}
		// An acme token with upper case, encoded or header-named globex.
		atok, _ := mintToken(t, a, "acme", demoScopes...)
		for _, c := range []struct {
			url    string
			header []string
		}{
			{"http://localhost/t/GLOBEX/api/properties", nil},
			{"http://localhost/t/gl%6Fbex/api/properties", nil},
			{"http://localhost/t/acme/api/properties", []string{"X-Tenant", "globex"}},
			{"http://GLOBEX.localhost/api/properties", nil},
		} {
			r := get(t, fromManyIPs(a.Handler()), c.url, append(bearer(atok), c.header...)...)
			if r.Status == http.StatusOK {
				var l list
				r.json(t, &l)
				for _, p := range l.Data {
					require.Equal(t, aid, p.tenantID(), "%s: %s", c.url, r.Body)
				}
				continue
			}
			require.Contains(t, []int{http.StatusForbidden, http.StatusUnauthorized, http.StatusNotFound}, r.Status, "%s: %s", c.url, r.Body)
			require.NotContains(t, string(r.Body), "globex")
		}

		// Other methods.
		for _, m := range []string{http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete, http.MethodPatch} {
			r := do(t, h, m, acmeBase+fmt.Sprintf("/api/properties/%d", gProp), "")
			require.NotEqual(t, http.StatusOK, r.Status, "%s", m)
			r = do(t, fromManyIPs(a.Handler()), m, acmeBase+"/api/properties", "")
			require.Equal(t, http.StatusUnauthorized, r.Status, "%s without a token: %s", m, r.Body)
		}

		// Admin routes refuse tenant tokens and no token, under every host.
		for _, u := range []string{"http://localhost/admin/api/tenants", "http://acme.localhost/admin/api/tenants",
			"http://localhost/t/acme/admin/api/tenants", "http://localhost/admin/monitor/", "http://localhost/admin/monitor/api/tenants",
			"http://acme.localhost/admin/monitor/api/tenants", "http://localhost/t/acme/admin/monitor/api/tenants",
			"http://localhost/admin/monitor/api/tenants?token=wrong", "http://localhost//admin/api/tenants", "http://localhost/admin/api/tenants/"} {
			for _, hdr := range [][]string{nil, bearer(atok), {"Authorization", "Bearer "}, {"Authorization", "bearer admin-secret"}} {
				r := get(t, fromManyIPs(a.Handler()), u, hdr...)
				require.NotEqual(t, http.StatusOK, r.Status, "%s %v: %s", u, hdr, r.Body)
				require.NotContains(t, string(r.Body), "globex", "%s %v", u, hdr)
			}
		}
		r = get(t, a.Handler(), "http://localhost/admin/api/tenants", bearer("admin-secret")...)
		require.Equal(t, http.StatusOK, r.Status)
		require.True(t, strings.Contains(string(r.Body), "globex"))
	})
}

// TestReviewPostgresRefusesIndirectBypass: the request-path role is refused
// when it could leave row-level security behind without being a superuser,
// BYPASSRLS or an owner itself: as a member of a superuser or BYPASSRLS
// role (SET ROLE), with CREATEROLE (which on PostgreSQL before 16 can grant
// itself membership in the tables' owner), or with a session default that
// turns the cross-tenant mode on for every statement outside a tenant
// transaction.
func TestReviewPostgresRefusesIndirectBypass(t *testing.T) {
	t.Parallel()
	sup := testenv.Name("tk_rsup")
	byp := testenv.Name("tk_rbyp")
	supMember := testenv.Name("tk_rsupm")
	bypMember := testenv.Name("tk_rbypm")
	creator := testenv.Name("tk_rcreate")
	sessionOn := testenv.Name("tk_rsess")
	base := testenv.Postgres(t)
	t.Cleanup(func() {
		db, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, r := range []string{supMember, bypMember, creator, sessionOn, sup, byp} {
			_, _ = db.ExecContext(ctx, "DROP OWNED BY "+r)
			_, _ = db.ExecContext(ctx, "DROP ROLE IF EXISTS "+r)
		}
	})
	dsn := testenv.PostgresDatabase(t)
	good := openApp(t, Config{DB: dsn})
	for _, stmt := range []string{
		"CREATE ROLE " + sup + " NOLOGIN SUPERUSER",
		"CREATE ROLE " + byp + " NOLOGIN NOSUPERUSER BYPASSRLS",
		"CREATE ROLE " + supMember + " LOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT IN ROLE " + sup,
		"CREATE ROLE " + bypMember + " LOGIN NOSUPERUSER NOBYPASSRLS IN ROLE " + byp,
		"CREATE ROLE " + creator + " LOGIN NOSUPERUSER NOBYPASSRLS CREATEROLE",
		"CREATE ROLE " + sessionOn + " LOGIN NOSUPERUSER NOBYPASSRLS",
	} {
		_, err := good.Owner.ExecContext(t.Context(), stmt)
		require.NoError(t, err, stmt)
	}
	require.NoError(t, ensureAppRole(t.Context(), good.Owner, sessionOn))
	_, err := good.Owner.ExecContext(t.Context(), "ALTER ROLE "+sessionOn+" SET app.cross_tenant = 'on'")
	require.NoError(t, err)

	as := func(role string) string {
		u, err := url.Parse(dsn)
		require.NoError(t, err)
		u.User = url.User(role)
		return u.String()
	}
	// The role with the session default really sees every tenant outside a
	// tenant transaction: that is what the check must catch.
	leaky, err := sql.Open("pgx", as(sessionOn))
	require.NoError(t, err)
	defer leaky.Close()
	var n int
	require.NoError(t, leaky.QueryRowContext(t.Context(), "SELECT COUNT(DISTINCT tenant_id) FROM properties").Scan(&n))
	require.Greater(t, n, 1)
	// A member of a superuser role reaches every tenant with one SET ROLE.
	member, err := sql.Open("pgx", as(supMember))
	require.NoError(t, err)
	defer member.Close()
	tx, err := member.BeginTx(t.Context(), nil)
	require.NoError(t, err)
	_, err = tx.ExecContext(t.Context(), "SET LOCAL ROLE "+sup)
	require.NoError(t, err)
	require.NoError(t, tx.QueryRowContext(t.Context(), "SELECT COUNT(DISTINCT tenant_id) FROM properties").Scan(&n))
	require.NoError(t, tx.Rollback())
	require.Greater(t, n, 1)

	for _, c := range []struct{ name, role, want string }{
		{"member of a superuser role", supMember, "is a member of \"" + sup + "\""},
		{"member of a bypassrls role", bypMember, "is a member of \"" + byp + "\""},
		{"createrole", creator, "CREATEROLE"},
		{"session default cross-tenant", sessionOn, "app.cross_tenant"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Open(t.Context(), Config{DB: dsn, AppDB: as(c.role), Logger: testLogger(t)})
			require.ErrorIs(t, err, ErrUnsafeRole)
			require.ErrorContains(t, err, c.want)
		})
	}
}

// TestReviewReadingsFilterYearRange: a from/to bound whose UTC year is
// outside 1..9999 (year 0000, or 0001-01-01 with a positive offset) is a
// 400 naming the parameter on every backend; the MySQL driver cannot send
// such a time and the request used to fail with 500.
func TestReviewReadingsFilterYearRange(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		a := openApp(t, Config{DB: b.db(t)})
		h := authed(t, a)
		acme, _ := lookup(t, a, "acme")
		m := ownerCount(t, a, "SELECT MIN(id) FROM meters WHERE tenant_id = ?", numericID(t, acme))
		for _, q := range []string{"from=0000-01-01", "to=0000-06-01T00:00:00Z", "from=0001-01-01T00:00:00%2B14:00",
			"from=0000-01-01T00:00:00Z&to=0000-01-02T00:00:00Z"} {
			r := get(t, h, fmt.Sprintf("http://localhost/t/acme/api/meters/%d/readings?%s", m, q))
			require.Equal(t, http.StatusBadRequest, r.Status, "%s: %s", q, r.Body)
			require.Equal(t, codeInvalidDate, r.errorCode(t))
			require.Contains(t, string(r.Body), "out of range")
		}
		for _, q := range []string{"from=0001-01-01", "to=9999-12-31T23:59:59Z", "from=0001-01-01T00:00:00-05:00"} {
			r := get(t, h, fmt.Sprintf("http://localhost/t/acme/api/meters/%d/readings?%s", m, q))
			require.Equal(t, http.StatusOK, r.Status, "%s: %s", q, r.Body)
		}
	})
}

// TestReviewCrossTenantAttemptsThrottled: a valid token of one tenant sent
// again and again to another tenant's URLs is refused (403) and each
// refusal writes a row into the other tenant's audit_logs. Those refusals
// are charged to the guest limit of the client's IP like failed
// credentials, so one tenant cannot write into another tenant's table, or
// load its database, without bound.
func TestReviewCrossTenantAttemptsThrottled(t *testing.T) {
	a := openApp(t, Config{DB: filepath.Join(t.TempDir(), "demo.db")})
	h := a.Handler()
	atok, _ := mintToken(t, a, "acme", demoScopes...)
	globex, _ := lookup(t, a, "globex")
	gid := numericID(t, globex)
	const attempts = 100
	limited := 0
	for range attempts {
		r := get(t, h, "http://globex.localhost/api/properties", bearer(atok)...)
		require.NotContains(t, []int{http.StatusOK}, r.Status, "%s", r.Body)
		require.NotContains(t, string(r.Body), `"tenant_id"`)
		if r.Status == http.StatusTooManyRequests {
			limited++
		}
	}
	a.jobs.Wait()
	require.Positive(t, limited, "cross-tenant attempts from one IP are never throttled")
	audits := ownerCount(t, a, "SELECT COUNT(*) FROM audit_logs WHERE tenant_id = ? AND action = 'cross_tenant_access_denied'", gid)
	require.Less(t, audits, attempts/2, "every attempt wrote an audit row of the other tenant")
	require.Positive(t, audits)

	// The same client's own tenant is refused too until Retry-After, as
	// after failed credentials; another client is not affected.
	r := get(t, h, "http://acme.localhost/api/properties", bearer(atok)...)
	require.Equal(t, http.StatusTooManyRequests, r.Status, "%s", r.Body)
	r = get(t, fromManyIPs(h), "http://acme.localhost/api/properties", bearer(atok)...)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
}
