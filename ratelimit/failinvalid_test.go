package ratelimit_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tenantkit/tenantkit/ratelimit"
	"github.com/tenantkit/tenantkit/tenant"
)

type errStore struct{ err error }

func (s errStore) Take(context.Context, *ratelimit.Request, *ratelimit.Decision) error { return s.err }

// TestHandlerInvalidFailsClosed: a store error wrapping ErrInvalid is a
// configuration error and answers 500 under either fail policy, never
// letting the request through; ErrUnavailable follows the policy.
func TestHandlerInvalidFailsClosed(t *testing.T) {
	invalid := fmt.Errorf("store: %w: prefix has a brace", ratelimit.ErrInvalid)
	unavailable := fmt.Errorf("store: %w: connection refused", ratelimit.ErrUnavailable)
	for _, tc := range []struct {
		name   string
		err    error
		policy ratelimit.FailPolicy
		want   int
		next   bool
	}{
		{"invalid/open", invalid, ratelimit.FailOpen, http.StatusInternalServerError, false},
		{"invalid/closed", invalid, ratelimit.FailClosed, http.StatusInternalServerError, false},
		{"unavailable/open", unavailable, ratelimit.FailOpen, http.StatusOK, true},
		{"unavailable/closed", unavailable, ratelimit.FailClosed, http.StatusServiceUnavailable, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plans, err := ratelimit.NewPlans(ratelimit.DefaultPlanSet())
			require.NoError(t, err)
			l := ratelimit.New(errStore{tc.err}, plans, &ratelimit.Options{FailPolicy: tc.policy})
			called := false
			h := l.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { called = true }))
			r := httptest.NewRequest(http.MethodGet, "/x", nil)
			r = r.WithContext(tenant.NewContext(r.Context(), tenant.Tenant{ID: "1", Plan: "basic", Status: tenant.StatusActive}))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			require.Equal(t, tc.want, w.Code, w.Body.String())
			require.Equal(t, tc.next, called)
			require.NotEmpty(t, w.Header().Get("RateLimit-Policy"))
		})
	}
}
