package main

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

// The ?token= login over TLS sets a Secure, HttpOnly, SameSite=Strict
// cookie scoped to the dashboard and redirects to a URL without the token.
func TestMonitorTokenCookieSecureOverTLS(t *testing.T) {
	a := openApp(t, Config{DB: allBackends[0].db(t), AdminToken: "adm1n"})
	h := a.Handler()

	req := httptest.NewRequest(http.MethodGet, "https://localhost/admin/monitor/?token=adm1n&x=1", nil)
	require.NotNil(t, req.TLS)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	require.Equal(t, http.StatusSeeOther, w.Code)
	require.Equal(t, "/admin/monitor/", w.Header().Get("Location"))
	cs := w.Result().Cookies()
	require.Len(t, cs, 1)
	c := cs[0]
	require.True(t, c.Secure, "a cookie set over TLS is Secure")
	require.True(t, c.HttpOnly)
	require.Equal(t, http.SameSiteStrictMode, c.SameSite)
	require.Equal(t, "/admin/monitor/", c.Path)

	// Plain HTTP (the local demo): the cookie still works, without Secure.
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "http://localhost/admin/monitor/?token=adm1n", nil))
	require.Equal(t, http.StatusSeeOther, w.Code)
	require.False(t, w.Result().Cookies()[0].Secure)
}

// An unauthenticated request to the dashboard must not trigger an alert
// evaluation (a query of every tenant's usage): only a viewer's request may.
func TestMonitorEvaluationOnlyForAuthenticatedViewers(t *testing.T) {
	var logs syncBuffer
	a := openApp(t, Config{DB: allBackends[0].db(t), AdminToken: "adm1n",
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	h := a.Handler()
	for _, hdr := range [][]string{nil, {"Authorization", "Bearer wrong"}} {
		r := get(t, h, "http://localhost/admin/monitor/api/summary", hdr...)
		require.Equal(t, http.StatusUnauthorized, r.Status)
	}
	require.NotContains(t, logs.String(), "tenant alert", "no evaluation for an unauthenticated request")
	r := get(t, h, "http://localhost/admin/monitor/api/summary", "Authorization", "Bearer adm1n")
	require.Equal(t, http.StatusOK, r.Status)
	require.Contains(t, logs.String(), "tenant alert", "an admin's request evaluates alerts")
}
