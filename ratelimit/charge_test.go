package ratelimit_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tenantkit/tenantkit/ratelimit"
)

// authHandler answers 401 unless the bearer token is "good".
var authHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer good" {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	_, _ = w.Write([]byte("ok"))
})

func TestChargeFailedAuthenticationsPerIP(t *testing.T) {
	reached := 0
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached++
		authHandler.ServeHTTP(w, r)
	})
	h := newHarness(t, ratelimit.DefaultPlanSet(), &ratelimit.Options{
		KeyBy: ratelimit.ByClientIP,
		Charge: func(status int, _ http.Header) bool {
			return status == http.StatusUnauthorized || status == http.StatusForbidden
		},
	})
	srv := h.limiter.Handler(inner)
	do := func(token, addr string) *httptest.ResponseRecorder {
		r := tenantReq("acme", "enterprise")
		r.RemoteAddr = addr
		r.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		return w
	}
	// Successful requests are not charged, however many.
	for range 50 {
		w := do("good", "192.0.2.1:1")
		require.Equal(t, http.StatusOK, w.Code)
		require.Equal(t, `"guest";q=10;w=60`, w.Header().Get("RateLimit-Policy"))
		require.Empty(t, w.Header().Get("RateLimit"), "uncharged responses claim no state")
	}
	// Guessing: 10 failures per minute per IP reach the handler; the 10th
	// takes the IP's last unit, so the 11th request is refused before the
	// handler.
	for i := range 10 {
		w := do("guess", "192.0.2.1:1")
		require.Equal(t, http.StatusUnauthorized, w.Code, "guess %d", i+1)
		rateHeaders(t, w)
	}
	before := reached
	w := do("guess", "192.0.2.1:1")
	require.Equal(t, http.StatusTooManyRequests, w.Code, "the 11th failure does not reach the handler")
	require.Equal(t, "6", w.Header().Get("Retry-After"))
	require.Equal(t, `"guest";r=0;t=6`, w.Header().Get("RateLimit"))
	h.clock.Advance(2 * time.Second)
	w = do("good", "192.0.2.1:1")
	require.Equal(t, http.StatusTooManyRequests, w.Code, "a refused IP does not reach the token check, even with a valid token")
	require.Equal(t, "4", w.Header().Get("Retry-After"))
	require.Equal(t, before, reached)
	require.Equal(t, http.StatusUnauthorized, do("guess", "192.0.2.2:1").Code, "another IP still reaches the check")
	before = reached

	// At Retry-After one unit is back: one failure reaches the handler,
	// takes it, and the IP is refused again; the handler sees exactly the
	// rate, never a request the limit would deny.
	h.clock.Advance(4 * time.Second)
	require.Equal(t, http.StatusUnauthorized, do("guess", "192.0.2.1:1").Code)
	require.Equal(t, http.StatusTooManyRequests, do("good", "192.0.2.1:1").Code)
	require.Equal(t, before+1, reached)
	for range 20 { // two minutes of one guess a second: 20 reach the handler
		h.clock.Advance(6 * time.Second)
		for range 6 {
			do("guess", "192.0.2.1:1")
		}
	}
	require.Equal(t, before+21, reached, "10 per minute reach the handler")
	h.clock.Advance(6 * time.Second)
	require.Equal(t, http.StatusOK, do("good", "192.0.2.1:1").Code)
	// Every refusal was logged once; no charge was denied.
	require.Equal(t, 3+20*5, strings.Count(h.logs.String(), `"msg":"rate limit exceeded"`))
}

func TestByClientIPIgnoresTenant(t *testing.T) {
	h := newHarness(t, ratelimit.DefaultPlanSet(), &ratelimit.Options{KeyBy: ratelimit.ByClientIP})
	for i := range 10 {
		w := h.do(tenantReq("t"+string(rune('a'+i)), "enterprise"))
		require.Equal(t, http.StatusOK, w.Code)
		require.Equal(t, `"guest";q=10;w=60`, w.Header().Get("RateLimit-Policy"))
	}
	require.Equal(t, http.StatusTooManyRequests, h.do(tenantReq("other", "enterprise")).Code, "one budget per IP across tenants")
}
