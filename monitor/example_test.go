package monitor_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/tenantkit/tenantkit/monitor"
	"github.com/tenantkit/tenantkit/tenant"
)

// shop is a Source over an in-memory table; a real one queries the
// application's organizations, subscriptions and users tables.
type shop struct{ now time.Time }

func (s shop) Tenants(context.Context) ([]tenant.Tenant, error) {
	return []tenant.Tenant{{ID: "acme", Name: "Acme"}, {ID: "globex", Name: "Globex"}}, nil
}

func (s shop) Usage(_ context.Context, id tenant.ID) (monitor.Usage, error) {
	u := monitor.Usage{
		StorageBytes: 950, StorageQuotaBytes: 1000,
		APICallsToday: -1, APICallsQuota: 0, // not counted: use the Recorder; no quota
		Subscription: monitor.Subscription{Status: "active", Active: true, EndsAt: s.now.AddDate(0, 0, 3)},
	}
	if id == "globex" {
		u.StorageBytes = 10
		u.Subscription = monitor.Subscription{Status: "canceled", EndsAt: s.now.AddDate(0, 0, -2)}
	}
	return u, nil
}

func ExampleRecorder_Handler() {
	rec := monitor.NewRecorder(nil)
	h := rec.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fail" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	for _, path := range []string{"/", "/", "/fail"} {
		req := httptest.NewRequest("GET", path, nil)
		req = req.WithContext(tenant.NewContext(req.Context(), tenant.Tenant{ID: "acme"}))
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	st := rec.Since("acme", time.Now().Add(-time.Hour))
	fmt.Println(st.Requests, "requests,", st.Errors, "server error")
	// Output: 3 requests, 1 server error
}

func ExampleScorer_Score() {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	m := monitor.New(shop{now}, nil, &monitor.Options{Now: func() time.Time { return now }})
	hs, _ := m.All(context.Background())
	for _, h := range hs {
		fmt.Println(h.ID(), h.Result.Score, h.Result.Band, "at risk:", h.Result.AtRisk)
		for _, c := range h.Result.Contributions {
			if c.Points != 0 || c.Outcome == monitor.OutcomeSuppressed {
				fmt.Printf("  %s %s %d\n", c.Code, c.Outcome, c.Points)
			}
		}
	}
	// Output:
	// globex 70 warning at risk: true
	//   subscription_expiring suppressed 0
	//   subscription_inactive fail -30
	// acme 70 warning at risk: false
	//   storage_quota fail -20
	//   subscription_expiring fail -10
}

func ExampleNewScorer_customRules() {
	rules := append(monitor.DefaultRules(&monitor.RuleOptions{ErrorPercent: 1, MinRequests: 100}), monitor.Rule{
		Code: "no_users", Weight: 5, Severity: monitor.SeverityWarning,
		Check: func(s *monitor.Snapshot) monitor.Check {
			if s.Users == 0 {
				return monitor.Check{Outcome: monitor.OutcomeFail, Message: "tenant has no users"}
			}
			return monitor.Check{Outcome: monitor.OutcomePass}
		},
	})
	sc, err := monitor.NewScorer(rules, &monitor.ScorerOptions{AtRiskBelow: 90})
	if err != nil {
		panic(err)
	}
	s := monitor.NewSnapshot(tenant.Tenant{ID: "acme"}, monitor.Usage{Subscription: monitor.Subscription{Active: true}}, nil, time.Now(), nil)
	r := sc.Score(&s)
	fmt.Println(r.Score, r.AtRisk, r.InsufficientData)
	_, err = monitor.NewScorer([]monitor.Rule{{Code: "x"}}, nil)
	fmt.Println(errors.Is(err, monitor.ErrBadRule))
	// Output:
	// 95 false true
	// true
}

func ExampleMonitor_Trends() {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	now := time.Date(2026, 3, 30, 9, 0, 0, 0, berlin) // the day after the spring DST change
	m := monitor.New(shop{now}, nil, &monitor.Options{Now: func() time.Time { return now }, Location: berlin})
	tr, _ := m.Trends(context.Background(), "acme", 3)
	fmt.Println(tr.Dates, tr.Storage[0].Valid)
	// Output: [2026-03-28 2026-03-29 2026-03-30] false
}

func ExampleNewDashboard() {
	m := monitor.New(shop{time.Now()}, nil, nil)
	_, err := monitor.NewDashboard(m, nil, nil)
	fmt.Println(err)

	auth := monitor.AuthorizerFunc(func(r *http.Request) (monitor.Viewer, error) {
		if r.Header.Get("Authorization") != "Bearer admin-secret" {
			return monitor.Viewer{}, monitor.ErrUnauthenticated
		}
		return monitor.Viewer{Name: "admin", All: true}, nil
	})
	dash, _ := monitor.NewDashboard(m, auth, nil)
	mux := http.NewServeMux()
	mux.Handle("/admin/monitor/", http.StripPrefix("/admin/monitor", dash))
	for _, tok := range []string{"", "admin-secret"} {
		req := httptest.NewRequest("GET", "/admin/monitor/api/summary", nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, req)
		fmt.Println(w.Code)
	}
	// Output:
	// monitor: dashboard requires an Authorizer
	// 401
	// 200
}

func ExampleAlerter() {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	m := monitor.New(shop{now}, nil, &monitor.Options{Now: func() time.Time { return now }})
	notify := monitor.NotifierFunc(func(_ context.Context, a monitor.Alert) error {
		fmt.Println(a.State, a.TenantID, a.Rule)
		return nil
	})
	al, _ := monitor.NewAlerter(m, []monitor.AlertRule{
		monitor.RuleFailing(monitor.CodeSubscriptionInactive, monitor.SeverityCritical, 0),
	}, &monitor.AlerterOptions{Notifier: notify})
	_ = al.Evaluate(context.Background())
	_ = al.Evaluate(context.Background()) // still failing: no second notification
	// Output: firing globex rule_subscription_inactive
}
