package main

import (
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
