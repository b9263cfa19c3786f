package ratelimit_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"time"

	"github.com/tenantkit/tenantkit/ratelimit"
	"github.com/tenantkit/tenantkit/tenant"
)

func ExampleLimiter_Handler() {
	set := ratelimit.DefaultPlanSet()
	set.Plans["basic"] = ratelimit.Limit{Rate: 1, Period: time.Minute}
	plans, _ := ratelimit.NewPlans(set)
	lim := ratelimit.New(ratelimit.NewMemory(nil), plans, nil)
	h := lim.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello")
	}))

	acme := tenant.Tenant{ID: "acme", Plan: "basic", Status: tenant.StatusActive}
	for range 2 {
		r := httptest.NewRequest(http.MethodGet, "/api/meters", nil)
		r = r.WithContext(tenant.NewContext(r.Context(), acme))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Printf("%d %s %s retry-after=%q\n", w.Code, w.Header().Get("RateLimit-Policy"), w.Header().Get("RateLimit"), w.Header().Get("Retry-After"))
	}
	// Output:
	// 200 "basic";q=1;w=60 "basic";r=0;t=60 retry-after=""
	// 429 "basic";q=1;w=60 "basic";r=0;t=60 retry-after="60"
}

func ExampleLimiter_Allow() {
	lim := ratelimit.New(ratelimit.NewMemory(nil), nil, nil)
	login := ratelimit.Limit{Name: "login", Rate: 5, Period: time.Minute, Burst: 2}
	for range 3 {
		r, err := lim.Allow(context.Background(), "login:alice", login)
		if err != nil {
			panic(err)
		}
		fmt.Println(r.Allowed, r.Remaining, r.RetryAfter.Round(time.Second))
	}
	// Output:
	// true 1 0s
	// true 0 0s
	// false 0 12s
}

func ExampleDecide() {
	// Two per 500 ms, decided as a pure function of the state and the time.
	lim := ratelimit.Limit{Name: "p", Rate: 2, Period: 500 * time.Millisecond}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var tat int64
	for _, at := range []time.Duration{0, 0, 0, 250 * time.Millisecond} {
		next, r, _ := ratelimit.Decide(tat, t0.Add(at), lim, 1)
		tat = next
		fmt.Println(at, r.Allowed, r.RetryAfter)
	}
	// Output:
	// 0s true 0s
	// 0s true 0s
	// 0s false 250ms
	// 250ms true 0s
}

func ExampleMemory_quotas() {
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	now := time.Date(2026, 3, 31, 23, 30, 0, 0, tokyo)
	store := ratelimit.NewMemory(&ratelimit.MemoryOptions{Now: func() time.Time { return now }})
	req := ratelimit.Request{
		Key:   "tenant:acme",
		Limit: ratelimit.Limit{Name: "enterprise", Rate: 2000, Period: time.Minute},
		Quotas: []ratelimit.Quota{
			{Name: "api_calls", Period: ratelimit.Day, Max: 1000, Location: tokyo},
			{Name: "api_calls", Period: ratelimit.Month, Location: tokyo},
		},
	}
	var d ratelimit.Decision
	_ = store.Take(context.Background(), &req, &d)
	fmt.Println(d.Allowed, d.Quotas[0].Used, d.Quotas[0].ResetAt.Format(time.DateTime), d.Quotas[1].ResetAt.Format(time.DateTime))
	now = now.Add(time.Hour) // 00:30 on April 1st in Tokyo
	_ = store.Take(context.Background(), &req, &d)
	fmt.Println(d.Allowed, d.Quotas[0].Used, d.Quotas[1].Used)
	// Output:
	// true 1 2026-04-01 00:00:00 2026-04-01 00:00:00
	// true 1 1
}

func ExamplePlans_Replace() {
	var plans ratelimit.Plans // zero value: the default plans
	fmt.Println(plans.Limit("basic").Rate, plans.Limit("no-such-plan").Rate, plans.Guest().Rate)
	set := plans.Set()
	set.Plans["basic"] = ratelimit.Limit{Name: "basic", Rate: 150, Period: time.Minute}
	if err := plans.Replace(set); err != nil {
		panic(err)
	}
	fmt.Println(plans.Limit("basic").Rate)
	// Output:
	// 100 60 10
	// 150
}

func ExampleNewClientIP() {
	// The load balancer's network is trusted; its X-Forwarded-For hops are read
	// from the right, and the first untrusted one is the client.
	ips := ratelimit.NewClientIP(netip.MustParsePrefix("10.0.0.0/8"))
	r := httptest.NewRequest(http.MethodGet, "/login", nil)
	r.RemoteAddr = "10.0.0.5:443"                                     // the load balancer
	r.Header.Set("X-Forwarded-For", "6.6.6.6, 203.0.113.7, 10.0.0.9") // forged, client, inner proxy
	a, _ := ips.Addr(r)
	fmt.Println(a)

	// From a connection that is not a trusted proxy, the header is ignored.
	r.RemoteAddr = "198.51.100.20:5555"
	a, _ = ips.Addr(r)
	fmt.Println(a)

	// IPv6 clients are limited by their /64.
	r.RemoteAddr = "[2001:db8:1:2:aaaa::1]:443"
	p, _ := ips.Prefix(r)
	fmt.Println(p)
	// Output:
	// 203.0.113.7
	// 198.51.100.20
	// 2001:db8:1:2::/64
}
