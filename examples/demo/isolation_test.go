package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantkit/tenantkit/tenant"
)

// tenantRows is everything one tenant sees through the API.
type tenantRows struct {
	id         int64
	properties []row
	meters     []row
	readings   []row // of the first meter
	invoices   []row
}

// collect walks every list endpoint of slug (via the path prefix), checking
// that each row belongs to the tenant and that each detail endpoint serves
// it.
func collect(t *testing.T, a *App, h http.Handler, slug string) tenantRows {
	t.Helper()
	tn, _ := lookup(t, a, slug)
	tr := tenantRows{id: numericID(t, tn)}
	base := "http://localhost/t/" + slug

	var org row
	r := get(t, h, base+"/api/tenant")
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	r.json(t, &org)
	require.Equal(t, slug, org["slug"])
	require.Equal(t, tr.id, org.id())

	tr.properties = listAll(t, h, base+"/api/properties", 2)
	require.NotEmpty(t, tr.properties)
	require.Equal(t, ownerCount(t, a, "SELECT COUNT(*) FROM properties WHERE tenant_id = ?", tr.id), len(tr.properties))
	for _, p := range tr.properties {
		require.Equal(t, tr.id, p.tenantID(), "property %d of another tenant listed", p.id())
		var detail row
		r := get(t, h, fmt.Sprintf("%s/api/properties/%d", base, p.id()))
		require.Equal(t, http.StatusOK, r.Status)
		r.json(t, &detail)
		require.Equal(t, tr.id, detail.tenantID())
		require.NotEmpty(t, detail["buildings"])
		meters := listAll(t, h, fmt.Sprintf("%s/api/properties/%d/meters", base, p.id()), 3)
		for _, m := range meters {
			require.Equal(t, tr.id, m.tenantID())
			require.Equal(t, float64(p.id()), m["property_id"])
		}
		tr.meters = append(tr.meters, meters...)
	}
	require.Equal(t, ownerCount(t, a, "SELECT COUNT(*) FROM meters WHERE tenant_id = ?", tr.id), len(tr.meters))

	m := tr.meters[0].id()
	tr.readings = listAll(t, h, fmt.Sprintf("%s/api/meters/%d/readings", base, m), 100)
	require.NotEmpty(t, tr.readings)
	require.Equal(t, ownerCount(t, a, "SELECT COUNT(*) FROM meter_readings WHERE tenant_id = ? AND meter_id = ?", tr.id, m), len(tr.readings))
	for _, rd := range tr.readings {
		require.Equal(t, tr.id, rd.tenantID())
		require.Equal(t, float64(m), rd["meter_id"])
	}

	tr.invoices = listAll(t, h, base+"/api/invoices", 50)
	require.Equal(t, ownerCount(t, a, "SELECT COUNT(*) FROM invoices WHERE tenant_id = ?", tr.id), len(tr.invoices))
	meterIDs := map[float64]bool{}
	for _, m := range tr.meters {
		meterIDs[float64(m.id())] = true
	}
	for i, inv := range tr.invoices {
		require.Equal(t, tr.id, inv.tenantID())
		if i%10 != 0 { // details of a sample keep the test fast
			continue
		}
		var detail struct {
			TenantID int64 `json:"tenant_id"`
			Items    []row `json:"items"`
		}
		r := get(t, h, fmt.Sprintf("%s/api/invoices/%d", base, inv.id()))
		require.Equal(t, http.StatusOK, r.Status)
		r.json(t, &detail)
		require.Equal(t, tr.id, detail.TenantID)
		require.NotEmpty(t, detail.Items)
		for _, it := range detail.Items {
			if mid, ok := it["meter_id"].(float64); ok {
				require.True(t, meterIDs[mid], "invoice item of meter %v that is not the tenant's", mid)
			}
		}
	}
	for _, status := range []string{"draft", "issued", "paid", "overdue"} {
		for _, inv := range listAll(t, h, base+"/api/invoices?status="+status, 50) {
			require.Equal(t, status, inv["status"])
			require.Equal(t, tr.id, inv.tenantID())
		}
	}
	return tr
}

