package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/tenantkit/tenantkit/internal/testenv"
	"github.com/tenantkit/tenantkit/tenant"
)

// TestPlanLimitAndQuotaHeaders: initech is on the basic plan (100/min) with
// 10,000 API calls per day. The 101st request in a minute is refused with
// the headers of the plan and of the daily quota.
func TestPlanLimitAndQuotaHeaders(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		a := openApp(t, Config{DB: b.db(t)})
		h := a.Handler()
		tok, _ := mintToken(t, a, "initech", demoScopes...)
		url := "http://initech.localhost/api/properties"
		// Send until refused: at least the burst of 100 is admitted (more
		// only if the loop outlasts the 0.6 s a unit takes to come back).
		admitted := 0
		var r response
		for range 400 {
			r = get(t, h, url, bearer(tok)...)
			if r.Status != http.StatusOK {
				break
			}
			admitted++
			require.Equal(t, `"basic";q=100;w=60, "api_calls/day";q=10000;w=86400`, r.Header.Get("RateLimit-Policy"))
			rl := r.Header.Get("RateLimit")
			require.True(t, strings.HasPrefix(rl, `"basic";r=`+r.Header.Get("X-RateLimit-Remaining")+";t="), "RateLimit %s", rl)
			require.Contains(t, rl, `, "api_calls/day";r=`+strconv.Itoa(10_000-admitted)+";t=", "the daily quota counts every admitted call")
		}
		require.GreaterOrEqual(t, admitted, 100)
		require.Equal(t, http.StatusTooManyRequests, r.Status, "%s", r.Body)
		require.Equal(t, "1", r.Header.Get("Retry-After"), "one unit of 100/min comes back in 0.6 s")
		require.JSONEq(t, `{"error":"rate limit exceeded","retry_after":1}`, string(r.Body))
		require.Equal(t, "100", r.Header.Get("X-RateLimit-Limit"))

		// Another tenant has its own budget.
		other, _ := mintToken(t, a, "acme", demoScopes...)
		require.Equal(t, http.StatusOK, get(t, h, "http://acme.localhost/api/properties", bearer(other)...).Status)
	})
}

// TestTokenGuessingThrottledPerIP: bad credentials are charged to the
// client IP (burst 30, then 10/min); once its budget is spent, the IP gets
// 429 before the token check, even with a valid token: the 31st guess
// never reaches the check.
func TestTokenGuessingThrottledPerIP(t *testing.T) {
	a := openApp(t, Config{DB: allBackends[0].db(t)})
	h := a.Handler()
	tok, _ := mintToken(t, a, "initech", demoScopes...)
	url := "http://initech.localhost/api/tenant"
	// Requests without a token are not guesses and are not charged.
	for range 40 {
		require.Equal(t, http.StatusUnauthorized, get(t, h, url).Status)
	}
	guess := bearer("aaaaaaaaaaaaaaaa|" + strings.Repeat("B", 43))
	for i := range 30 {
		r := get(t, h, url, guess...)
		require.Equal(t, http.StatusUnauthorized, r.Status, "guess %d reaches the token check", i+1)
	}
	r := get(t, h, url, guess...)
	require.Equal(t, http.StatusTooManyRequests, r.Status, "guess 31 is refused before the token check")
	r = get(t, h, url, bearer(tok)...)
	require.Equal(t, http.StatusTooManyRequests, r.Status, "the IP is refused before the token check")
	require.Equal(t, `"guest";q=10;w=60`, r.Header.Get("RateLimit-Policy"))
	require.Equal(t, "6", r.Header.Get("Retry-After"))
}

// TestPlanLimitOnRedis: with Config.Redis (--redis) the plan limit and the
// daily quota live in Redis, shared by two servers over one database: the
// basic plan's 100/min budget is spent across both, and the counters are
// Redis keys under the configured prefix.
func TestPlanLimitOnRedis(t *testing.T) {
	addr := testenv.Redis(t)
	prefix := testenv.Name("demo") + ":"
	db := allBackends[0].db(t)
	a := openApp(t, Config{DB: db, Redis: addr, RedisPrefix: prefix})
	b := openApp(t, Config{DB: db, Redis: addr, RedisPrefix: prefix})
	rc := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() {
		keys, _ := rc.Keys(context.Background(), prefix+"*").Result()
		if len(keys) > 0 {
			rc.Del(context.Background(), keys...)
		}
		rc.Close()
	})
	tok, _ := mintToken(t, a, "initech", demoScopes...)
	url := "http://initech.localhost/api/tenant"
	admitted := 0
	for i := range 300 {
		h := a.Handler()
		if i%2 == 1 {
			h = b.Handler()
		}
		r := get(t, h, url, bearer(tok)...)
		if r.Status == http.StatusTooManyRequests {
			break
		}
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		admitted++
	}
	require.GreaterOrEqual(t, admitted, 100)
	require.Less(t, admitted, 150, "two servers share one budget of 100/min, not 200")
	keys, err := rc.Keys(t.Context(), prefix+"*").Result()
	require.NoError(t, err)
	require.NotEmpty(t, keys, "limits and quotas are kept in Redis")
}

// TestGuestLimitBehindTrustedProxy: with --trusted-proxy naming the proxy
// the connections come from, guesses are charged to the client in
// X-Forwarded-For, so clients behind one proxy do not share a budget and a
// client cannot escape its own by writing hops to the left.
func TestGuestLimitBehindTrustedProxy(t *testing.T) {
	proxy := netip.MustParsePrefix("192.0.2.0/24") // httptest's RemoteAddr is 192.0.2.1
	a := openApp(t, Config{DB: allBackends[0].db(t), TrustedProxies: []netip.Prefix{proxy}})
	h := a.Handler()
	tok, _ := mintToken(t, a, "initech", demoScopes...)
	url := "http://initech.localhost/api/tenant"
	guess := bearer("aaaaaaaaaaaaaaaa|" + strings.Repeat("B", 43))
	for i := range 30 {
		// The client forges a different left-most hop every time; the
		// proxy appends the address it saw.
		xff := fmt.Sprintf("10.9.%d.%d, 198.51.100.9", i/200, i%200)
		r := get(t, h, url, append(guess, "X-Forwarded-For", xff)...)
		require.Equal(t, http.StatusUnauthorized, r.Status, "guess %d reaches the token check", i+1)
	}
	r := get(t, h, url, append(bearer(tok), "X-Forwarded-For", "10.0.0.1, 198.51.100.9")...)
	require.Equal(t, http.StatusTooManyRequests, r.Status, "198.51.100.9 is refused whatever it forges")
	r = get(t, h, url, append(bearer(tok), "X-Forwarded-For", "198.51.100.10")...)
	require.Equal(t, http.StatusOK, r.Status, "another client behind the same proxy has its own budget: %s", r.Body)

	// A cross-tenant attempt is logged with the same client.
	r = get(t, h, "http://acme.localhost/api/tenant", append(bearer(tok), "X-Forwarded-For", "203.0.113.50")...)
	require.Equal(t, http.StatusForbidden, r.Status)
	var ip string
	require.NoError(t, a.DB.SystemTx(tenant.WithSystem(t.Context()), func(tx *sql.Tx) error {
		return tx.QueryRowContext(t.Context(), a.q(
			`SELECT ip FROM audit_logs WHERE action = 'cross_tenant_access_denied' ORDER BY id DESC LIMIT 1`)).Scan(&ip)
	}))
	require.Equal(t, "203.0.113.50", ip)
}
