package main

import (
	"context"
	"database/sql"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tenantkit/tenantkit/ratelimit"
	"github.com/tenantkit/tenantkit/ratelimit/redisstore"
	"github.com/tenantkit/tenantkit/tenant"
)

// rateLimitRedisEnv is the default of --redis: the Redis (host:port, or a
// comma-separated list of cluster nodes) that holds the demo's rate limits
// and quotas, shared by every server process. Unset: each process keeps
// them in memory.
const rateLimitRedisEnv = "TENANTKIT_REDIS"

// quotaCacheTTL bounds how long a changed organizations.api_calls_per_day
// takes to apply to a running server.
const quotaCacheTTL = time.Minute

// rateLimitStore returns the one store both limiters decide on: Redis when
// Config.Redis is set (one round trip per decision; while Redis is away
// each process decides locally and marks decisions degraded), else an
// in-memory store.
func (a *App) rateLimitStore() ratelimit.Store {
	a.limitsOnce.Do(func() {
		addr := strings.TrimSpace(a.Config.Redis)
		if addr == "" {
			a.limits = ratelimit.NewMemory(nil)
			return
		}
		c := redis.NewUniversalClient(&redis.UniversalOptions{
			Addrs:                 strings.Split(addr, ","),
			ContextTimeoutEnabled: true,
			MaxRetries:            1,
		})
		a.Logger.LogAttrs(context.Background(), slog.LevelInfo, "rate limits on redis", slog.String("addr", addr))
		a.limits = redisstore.New(c, &redisstore.Options{Prefix: a.Config.RedisPrefix, FailPolicy: redisstore.FailLocal, Logger: a.Logger})
		a.limitsClose = c.Close
	})
	return a.limits
}

// guestLimit is the limiter in front of the token check. Every request is
// a guest there (its token is not verified yet), so it is keyed by client
// IP with the guest limit, and only presented credentials that fail (401
// with error="invalid_token": malformed, unknown, expired or revoked; 403
// with error="tenant_mismatch": a token of another tenant) are charged:
// token guessing and cross-tenant probing are throttled per IP, and once
// an IP is refused it does not reach the token check until Retry-After,
// valid token or not.
// The guest limit is 10/min with a burst of 30, so a client fumbling its
// token a few times is not locked out. Authenticated traffic is limited by
// plan further in.
func (a *App) guestLimit(next http.Handler) http.Handler {
	set := ratelimit.DefaultPlanSet()
	set.Guest.Burst = 30
	plans, err := ratelimit.NewPlans(set)
	if err != nil {
		panic(err) // the limits are constants
	}
	l := ratelimit.New(a.rateLimitStore(), plans, &ratelimit.Options{
		KeyBy:    ratelimit.ByClientIP,
		ClientIP: a.clientIP(),
		Charge:   badCredential,
		Logger:   a.Logger,
	})
	return l.Handler(next)
}

// clientIP finds a request's client: the connection's address, or behind
// a trusted proxy (Config.TrustedProxies) the right-most untrusted
// X-Forwarded-For hop.
func (a *App) clientIP() *ratelimit.ClientIP {
	return ratelimit.NewClientIP(a.Config.TrustedProxies...)
}

// badCredential reports whether a response refused a presented bearer
// token (RFC 6750 error="invalid_token"), or a valid token presented for
// another tenant (403 error="tenant_mismatch"): each such refusal writes an
// audit row into the tenant that was asked for, so without a charge one
// tenant could write into another's audit_logs without bound.
func badCredential(status int, h http.Header) bool {
	c := h.Get("WWW-Authenticate")
	return status == http.StatusUnauthorized && strings.Contains(c, `error="invalid_token"`) ||
		status == http.StatusForbidden && strings.Contains(c, `error="tenant_mismatch"`)
}

// planLimit is the limiter after the token check: key = tenant, limit =
// the organization's plan (basic 100/min, professional 500/min, enterprise
// 2000/min, anything else 60/min), and in the same atomic decision the
// tenant's API calls are counted per calendar day (enforcing
// organizations.api_calls_per_day) and per month (count only), in UTC: the
// organizations table has no time zone column.
func (a *App) planLimit(next http.Handler) http.Handler {
	q := &quotaCache{a: a, m: map[tenant.ID]quotaEntry{}}
	l := ratelimit.New(a.rateLimitStore(), nil, &ratelimit.Options{
		Quotas:     q.quotas,
		FailPolicy: ratelimit.FailClosed,
		Logger:     a.Logger,
	})
	return l.Handler(next)
}

// quotaCache holds each tenant's quotas, read from organizations at most
// once per quotaCacheTTL.
type quotaCache struct {
	a  *App
	mu sync.Mutex
	m  map[tenant.ID]quotaEntry
}

type quotaEntry struct {
	quotas []ratelimit.Quota // shared read-only by every request of the tenant
	at     time.Time
}

func (c *quotaCache) quotas(t tenant.Tenant) []ratelimit.Quota {
	now := time.Now()
	c.mu.Lock()
	e, ok := c.m[t.ID]
	c.mu.Unlock()
	if ok && now.Sub(e.at) < quotaCacheTTL {
		return e.quotas
	}
	perDay, err := c.load(t)
	if err != nil {
		// Count without enforcing until the limit can be read again.
		c.a.Logger.LogAttrs(context.Background(), slog.LevelWarn, "api quota unavailable",
			slog.String("tenant_id", string(t.ID)), slog.String("error", err.Error()))
		perDay = 0
	}
	e = quotaEntry{at: now, quotas: []ratelimit.Quota{
		{Name: "api_calls", Period: ratelimit.Day, Max: max(perDay, 0)},
		{Name: "api_calls", Period: ratelimit.Month},
	}}
	if err == nil {
		c.mu.Lock()
		c.m[t.ID] = e
		c.mu.Unlock()
	}
	return e.quotas
}

// load reads the tenant's api_calls_per_day inside its own tenant
// transaction (row-level security applies).
func (c *quotaCache) load(t tenant.Tenant) (int64, error) {
	ctx, cancel := context.WithTimeout(tenant.NewContext(context.Background(), t), 2*time.Second)
	defer cancel()
	var perDay sql.NullInt64
	err := c.a.tx(ctx, func(tx *sql.Tx, tid int64) error {
		return tx.QueryRowContext(ctx, c.a.q("SELECT api_calls_per_day FROM organizations WHERE id = ?"), tid).Scan(&perDay)
	})
	return perDay.Int64, err
}
