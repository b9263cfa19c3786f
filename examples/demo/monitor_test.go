package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tenantkit/tenantkit/monitor"
)

// TestMonitorWiring: traffic sent to the demo shows in its dashboard, the
// dashboard needs the admin token, cross-tenant refusals appear as access
// attempts, and `demo health --server` agrees with the dashboard.
func TestMonitorWiring(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		db := b.db(t)
		a := openApp(t, Config{DB: db, AdminToken: "adm1n"})
		h := a.Handler()
		tok, _ := mintToken(t, a, "acme", demoScopes...)
		for range 25 {
			r := get(t, h, "http://localhost/t/acme/api/properties", "Authorization", "Bearer "+tok)
			require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		}
		for range 2 {
			r := get(t, h, "http://localhost/t/globex/api/properties", "Authorization", "Bearer "+tok)
			require.Equal(t, http.StatusForbidden, r.Status)
		}

		require.Equal(t, http.StatusUnauthorized, get(t, h, "http://localhost/admin/monitor/api/tenants").Status)
		require.Equal(t, http.StatusUnauthorized, get(t, h, "http://localhost/admin/monitor/", "Authorization", "Bearer wrong").Status)
		require.Equal(t, http.StatusUnauthorized, get(t, h, "http://localhost/admin/monitor/", "Authorization", "Bearer "+tok).Status,
			"a tenant token is not an admin credential")

		r := get(t, h, "http://localhost/admin/monitor/api/tenants?per_page=500", "Authorization", "Bearer adm1n")
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		var page monitor.Page[monitor.Health]
		r.json(t, &page)
		require.Equal(t, len(page.Items), page.Total)
		bySlug := map[string]monitor.Health{}
		for _, hh := range page.Items {
			bySlug[hh.Snapshot.Tenant.Slug] = hh
		}
		acme := bySlug["acme"]
		require.Equal(t, uint64(25), acme.Snapshot.Requests, "the dashboard reflects the traffic sent")
		require.Equal(t, int64(25), acme.Snapshot.APICallsToday)
		require.True(t, acme.Snapshot.APICallsFromRecorder)
		require.Positive(t, acme.Snapshot.Users)
		require.True(t, acme.Snapshot.StoragePercent.Valid)
		require.Zero(t, bySlug["globex"].Snapshot.Requests, "refused requests are not globex's traffic")
		require.Equal(t, monitor.OutcomePass, contribution(acme, monitor.CodeErrorRate).Outcome)

		r = get(t, h, "http://localhost/admin/monitor/api/access-attempts", "Authorization", "Bearer adm1n")
		var groups []monitor.AccessGroup
		r.json(t, &groups)
		found := false
		for _, g := range groups {
			if g.Source == acme.ID() && g.Target == bySlug["globex"].ID() {
				found = true
				require.Equal(t, 2, g.Count)
			}
		}
		require.True(t, found, "acme's token on globex is an access attempt: %+v", groups)

		// A browser: the token once in the URL, then a cookie.
		r = get(t, h, "http://localhost/admin/monitor/?token=adm1n")
		require.Equal(t, http.StatusSeeOther, r.Status)
		cookie := r.Header.Get("Set-Cookie")
		require.Contains(t, cookie, "HttpOnly")
		require.Equal(t, http.StatusOK, get(t, h, "http://localhost/admin/monitor/", "Cookie", strings.Split(cookie, ";")[0]).Status)
		require.Equal(t, http.StatusUnauthorized, get(t, h, "http://localhost/admin/monitor/?token=wrong").Status)

		page1 := get(t, h, "http://localhost/admin/monitor/", "Authorization", "Bearer adm1n")
		require.Equal(t, http.StatusOK, page1.Status)
		require.Contains(t, string(page1.Body), `<table id="tenants">`)

		// The CLI, asking the running server, prints the same figures.
		srv := httptest.NewServer(h)
		defer srv.Close()
		var out, errOut syncBuffer
		code := run(t.Context(), &env{Stdout: &out, Stderr: &errOut, Getenv: func(k string) string {
			if k == "TENANTKIT_ADMIN_TOKEN" {
				return "adm1n"
			}
			return ""
		}}, []string{"health", "--server", srv.URL, "--tenant", "acme", "--json"})
		require.Equal(t, 0, code, errOut.String())
		var cli monitor.Health
		require.NoError(t, json.Unmarshal([]byte(out.String()), &cli))
		require.Equal(t, acme.Snapshot.Requests, cli.Snapshot.Requests)
		require.Equal(t, acme.Result.Score, cli.Result.Score)

		// Straight from the database: no traffic, the same usage figures.
		code, stdout, stderr := runCLI(t, t.Context(), "health", "--db", db)
		require.Equal(t, 0, code, stderr)
		require.Contains(t, stdout, "TENANT")
		require.Contains(t, stdout, "acme")
		code, stdout, stderr = runCLI(t, t.Context(), "health", "--db", db, "--tenant", "acme", "--json")
		require.Equal(t, 0, code, stderr)
		var local monitor.Health
		require.NoError(t, json.Unmarshal([]byte(stdout), &local))
		require.Equal(t, acme.Snapshot.StorageBytes, local.Snapshot.StorageBytes)
		require.Equal(t, acme.Snapshot.Users, local.Snapshot.Users)
		require.Equal(t, acme.Snapshot.Subscription.Status, local.Snapshot.Subscription.Status)
		code, _, stderr = runCLI(t, t.Context(), "health", "--db", db, "--tenant", "nosuch")
		require.Equal(t, 1, code)
		require.Contains(t, stderr, `no tenant with slug "nosuch"`)
	})
}