// TestTenantIsolation: for every list and detail endpoint, tenant A never
// sees B's rows and B's IDs answer 404 under A (and the reverse), on every
// backend.
func TestTenantIsolation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		a := openApp(t, Config{DB: b.db(t)})
		h := authed(t, a)
		acme := collect(t, a, h, "acme")
		globex := collect(t, a, h, "globex")

		for _, pair := range []struct {
			slug  string
			mine  tenantRows
			other tenantRows
		}{{"acme", acme, globex}, {"globex", globex, acme}} {
			base := "http://" + pair.slug + ".localhost" // the subdomain resolver this time
			mine := map[int64]bool{}
			for _, p := range pair.mine.properties {
				mine[p.id()] = true
			}
			for _, p := range pair.other.properties {
				require.False(t, mine[p.id()], "property %d listed for both tenants", p.id())
				for _, path := range []string{"/api/properties/%d", "/api/properties/%d/meters"} {
					r := get(t, h, base+fmt.Sprintf(path, p.id()))
					require.Equal(t, http.StatusNotFound, r.Status, "%s %s: %s", pair.slug, path, r.Body)
					require.Equal(t, codeNotFound, r.errorCode(t))
					require.NotContains(t, string(r.Body), "tenant_id")
				}
			}
			for _, m := range pair.other.meters {
				r := get(t, h, base+fmt.Sprintf("/api/meters/%d/readings", m.id()))
				require.Equal(t, http.StatusNotFound, r.Status, "%s", r.Body)
				before := ownerCount(t, a, "SELECT COUNT(*) FROM meter_readings WHERE meter_id = ?", m.id())
				r = do(t, h, http.MethodPost, base+fmt.Sprintf("/api/meters/%d/readings", m.id()), `{"value": 99999999}`)
				require.Equal(t, http.StatusNotFound, r.Status, "%s", r.Body)
				require.Equal(t, before, ownerCount(t, a, "SELECT COUNT(*) FROM meter_readings WHERE meter_id = ?", m.id()))
			}
			for _, inv := range pair.other.invoices {
				r := get(t, h, base+fmt.Sprintf("/api/invoices/%d", inv.id()))
				require.Equal(t, http.StatusNotFound, r.Status, "%s", r.Body)
			}
		}
	})
}

// TestNoTenantAfterTenant: on one server with a one-connection pool, a
// request without a tenant right after one with a tenant gets 404 and no
// rows.
func TestNoTenantAfterTenant(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		a := openApp(t, Config{DB: b.db(t), MaxOpenConns: 1})
		h := authed(t, a)
		for range 3 {
			r := get(t, h, "http://acme.localhost/api/properties")
			require.Equal(t, http.StatusOK, r.Status)
			var l list
			r.json(t, &l)
			require.NotEmpty(t, l.Data)

			for _, url := range []string{"http://localhost/api/properties", "http://127.0.0.1/api/properties",
				"http://localhost/tx/acme/api/properties", "http://localhost/api/tenant"} {
				r = get(t, h, url)
				require.Equal(t, http.StatusNotFound, r.Status, "%s: %s", url, r.Body)
				require.Equal(t, tenant.CodeTenantRequired, r.errorCode(t))
				require.NotContains(t, string(r.Body), "data")
			}
		}
	})
}

// TestBackgroundGoroutine: a goroutine started from a handler with
// context.Background() gets an error and no rows from the data layer; one
// handed tenant.Detach(r.Context()) keeps working after the response.
func TestBackgroundGoroutine(t *testing.T) {
	t.Parallel()
	a := openApp(t, Config{DB: allBackends[0].db(t)})
	type result struct {
		rows []Property
		err  error
	}
	background := make(chan result, 1)
	detached := make(chan result, 1)
	responded := make(chan struct{})
	mux := a.routes()
	mux.HandleFunc("GET /api/test/spawn", func(w http.ResponseWriter, r *http.Request) {
		go func() {
			rows, _, err := a.Properties(context.Background(), page{Page: 1, PerPage: 100})
			background <- result{rows, err}
		}()
		ctx := tenant.Detach(r.Context())
		go func() {
			<-responded // strictly after the response was written
			rows, _, err := a.Properties(ctx, page{Page: 1, PerPage: 100})
			detached <- result{rows, err}
		}()
		writeJSON(w, http.StatusAccepted, map[string]string{"status": "started"})
	})
	h := withTokens(t, a, a.compose(mux))

	ctx, cancel := context.WithCancel(t.Context())
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, "http://acme.localhost/api/test/spawn", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusAccepted, rec.Code)
	cancel() // the request's context is gone, as after a real response
	close(responded)

	bg := <-background
	require.ErrorIs(t, bg.err, tenant.ErrNoTenant)
	require.Empty(t, bg.rows)

	d := <-detached
	require.NoError(t, d.err)
	require.NotEmpty(t, d.rows)
	acme, _ := lookup(t, a, "acme")
	for _, p := range d.rows {
		require.Equal(t, numericID(t, acme), p.TenantID)
	}

	// Direct calls with no tenant fail for every data-layer entry point.
	ctx = context.Background()
	_, err := a.Organization(ctx)
	require.ErrorIs(t, err, tenant.ErrNoTenant)
	_, err = a.Property(ctx, 1)
	require.ErrorIs(t, err, tenant.ErrNoTenant)
	_, _, err = a.Readings(ctx, 1, time.Time{}, time.Time{}, page{1, 10})
	require.ErrorIs(t, err, tenant.ErrNoTenant)
	_, err = a.CreateReading(ctx, 1, NewReading{Value: 1, ReadAt: time.Now(), Source: "manual"})
	require.ErrorIs(t, err, tenant.ErrNoTenant)
	_, err = a.AllTenants(ctx)
	require.ErrorIs(t, err, tenant.ErrNotSystem)
}

