package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCrossTenantAuditSurvivesDisconnect: a client that sends a cross-tenant
// request and hangs up at once (its request context is canceled) is still
// refused and still written to audit_logs; closing the connection must not
// be a way to leave no trace.
func TestCrossTenantAuditSurvivesDisconnect(t *testing.T) {
	a := openApp(t, Config{DB: allBackends[0].db(t)})
	h := a.Handler()
	acmeTok, _ := mintToken(t, a, "acme", demoScopes...)
	_, globex := lookup(t, a, "globex")
	// The token is verified (and cached) by an ordinary request of acme.
	require.Equal(t, http.StatusOK, get(t, h, "http://acme.localhost/api/tenant", bearer(acmeTok)...).Status)

	before, err := a.AuditCount(globex, "cross_tenant_access_denied")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	cancel() // the client is gone
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, "http://globex.localhost/api/invoices", nil)
	req.Header.Set("Authorization", "Bearer "+acmeTok)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusForbidden, rec.Code, rec.Body.String())
	after, err := a.AuditCount(globex, "cross_tenant_access_denied")
	require.NoError(t, err)
	require.Equal(t, before+1, after, "the attempt is in audit_logs although the client hung up")
}
