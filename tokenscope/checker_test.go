package tokenscope_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tenantkit/tenantkit/tenant"
	"github.com/tenantkit/tenantkit/tokenscope"
)

const zeroUUID = tenant.ID("00000000-0000-0000-0000-000000000000")

type auditLog struct {
	mu       sync.Mutex
	attempts []tokenscope.Attempt
}

func (a *auditLog) Audit(_ context.Context, at tokenscope.Attempt) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.attempts = append(a.attempts, at)
	return nil
}

func (a *auditLog) all() []tokenscope.Attempt {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]tokenscope.Attempt(nil), a.attempts...)
}

// TestCheckSteps has one case per step of the check, each failing closed,
// plus cases proving the order when a token fails several steps.
func TestCheckSteps(t *testing.T) {
	clk := newClock()
	now := clk.Now()
	past, future := now.Add(-time.Second), now.Add(time.Hour)
	v := newFakeVerifier()
	v.add("good-a", tokenscope.Token{ID: "ta", TenantID: "a", Scopes: []string{"readings:read", "readings:write"}, ExpiresAt: future})
	v.add("zero", tokenscope.Token{ID: "t0", TenantID: "0", Scopes: []string{"readings:read"}})
	v.add("uuid0", tokenscope.Token{ID: "tu", TenantID: zeroUUID, Scopes: []string{"readings:read"}})
	v.add("notenant", tokenscope.Token{ID: "tn", TenantID: "", Scopes: []string{"readings:read"}})
	v.add("expired", tokenscope.Token{ID: "te", TenantID: "a", ExpiresAt: past})
	v.add("expires-now", tokenscope.Token{ID: "tx", TenantID: "a", ExpiresAt: now})
	v.add("revoked", tokenscope.Token{ID: "tr", TenantID: "a", RevokedAt: past})
	v.add("expired-revoked-notenant", tokenscope.Token{ID: "terr", ExpiresAt: past, RevokedAt: past})
	v.add("revoked-notenant", tokenscope.Token{ID: "trn", RevokedAt: past})
	v.add("noid", tokenscope.Token{TenantID: "a"})

	logs := &logCapture{}
	audit := &auditLog{}
	c := tokenscope.New(v, &tokenscope.Options{Auditor: audit, Logger: logs.logger(), Now: clk.Now})

	readAny := tokenscope.AnyOf("readings:read", "invoices:read")
	cases := []struct {
		name      string
		header    string // Authorization; "-" for none
		tenant    tenant.ID
		noTenant  bool
		req       tokenscope.Requirement
		want      error // nil: allowed
		status    int
		challenge string
		audited   bool
	}{
		{name: "1 no credential", header: "-", tenant: "a", want: tokenscope.ErrNoCredential, status: 401, challenge: `Bearer`},
		{name: "1 other scheme", header: "Basic dXNlcjpwYXNz", tenant: "a", want: tokenscope.ErrNoCredential, status: 401, challenge: `Bearer`},
		{name: "2 malformed bearer", header: "Bearer a b", tenant: "a", want: tokenscope.ErrInvalidToken, status: 401, challenge: `Bearer error="invalid_token", error_description="the access token is invalid"`},
		{name: "2 empty bearer", header: "Bearer ", tenant: "a", want: tokenscope.ErrInvalidToken, status: 401, challenge: `error="invalid_token"`},
		{name: "2 unknown token", header: "Bearer nope", tenant: "a", want: tokenscope.ErrInvalidToken, status: 401, challenge: `error="invalid_token"`},
		{name: "2 token without id", header: "Bearer noid", tenant: "a", want: tokenscope.ErrInvalidToken, status: 401, challenge: `error="invalid_token"`},
		{name: "2 verifier down", header: "Bearer broken", tenant: "a", want: tokenscope.ErrUnavailable, status: 503},
		{name: "3 expired", header: "Bearer expired", tenant: "a", want: tokenscope.ErrExpired, status: 401, challenge: `error_description="the access token expired"`},
		{name: "3 expires exactly now", header: "Bearer expires-now", tenant: "a", want: tokenscope.ErrExpired, status: 401, challenge: `error="invalid_token"`},
		{name: "3 expiry before revocation and tenant", header: "Bearer expired-revoked-notenant", tenant: "a", want: tokenscope.ErrExpired, status: 401, challenge: `error="invalid_token"`},
		{name: "4 revoked", header: "Bearer revoked", tenant: "a", want: tokenscope.ErrRevoked, status: 401, challenge: `error_description="the access token was revoked"`},
		{name: "4 revocation before tenant", header: "Bearer revoked-notenant", tenant: "a", want: tokenscope.ErrRevoked, status: 401, challenge: `error="invalid_token"`},
		{name: "5 token with empty tenant", header: "Bearer notenant", tenant: "a", want: tokenscope.ErrNoTokenTenant, status: 401, challenge: `error="invalid_token"`},
		{name: "5 token tenant before request tenant", header: "Bearer notenant", noTenant: true, want: tokenscope.ErrNoTokenTenant, status: 401, challenge: `error="invalid_token"`},
		{name: "6 request without tenant", header: "Bearer good-a", noTenant: true, want: tokenscope.ErrNoRequestTenant, status: 403},
		{name: "6 request tenant with empty id", header: "Bearer zero", tenant: "", want: tokenscope.ErrNoRequestTenant, status: 403},
		{name: "7 other tenant", header: "Bearer good-a", tenant: "b", want: tokenscope.ErrTenantMismatch, status: 403, challenge: `Bearer error="tenant_mismatch"`, audited: true},
		{name: "7 token 0 request uuid0", header: "Bearer zero", tenant: zeroUUID, want: tokenscope.ErrTenantMismatch, status: 403, challenge: `error="tenant_mismatch"`, audited: true},
		{name: "7 token uuid0 request 0", header: "Bearer uuid0", tenant: "0", want: tokenscope.ErrTenantMismatch, status: 403, challenge: `error="tenant_mismatch"`, audited: true},
		{name: "7 tenant before scope", header: "Bearer good-a", tenant: "b", req: tokenscope.AllOf("invoices:read"), want: tokenscope.ErrTenantMismatch, status: 403, challenge: `error="tenant_mismatch"`, audited: true},
		{name: "8 right tenant missing scope", header: "Bearer good-a", tenant: "a", req: tokenscope.AllOf("invoices:read"), want: tokenscope.ErrInsufficientScope, status: 403, challenge: `Bearer error="insufficient_scope", error_description="the access token lacks a required scope", scope="invoices:read"`},
		{name: "8 all of, one missing", header: "Bearer good-a", tenant: "a", req: tokenscope.AllOf("readings:read", "invoices:read"), want: tokenscope.ErrInsufficientScope, status: 403, challenge: `scope="readings:read invoices:read"`},
		{name: "ok 0 is a tenant", header: "Bearer zero", tenant: "0", req: readAny},
		{name: "ok uuid0 is a tenant", header: "Bearer uuid0", tenant: zeroUUID},
		{name: "ok all of", header: "bEaReR   good-a", tenant: "a", req: tokenscope.AllOf("readings:read", "readings:write")},
		{name: "ok any of", header: "Bearer good-a", tenant: "a", req: readAny},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(audit.all())
			r := httptest.NewRequest(http.MethodGet, "/api/readings", nil)
			if tc.header != "-" {
				r.Header.Set("Authorization", tc.header)
			}
			if !tc.noTenant {
				r = r.WithContext(tenant.NewContext(r.Context(), tenant.Tenant{ID: tc.tenant, Status: tenant.StatusActive}))
			}

			// The decision without HTTP.
			tok, err := c.CheckRequest(r, tc.req)
			if tc.want == nil {
				require.NoError(t, err)
				require.Equal(t, tc.tenant, tok.TenantID)
			} else {
				require.ErrorIs(t, err, tc.want)
				var e *tokenscope.Error
				require.ErrorAs(t, err, &e)
				require.Equal(t, tc.status, e.Status)
			}

			// The middleware.
			var reached bool
			var inCtx tokenscope.Token
			h := c.Require(tc.req)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				reached = true
				inCtx, _ = tokenscope.FromContext(r.Context())
				_, _ = w.Write([]byte("tenant data"))
			}))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if tc.want == nil {
				require.True(t, reached)
				require.Equal(t, http.StatusOK, w.Code)
				require.Equal(t, tok.ID, inCtx.ID)
				return
			}
			require.False(t, reached, "next handler ran for a refused request")
			require.Equal(t, tc.status, w.Code)
			require.NotContains(t, w.Body.String(), "tenant data")
			require.Equal(t, "application/json", w.Header().Get("Content-Type"))
			var body struct{ Error, Message, Scope string }
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
			var e *tokenscope.Error
			require.ErrorAs(t, err, &e)
			require.Equal(t, e.Code, body.Error)
			if tc.challenge == "" {
				require.Empty(t, w.Header().Get("WWW-Authenticate"))
			} else {
				require.Contains(t, w.Header().Get("WWW-Authenticate"), tc.challenge)
			}
			if tc.header == "-" {
				require.Equal(t, "Bearer", w.Header().Get("WWW-Authenticate"), "no error code without a credential (RFC 6750 3.1)")
			}
			// CheckRequest and the middleware each audit a mismatch once.
			want := 0
			if tc.audited {
				want = 2
			}
			require.Len(t, audit.all(), before+want)
		})
	}
	logs.requireNoSecret(t, "good-a", "expired-revoked-notenant", "uuid0")
}