// TestPostAuditAfterResponse: the real POST handler writes its audit entry
// in a goroutine that outlives the request, with the request's tenant.
func TestPostAuditAfterResponse(t *testing.T) {
	t.Parallel()
	a := openApp(t, Config{DB: allBackends[0].db(t)})
	h := authed(t, a)
	_, ctx := lookup(t, a, "acme")
	before, err := a.AuditCount(ctx, "meter_reading.created")
	require.NoError(t, err)
	meter := firstMeter(t, a, ctx, false)
	r := do(t, h, http.MethodPost, fmt.Sprintf("http://acme.localhost/api/meters/%d/readings", meter.ID), `{"value": 12.5}`)
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	a.jobs.Wait()
	after, err := a.AuditCount(ctx, "meter_reading.created")
	require.NoError(t, err)
	require.Equal(t, before+1, after)
}

// TestResolverConflictsAndHeader: subdomain B with path A is 400; a header
// naming another tenant is ignored unless the header resolver is enabled and
// trusted.
func TestResolverConflictsAndHeader(t *testing.T) {
	t.Parallel()
	dbPath := allBackends[0].db(t)
	a := openApp(t, Config{DB: dbPath})
	h := authed(t, a)

	r := get(t, h, "http://globex.localhost/t/acme/api/tenant")
	require.Equal(t, http.StatusBadRequest, r.Status)
	require.Equal(t, tenant.CodeTenantConflict, r.errorCode(t))
	r = get(t, h, "http://acme.localhost/t/acme/api/tenant")
	require.Equal(t, http.StatusOK, r.Status, "agreeing sources are fine")

	slugOf := func(r response) string {
		t.Helper()
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		var o row
		r.json(t, &o)
		return o["slug"].(string)
	}
	// Not configured: the header is ignored.
	require.Equal(t, "acme", slugOf(get(t, h, "http://acme.localhost/api/tenant", "X-Tenant", "globex")))
	require.Equal(t, http.StatusNotFound, get(t, h, "http://localhost/api/tenant", "X-Tenant", "globex").Status)

	// Enabled but not trusted: still ignored.
	untrusted := authed(t, openApp(t, Config{DB: dbPath, TenantHeader: "X-Tenant"}))
	require.Equal(t, "acme", slugOf(get(t, untrusted, "http://acme.localhost/api/tenant", "X-Tenant", "globex")))
	r = get(t, untrusted, "http://localhost/api/tenant", "X-Tenant", "globex")
	require.Equal(t, http.StatusNotFound, r.Status)
	require.NotContains(t, string(r.Body), "globex")

	// Enabled and trusted: it names the tenant, and must agree with the others.
	trusted := authed(t, openApp(t, Config{DB: dbPath, TenantHeader: "X-Tenant", TrustTenantHeader: true}))
	require.Equal(t, "globex", slugOf(get(t, trusted, "http://localhost/api/tenant", "X-Tenant", "globex")))
	r = get(t, trusted, "http://acme.localhost/api/tenant", "X-Tenant", "globex")
	require.Equal(t, http.StatusBadRequest, r.Status)
	require.Equal(t, tenant.CodeTenantConflict, r.errorCode(t))

	// Unknown and suspended tenants fail closed.
	r = get(t, h, "http://nosuch.localhost/api/tenant")
	require.Equal(t, http.StatusNotFound, r.Status)
	require.Equal(t, tenant.CodeUnknownTenant, r.errorCode(t))
	r = get(t, h, "http://localhost/t/umbrella/api/properties")
	require.Equal(t, http.StatusForbidden, r.Status)
	require.Equal(t, tenant.CodeTenantSuspended, r.errorCode(t))
}

