package main

import (
	"net/http"

	"github.com/tenantkit/tenantkit/tenant"
)

// Handler returns the demo's HTTP handler.
func (a *App) Handler() http.Handler { return a.compose(a.routes()) }

// routes is the tenant API: every route here runs with a resolved, active
// tenant in its context (compose puts tenant.Middleware in front of it).
func (a *App) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/tenant", a.handleTenant)
	mux.HandleFunc("GET /api/properties", a.handleProperties)
	mux.HandleFunc("GET /api/properties/{id}", a.handleProperty)
	mux.HandleFunc("GET /api/properties/{id}/meters", a.handlePropertyMeters)
	mux.HandleFunc("GET /api/meters/{id}/readings", a.handleReadings)
	mux.HandleFunc("POST /api/meters/{id}/readings", a.handleCreateReading)
	mux.HandleFunc("GET /api/invoices", a.handleInvoices)
	mux.HandleFunc("GET /api/invoices/{id}", a.handleInvoice)
	mux.HandleFunc("/", a.handleNotFound)
	return mux
}

// resolver is how a request names its tenant: the subdomain of a base
// domain (acme.localhost) or the path prefix /t/{slug}/, and optionally a
// header that answers only when trusted. Every source that answers must
// agree (a subdomain and a path naming different tenants is a 400).
func (a *App) resolver() tenant.Resolver {
	rs := []tenant.Resolver{tenant.Subdomain(a.Config.BaseDomains...), tenant.PathPrefix("/t/")}
	if a.Config.TenantHeader != "" {
		rs = append(rs, tenant.Header(a.Config.TenantHeader, a.Config.TrustTenantHeader))
	}
	return tenant.Chain(rs...)
}

// compose builds the request chain of DESIGN.md ("The flow of one request")
// around api. This is the one place where the parts of tenantkit are put
// in front of the handlers; each slot below says where a part goes and why
// there. Wrapping happens inside-out, so the last wrap is the first to run:
//
//	client ─► tenant.Middleware ─► ratelimit (guest) ─► tokenscope ─► ratelimit (plan) ─► monitor.Recorder ─► api
func (a *App) compose(api http.Handler) http.Handler {
	h := api

	// ── slot: monitor.Recorder (package monitor) ─────────────────────────
	// Innermost: it sees the tenant and measures only requests that reached
	// the handlers (counts, errors, latency buckets; no I/O on the hot path).
	mon := a.newMonitor() // monitor.go
	a.monitor.Store(mon)
	h = mon.rec.Handler(h)

	// ── slot: ratelimit, plan limit (package ratelimit) ──────────────────
	// After the token check, so the key is an authenticated tenant: key =
	// tenant, limit = the tenant's plan (tenant.Tenant.Plan); daily and
	// monthly quotas are counted here.
	h = a.planLimit(h) // ratelimit.go

	// ── slot: tokenscope.Middleware (package tokenscope) ─────────────────
	// Verifies the bearer token and that token.TenantID equals the tenant
	// in the context (set by tenant.Middleware below), then the scopes of
	// the route (token.go: tokenRoutes); cross-tenant attempts go to
	// audit_logs.
	h = a.tokenGate(h)

	// ── slot: ratelimit, guest limit by client IP (package ratelimit) ────
	// Before the token check, so token guessing is throttled per client IP.
	h = a.guestLimit(h) // ratelimit.go

	// tenant.Middleware: resolve the tenant from subdomain or /t/{slug}/,
	// look it up in the cached directory, fail closed (404/400/403/503).
	h = tenant.NewMiddleware(a.resolver(), a.Directory, &tenant.MiddlewareOptions{Logger: a.Logger}).Handler(h)

	root := http.NewServeMux()
	// Routes without a tenant are explicit, never a skipper in the chain.
	root.HandleFunc("GET /healthz", a.handleHealthz)
	if a.Config.AdminToken != "" {
		// Cross-tenant administration in explicit system mode; it has its own
		// credential and never goes through the tenant chain.
		root.HandleFunc("GET /admin/api/tenants", a.handleAdminTenants)
	}
	// ── slot: admin routes of other parts (monitor dashboard, backup) ───
	if mon.dash != nil {
		root.Handle("/admin/monitor/", mon.dash) // admin token; monitor.go
	}
	root.Handle("/", h)
	return root
}