func TestAttemptRecord(t *testing.T) {
	clk := newClock()
	v := newFakeVerifier()
	v.add("cred-of-a", tokenscope.Token{ID: "tok1", TenantID: "a"})
	audit := &auditLog{}
	c := tokenscope.New(v, &tokenscope.Options{Auditor: audit, Now: clk.Now})
	r := httptest.NewRequest(http.MethodPost, "/api/readings?x=1", nil)
	r.RemoteAddr = "[2001:db8::1]:4711"
	r.Header.Set("Authorization", "Bearer cred-of-a")
	r = r.WithContext(tenant.NewContext(r.Context(), tenant.Tenant{ID: "b", Status: tenant.StatusActive}))
	w := httptest.NewRecorder()
	c.Handler(http.NotFoundHandler()).ServeHTTP(w, r)
	require.Equal(t, http.StatusForbidden, w.Code)
	require.Equal(t, []tokenscope.Attempt{{
		TokenID: "tok1", TokenTenant: "a", RequestTenant: "b", Method: "POST", Path: "/api/readings",
		ClientIP: "2001:db8::1", Time: clk.Now(),
	}}, audit.all())

	// A ClientIP option replaces the RemoteAddr default.
	audit2 := &auditLog{}
	c2 := tokenscope.New(v, &tokenscope.Options{Auditor: audit2, ClientIP: func(*http.Request) string { return "203.0.113.9" }})
	c2.Handler(http.NotFoundHandler()).ServeHTTP(httptest.NewRecorder(), r)
	require.Len(t, audit2.all(), 1)
	require.Equal(t, "203.0.113.9", audit2.all()[0].ClientIP)

	// Check without HTTP reports the attempt too, without request details.
	ctx := tenant.NewContext(t.Context(), tenant.Tenant{ID: "b", Status: tenant.StatusActive})
	_, err := c.Check(ctx, "cred-of-a", tokenscope.Requirement{})
	require.ErrorIs(t, err, tokenscope.ErrTenantMismatch)
	require.Len(t, audit.all(), 2)
	require.Equal(t, "", audit.all()[1].Path)

	// An auditor failure is logged, the refusal stands.
	logs := &logCapture{}
	c3 := tokenscope.New(v, &tokenscope.Options{Logger: logs.logger(),
		Auditor: tokenscope.AuditorFunc(func(context.Context, tokenscope.Attempt) error { return errors.New("disk full") })})
	w = httptest.NewRecorder()
	c3.Handler(http.NotFoundHandler()).ServeHTTP(w, r)
	require.Equal(t, http.StatusForbidden, w.Code)
	require.Contains(t, logs.buf.String(), "disk full")
	logs.requireNoSecret(t, "cred-of-a")
}