// TestParallelSystemModeDoesNotLeak: parallel requests for two tenants and
// an explicit cross-tenant (system mode) admin request, on a small pool so
// connections are shared; the tenant requests never see system mode, in
// their context or (on PostgreSQL) on their connection, and never see
// another tenant's rows even through a query without a tenant filter.
func TestParallelSystemModeDoesNotLeak(t *testing.T) {
	for _, b := range allBackends[:2] { // SQLite and PostgreSQL (where RLS makes the check sharper)
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			const token = "admin-secret"
			a := openApp(t, Config{DB: b.db(t), AdminToken: token, MaxOpenConns: 2})
			mux := a.routes()
			// probe reports what a tenant request sees of system mode.
			mux.HandleFunc("GET /api/test/probe", func(w http.ResponseWriter, r *http.Request) {
				if tenant.IsSystem(r.Context()) {
					writeError(w, http.StatusInternalServerError, "leak", "system mode in a tenant request context")
					return
				}
				var setting string
				var unfiltered int
				err := a.DB.Tx(r.Context(), func(tx *sql.Tx) error {
					if a.Dialect.String() == "postgres" {
						if err := tx.QueryRowContext(r.Context(), "SELECT COALESCE(current_setting('app.cross_tenant', true), '')").Scan(&setting); err != nil {
							return err
						}
						// No WHERE tenant_id on purpose: only RLS filters this.
						return tx.QueryRowContext(r.Context(), "SELECT COUNT(DISTINCT tenant_id) FROM properties").Scan(&unfiltered)
					}
					unfiltered = 1
					return nil
				})
				if err != nil {
					a.fail(w, r, err)
					return
				}
				writeJSON(w, http.StatusOK, map[string]any{"cross_tenant": setting, "tenants_visible": unfiltered})
			})
			h := withTokens(t, a, a.compose(mux))
			acme, _ := lookup(t, a, "acme")
			globex, _ := lookup(t, a, "globex")
			ids := map[string]int64{"acme": numericID(t, acme), "globex": numericID(t, globex)}

			var wg sync.WaitGroup
			errs := make(chan error, 1000)
			for g := range 6 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range 12 {
						switch (g + i) % 3 {
						case 0:
							r := get(t, h, "http://localhost/admin/api/tenants", "Authorization", "Bearer "+token)
							var body struct{ Data []TenantSummary }
							if r.Status != http.StatusOK {
								errs <- fmt.Errorf("admin: %d %s", r.Status, r.Body)
								continue
							}
							if err := json.Unmarshal(r.Body, &body); err != nil || len(body.Data) != 4 {
								errs <- fmt.Errorf("admin sees %d tenants, want 4", len(body.Data))
							}
						case 1:
							slug := [...]string{"acme", "globex"}[i%2]
							r := get(t, h, "http://"+slug+".localhost/api/properties?per_page=100")
							var l list
							if r.Status != http.StatusOK {
								errs <- fmt.Errorf("%s: %d %s", slug, r.Status, r.Body)
								continue
							}
							if err := json.Unmarshal(r.Body, &l); err != nil {
								errs <- err
								continue
							}
							for _, p := range l.Data {
								if p.tenantID() != ids[slug] {
									errs <- fmt.Errorf("%s saw property %d of tenant %d", slug, p.id(), p.tenantID())
								}
							}
						default:
							r := get(t, h, "http://localhost/t/globex/api/test/probe")
							var p struct {
								CrossTenant    string `json:"cross_tenant"`
								TenantsVisible int    `json:"tenants_visible"`
							}
							if r.Status != http.StatusOK {
								errs <- fmt.Errorf("probe: %d %s", r.Status, r.Body)
								continue
							}
							if err := json.Unmarshal(r.Body, &p); err != nil {
								errs <- err
								continue
							}
							if p.CrossTenant == "on" || p.TenantsVisible != 1 {
								errs <- fmt.Errorf("system mode leaked: %+v", p)
							}
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			var all []error
			for err := range errs {
				all = append(all, err)
			}
			require.NoError(t, errors.Join(all...))

			// Without the token, or with a wrong one, the admin route refuses.
			r := get(t, h, "http://localhost/admin/api/tenants")
			assert.Equal(t, http.StatusUnauthorized, r.Status)
			r = get(t, h, "http://localhost/admin/api/tenants", "Authorization", "Bearer wrong")
			assert.Equal(t, http.StatusUnauthorized, r.Status)
		})
	}
}