func TestMonitorDashboardOffWithoutAdminToken(t *testing.T) {
	a := openApp(t, Config{DB: allBackends[0].db(t)})
	r := get(t, a.Handler(), "http://localhost/admin/monitor/api/summary", "Authorization", "Bearer x")
	require.NotEqual(t, http.StatusOK, r.Status)
	require.False(t, strings.Contains(string(r.Body), "tenants"))
}

func TestTokenTenantFromNotes(t *testing.T) {
	require.Equal(t, "7", string(tokenTenantFromNotes("token abc of tenant 7 presented for tenant 3: GET /api/x")))
	for _, bad := range []string{"", "of tenant", "token x of tenant  presented", "token x of tenant 7 8 presented", "free text"} {
		require.Empty(t, tokenTenantFromNotes(bad), bad)
	}
}

func contribution(h monitor.Health, code string) monitor.Contribution {
	for _, c := range h.Result.Contributions {
		if c.Code == code {
			return c
		}
	}
	return monitor.Contribution{}
}

// TestRunAlertsEvaluatesUntilCancelled: serve's alert loop evaluates at
// once, keeps the dashboard from evaluating on views while it runs, and
// returns nil when its context ends.
func TestRunAlertsEvaluatesUntilCancelled(t *testing.T) {
	a := openApp(t, Config{DB: filepath.Join(t.TempDir(), "demo.db"), AdminToken: "adm1n"})
	require.ErrorContains(t, a.RunAlerts(t.Context()), "before Handler")

	a.Handler()
	p := a.monitor.Load()
	_, before := p.mon.LastEvaluation()
	require.True(t, before.IsZero(), "nothing evaluated yet")

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.RunAlerts(ctx) }()
	require.Eventually(t, func() bool {
		_, at := p.mon.LastEvaluation()
		return !at.IsZero()
	}, 30*time.Second, 10*time.Millisecond, "the loop evaluates when it starts")
	require.True(t, p.looping.Load())
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("RunAlerts did not return after its context ended")
	}
	require.False(t, p.looping.Load(), "views evaluate again once the loop is gone")
}