func TestRequirement(t *testing.T) {
	tok := tokenscope.Token{Scopes: []string{"a", "b"}}
	assert.True(t, tokenscope.Requirement{}.Satisfied(tok))
	assert.True(t, tokenscope.AllOf().Satisfied(tokenscope.Token{}))
	assert.True(t, tokenscope.AllOf("a", "b").Satisfied(tok))
	assert.False(t, tokenscope.AllOf("a", "c").Satisfied(tok))
	assert.True(t, tokenscope.AnyOf("c", "b").Satisfied(tok))
	assert.False(t, tokenscope.AnyOf("c", "d").Satisfied(tok))
	assert.False(t, tokenscope.AllOf("A").Satisfied(tok), "scopes are case-sensitive")
	assert.Equal(t, "c d", tokenscope.AnyOf("c", "d").String())
	for _, bad := range []string{"", "a b", `a"b`, `a\b`, "é"} {
		require.Panics(t, func() { tokenscope.AllOf(bad) }, bad)
		require.Error(t, tokenscope.ValidateScope(bad))
	}
}

func TestSecretRedacts(t *testing.T) {
	s := tokenscope.Secret("abcd|supersecret")
	logs := &logCapture{}
	logs.logger().Info("x", "token", s, slog.Any("any", s), slog.Group("g", "s", s))
	require.Equal(t, "[REDACTED]", fmt.Sprint(s))
	require.Equal(t, "[REDACTED]", fmt.Sprintf("%v %s %q %#v", s, s, s, s)[:10])
	printed := fmt.Sprintf("%v %s %q %#v %+v %x %X %10s %-20v", s, s, s, s, s, s, s, s, s)
	require.NotContains(t, printed, "supersecret")
	require.NotContains(t, printed, fmt.Sprintf("%x", "supersecret"))
	require.NotContains(t, fmt.Sprint(struct{ S tokenscope.Secret }{s}), "supersecret")
	require.NotContains(t, fmt.Sprintf("%+v", &struct{ S tokenscope.Secret }{s}), "supersecret")
	b, err := json.Marshal(map[string]any{"t": s})
	require.NoError(t, err)
	require.NotContains(t, string(b), "supersecret")
	logs.requireNoSecret(t, string(s))
	require.Contains(t, logs.buf.String(), "[REDACTED]")
}

