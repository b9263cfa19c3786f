package monitor

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tenantkit/tenantkit/tenant"
)

// dashFixture: tenant A (visible to the scoped viewer) and tenant B, whose
// id, name, slug and numbers must never reach A's viewer.
type dashFixture struct {
	clk   *fakeClock
	src   *fakeSource
	rec   *Recorder
	m     *Monitor
	al    *Alerter
	srv   *httptest.Server
	mux   http.Handler
	token map[string]Viewer
}

const (
	bID      = "tenant-bravo-b7"
	bName    = "Bravo Secret Corp"
	bSlug    = "bravo-slug-x9"
	bStorage = 987654321
)

func newDashFixture(t testing.TB) *dashFixture {
	t.Helper()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	clk := newFakeClock(now.Add(-48 * time.Hour))
	rec := NewRecorder(&RecorderOptions{Now: clk.Now})
	clk.Set(now)
	src := newFakeSource()
	src.add("tenant-alpha-a1", "Alpha Co", activeUsage(now))
	bu := activeUsage(now)
	bu.StorageBytes, bu.StorageQuotaBytes = bStorage, bStorage+1
	bu.Subscription.Active = false
	bu.Users, bu.MaxUsers = 31337, 40000
	src.mu.Lock()
	src.tenants = append(src.tenants, tenant.Tenant{ID: bID, Slug: bSlug, Name: bName, Plan: "enterprise", Status: tenant.StatusActive})
	src.usage[bID] = bu
	src.mu.Unlock()
	src.add("tenant-idle-c3", "Idle Co", activeUsage(now))
	for i := range 77 {
		rec.Record("tenant-alpha-a1", now.Add(-time.Duration(i)*time.Minute), 40*time.Millisecond, i%10 == 0)
	}
	for range 4243 {
		rec.Record(bID, now.Add(-time.Hour), 3*time.Second, true)
	}
	for i := range 5 {
		src.history["tenant-alpha-a1"] = append(src.history["tenant-alpha-a1"], Sample{At: now.AddDate(0, 0, -i), Metric: MetricStorage, Value: float64(100 + i)})
	}
	src.history[bID] = []Sample{{At: now, Metric: MetricStorage, Value: bStorage}}
	src.attempts = []AccessAttempt{
		{At: now.Add(-time.Hour), Source: bID, Target: "tenant-alpha-a1", Reason: "tenant_mismatch"},
		{At: now.Add(-time.Hour), Source: "tenant-alpha-a1", Target: bID, Reason: "tenant_mismatch"},
		{At: now.Add(-time.Hour), Source: bID, Target: "tenant-idle-c3", Reason: "tenant_mismatch"},
	}
	m := New(src, rec, nil)
	al, err := NewAlerter(m, nil, nil)
	require.NoError(t, err)
	require.NoError(t, al.Evaluate(t.Context()))
	require.NotEmpty(t, al.Recent(bID), "B has a firing alert")
	f := &dashFixture{clk: clk, src: src, rec: rec, m: m, al: al, token: map[string]Viewer{
		"admin": {Name: "admin", All: true},
		"alpha": {Name: "alpha-admin", Tenants: []tenant.ID{"tenant-alpha-a1"}},
		"none":  {Name: "nobody"},
	}}
	auth := AuthorizerFunc(func(r *http.Request) (Viewer, error) {
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if tok == "" {
			return Viewer{}, ErrUnauthenticated
		}
		v, ok := f.token[tok]
		if !ok {
			return Viewer{}, errors.New("unknown token")
		}
		return v, nil
	})
	d, err := NewDashboard(m, auth, &DashboardOptions{Alerter: al, Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/admin/monitor/", http.StripPrefix("/admin/monitor", d))
	f.mux = mux
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *dashFixture) get(t *testing.T, token, path string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, f.srv.URL+"/admin/monitor"+path, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b), resp.Header
}

func TestDashboardRequiresAuthorizer(t *testing.T) {
	m := New(newFakeSource(), nil, nil)
	d, err := NewDashboard(m, nil, nil)
	require.ErrorIs(t, err, ErrNoAuthorizer)
	require.Nil(t, d)
	_, err = NewDashboard(m, AuthorizerFunc(nil), nil)
	require.ErrorIs(t, err, ErrNoAuthorizer)
	_, err = NewDashboard(m, AuthorizerFunc(func(*http.Request) (Viewer, error) { return Viewer{All: true}, nil }), nil)
	require.NoError(t, err)
}

func TestDashboardAuthFailures(t *testing.T) {
	f := newDashFixture(t)
	code, body, h := f.get(t, "", "/api/tenants")
	require.Equal(t, http.StatusUnauthorized, code)
	require.Contains(t, h.Get("WWW-Authenticate"), "Bearer")
	require.NotContains(t, body, "Alpha")
	code, _, _ = f.get(t, "forged", "/")
	require.Equal(t, http.StatusForbidden, code)
	code, _, _ = f.get(t, "none", "/api/summary")
	require.Equal(t, http.StatusForbidden, code, "a viewer with an empty scope sees nothing")
}

var dashEndpoints = []string{
	"/", "/tenants/tenant-alpha-a1", "/api/summary", "/api/tenants", "/api/tenants?at_risk=true",
	"/api/tenants?page=2&per_page=1", "/api/at-risk", "/api/tenants/tenant-alpha-a1",
	"/api/tenants/tenant-alpha-a1/trends?days=7", "/api/access-attempts", "/api/alerts",
	"/static/dashboard.js", "/static/dashboard.css",
}

func TestDashboardScopedViewerNeverSeesOtherTenant(t *testing.T) {
	f := newDashFixture(t)
	forbidden := []string{bID, bName, bSlug, "987654321", "31337", "4243", "enterprise", "tenant-idle-c3", "Idle Co"}
	for _, ep := range append(dashEndpoints, "/tenants/"+bID, "/api/tenants/"+bID, "/api/tenants/"+bID+"/trends") {
		code, body, h := f.get(t, "alpha", ep)
		for _, s := range forbidden {
			require.NotContains(t, body, s, "endpoint %s leaks %q", ep, s)
		}
		if strings.Contains(ep, bID) {
			require.Equal(t, http.StatusNotFound, code, ep)
			continue
		}
		require.Equal(t, http.StatusOK, code, ep)
		require.NotEmpty(t, h.Get("Content-Security-Policy"))
	}
	// The alpha viewer does see its own tenant, and that someone tried it.
	_, body, _ := f.get(t, "alpha", "/api/access-attempts")
	var groups []AccessGroup
	require.NoError(t, json.Unmarshal([]byte(body), &groups))
	require.Len(t, groups, 2)
	for _, g := range groups {
		require.True(t, g.Source == "tenant-alpha-a1" || g.Target == "tenant-alpha-a1")
		require.True(t, g.Source == "" || g.Target == "", "the other side is blanked")
	}
	_, body, _ = f.get(t, "alpha", "/api/summary")
	var s Summary
	require.NoError(t, json.Unmarshal([]byte(body), &s))
	require.Equal(t, 1, s.Tenants)
	require.Nil(t, s.Recorder, "process-wide figures only for viewers who see all")
	own := 0
	for _, a := range f.al.Active() {
		if a.TenantID == "tenant-alpha-a1" {
			own++
		}
	}
	require.Less(t, own, len(f.al.Active()), "B has active alerts too")
	require.Equal(t, own, s.ActiveAlerts, "only alpha's alerts are counted")
	_, body, _ = f.get(t, "alpha", "/tenants/tenant-alpha-a1")
	require.Contains(t, body, "another tenant", "attempts from hidden tenants show without their id")
	// Unknown tenants and hidden tenants look the same.
	code1, body1, _ := f.get(t, "alpha", "/api/tenants/"+bID)
	code2, body2, _ := f.get(t, "alpha", "/api/tenants/does-not-exist")
	require.Equal(t, code1, code2)
	require.Equal(t, body1, body2)
}

var nullList = regexp.MustCompile(`"(items|contributions|issues|reasons|active_alerts|recent_alerts|access_attempts|active|recent|dates|hourly_requests)":\s*null`)

func TestDashboardJSONAllTenantsNoNullListsNoNaN(t *testing.T) {
	f := newDashFixture(t)
	for _, ep := range append(dashEndpoints, "/tenants/"+bID, "/api/tenants/"+bID, "/api/tenants/tenant-idle-c3", "/tenants/tenant-idle-c3") {
		code, body, _ := f.get(t, "admin", ep)
		require.Equal(t, http.StatusOK, code, ep)
		require.NotContains(t, body, "NaN", ep)
		require.False(t, nullList.MatchString(body), "%s has a null list: %s", ep, nullList.FindString(body))
		if strings.Contains(ep, "/api/") {
			require.True(t, json.Valid([]byte(body)), ep)
		}
	}
	_, body, _ := f.get(t, "admin", "/api/tenants")
	var p Page[Health]
	require.NoError(t, json.Unmarshal([]byte(body), &p))
	require.Equal(t, 3, p.Total)
	ids := map[tenant.ID]Health{}
	for _, h := range p.Items {
		ids[h.ID()] = h
	}
	require.Contains(t, ids, tenant.ID("tenant-idle-c3"), "the idle tenant is encoded")
	require.True(t, ids["tenant-idle-c3"].Result.InsufficientData)
	require.Equal(t, tenant.ID(bID), p.Items[0].ID(), "at risk first")

	_, body, _ = f.get(t, "admin", "/api/summary")
	var s Summary
	require.NoError(t, json.Unmarshal([]byte(body), &s))
	require.NotNil(t, s.Recorder)
	require.Equal(t, 3, s.Tenants)
	require.Equal(t, 3, s.AccessAttempts)

	// Empty lists are [] for a viewer of a tenant with nothing.
	f.token["idle"] = Viewer{Name: "idle", Tenants: []tenant.ID{"tenant-idle-c3"}}
	_, body, _ = f.get(t, "idle", "/api/alerts")
	require.JSONEq(t, `{"active":[],"recent":[]}`, body)
	_, body, _ = f.get(t, "idle", "/api/at-risk")
	require.Contains(t, body, `"items": []`)

	_, body, _ = f.get(t, "admin", "/api/tenants/tenant-idle-c3/trends?days=3")
	var tr Trends
	require.NoError(t, json.Unmarshal([]byte(body), &tr))
	require.Len(t, tr.Dates, 3)
	for _, series := range [][]Value{tr.Storage, tr.APICalls, tr.Users, tr.LatencyP95MS} {
		require.Len(t, series, 3)
	}
	require.Contains(t, body, "\"users\": [\n    null,", "gaps are null, not 0")

	code, _, _ := f.get(t, "admin", "/api/tenants/tenant-alpha-a1/trends?days=0")
	require.Equal(t, http.StatusBadRequest, code)
	code, _, _ = f.get(t, "admin", "/static/index.html")
	require.Equal(t, http.StatusNotFound, code, "templates are not served raw")
}

func TestDashboardPagesRender(t *testing.T) {
	f := newDashFixture(t)
	code, body, h := f.get(t, "admin", "/")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, h.Get("Content-Type"), "text/html")
	require.Contains(t, body, `<svg class="spark"`)
	require.Less(t, strings.Index(body, bID), strings.Index(body, "tenant-alpha-a1"), "at-risk B renders first")
	require.NotContains(t, body, "cdn")
	require.NotContains(t, body, "http://")
	code, body, _ = f.get(t, "admin", "/tenants/tenant-alpha-a1")
	require.Equal(t, http.StatusOK, code)
	for _, s := range []string{"Rule contributions", CodeErrorRate, "Trends", "<polyline", bID} {
		require.Contains(t, body, s)
	}
	code, body, _ = f.get(t, "admin", "/tenants/"+bID)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "subscription_inactive")
	require.Contains(t, body, "firing")
}

func TestSparklineGaps(t *testing.T) {
	svg := string(sparkline([]Value{Some(1), Some(2), {}, Some(3), {}, Some(4), Some(5)}, `a"b`))
	require.Equal(t, 2, strings.Count(svg, "<polyline"), "a gap breaks the line")
	require.Equal(t, 1, strings.Count(svg, "<circle"), "a lone point between gaps is a dot")
	require.Contains(t, svg, `aria-label="a&#34;b"`)
	require.Contains(t, string(sparkline([]Value{{}, {}}, "x")), "no data")
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}