func TestAuthenticateThenCheckVerifiesOnce(t *testing.T) {
	v := newFakeVerifier()
	v.add("cred-a", tokenscope.Token{ID: "t", TenantID: "a"})
	c := tokenscope.New(v, nil)
	h := c.Authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = r.WithContext(tenant.NewContext(r.Context(), tenant.Tenant{ID: "a", Status: tenant.StatusActive}))
		c.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })).ServeHTTP(w, r)
	}))
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer cred-a")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	require.Equal(t, 204, w.Code)
	require.Equal(t, 1, v.Calls())

	// Another Checker (another Verifier) does not trust this one's work.
	v2 := newFakeVerifier()
	other := tokenscope.New(v2, nil)
	h2 := c.Authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = r.WithContext(tenant.NewContext(r.Context(), tenant.Tenant{ID: "a", Status: tenant.StatusActive}))
		other.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })).ServeHTTP(w, r)
	}))
	w = httptest.NewRecorder()
	h2.ServeHTTP(w, r)
	require.Equal(t, 401, w.Code)
	require.Equal(t, 1, v2.Calls())

	// Authenticate refuses bad credentials itself.
	for _, hdr := range []string{"", "Bearer nope", "Bearer broken"} {
		r := httptest.NewRequest("GET", "/", nil)
		if hdr != "" {
			r.Header.Set("Authorization", hdr)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		require.Contains(t, []int{401, 503}, w.Code, hdr)
	}

	// Two Authorization headers are refused, whichever one is valid.
	r = httptest.NewRequest("GET", "/", nil)
	r.Header.Add("Authorization", "Bearer cred-a")
	r.Header.Add("Authorization", "Bearer other")
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	require.Equal(t, 401, w.Code)
}

// TestTenantClaimNeedsAuthenticate: a Token merely put into the context
// (NewContext) never names a tenant; only Authenticate's verification does.
func TestTenantClaimNeedsAuthenticate(t *testing.T) {
	forged := tokenscope.NewContext(t.Context(), tokenscope.Token{ID: "x", TenantID: "b"})
	_, ok := tokenscope.TenantClaim(forged)
	require.False(t, ok)
	_, ok = tokenscope.TenantClaimFunc(func(context.Context, tenant.ID) (string, bool) { return "b", true })(forged)
	require.False(t, ok)

	v := newFakeVerifier()
	v.add("cred-a", tokenscope.Token{ID: "t", TenantID: "a"})
	c := tokenscope.New(v, nil)
	var claim string
	var claimed bool
	h := c.Authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claim, claimed = tokenscope.TenantClaim(r.Context())
	}))
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer cred-a")
	h.ServeHTTP(httptest.NewRecorder(), r)
	require.True(t, claimed)
	require.Equal(t, "a", claim)
}

// TestAuditIgnoresClientHangup: the Auditor gets the request's values but
// not its cancellation, so a client that sends a cross-tenant request and
// closes the connection at once cannot keep the attempt out of the record.
func TestAuditIgnoresClientHangup(t *testing.T) {
	v := newFakeVerifier()
	v.add("cred-of-a", tokenscope.Token{ID: "tok1", TenantID: "a"})
	var got []error
	var tenants []tenant.ID
	c := tokenscope.New(v, &tokenscope.Options{Auditor: tokenscope.AuditorFunc(func(ctx context.Context, _ tokenscope.Attempt) error {
		got = append(got, ctx.Err())
		tenants = append(tenants, tenant.IDFromContext(ctx))
		return ctx.Err()
	})})
	ctx, cancel := context.WithCancel(tenant.NewContext(t.Context(), tenant.Tenant{ID: "b", Status: tenant.StatusActive}))
	cancel()
	r := httptest.NewRequestWithContext(ctx, http.MethodGet, "/api/invoices", nil)
	r.Header.Set("Authorization", "Bearer cred-of-a")
	w := httptest.NewRecorder()
	c.Handler(http.NotFoundHandler()).ServeHTTP(w, r)
	require.Equal(t, http.StatusForbidden, w.Code)
	_, err := c.Check(ctx, "cred-of-a", tokenscope.Requirement{})
	require.ErrorIs(t, err, tokenscope.ErrTenantMismatch)
	require.Equal(t, []error{nil, nil}, got, "the auditor's context is not canceled with the request")
	require.Equal(t, []tenant.ID{"b", "b"}, tenants, "the auditor's context keeps the request's tenant")
}
