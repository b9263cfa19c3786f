package tokenscope

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/tenantkit/tenantkit/tenant"
)

// Attempt is one rejected cross-tenant attempt: a valid token of one tenant
// used on a request for another. It carries the token's ID, never its secret.
type Attempt struct {
	TokenID       string    `json:"token_id"`
	TokenTenant   tenant.ID `json:"token_tenant"`
	RequestTenant tenant.ID `json:"request_tenant"`
	Method        string    `json:"method,omitempty"`
	Path          string    `json:"path,omitempty"`
	ClientIP      string    `json:"client_ip,omitempty"`
	Time          time.Time `json:"time"`
}

// Auditor records rejected cross-tenant attempts, for example into an
// audit_logs table that a monitor reads. It is called synchronously on the
// rejection path only (never for allowed requests), once per attempt; an
// error is logged by the Checker and does not change the response, which is
// already a refusal. Its ctx carries the request's values but not its
// cancellation, so a client that hangs up at once cannot make the report
// fail; an Auditor that does I/O bounds its own time. Implementations must
// be safe for concurrent use.
type Auditor interface {
	Audit(ctx context.Context, a Attempt) error
}

// AuditorFunc adapts a function to an Auditor.
type AuditorFunc func(ctx context.Context, a Attempt) error

// Audit calls f(ctx, a).
func (f AuditorFunc) Audit(ctx context.Context, a Attempt) error { return f(ctx, a) }

// Options configures a Checker. The zero value and nil mean defaults.
type Options struct {
	// Realm is sent as the realm parameter of WWW-Authenticate.
	// Default: none.
	Realm string
	// Auditor receives every rejected cross-tenant attempt. Default: none
	// (the attempt is still logged at warning level).
	Auditor Auditor
	// ClientIP returns the client address recorded in an Attempt. Default:
	// the host part of r.RemoteAddr. Behind a proxy, pass the same function
	// the rate limiter uses for trusted X-Forwarded-For hops.
	ClientIP func(r *http.Request) string
	// ErrorHandler writes the response for a refused request. Default:
	// WriteError(w, Realm, err).
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err *Error)
	// Logger receives one record per refused request (cross-tenant attempts
	// at warning level, others at info level) and audit failures. It never
	// sees a credential. Default: discard.
	Logger *slog.Logger
	// Now is the clock for expiry and audit times. Default: time.Now.
	Now func() time.Time
}

// Checker decides whether a bearer token may act on the request's tenant.
// It is a configured type in the manner of net/http's CrossOriginProtection:
// Check is the decision, Handler and Require the middleware. A Checker is
// safe for concurrent use and immutable after New; its zero value is not
// usable.
type Checker struct {
	v        Verifier
	realm    string
	auditor  Auditor
	clientIP func(*http.Request) string
	onError  func(http.ResponseWriter, *http.Request, *Error)
	log      *slog.Logger
	now      func() time.Time
}

// New returns a Checker that verifies credentials with v. opts is copied:
// changing it afterwards has no effect, so live requests always see the
// configuration New was given. It panics if v is nil: a Checker without a
// Verifier could only refuse everything.
func New(v Verifier, opts *Options) *Checker {
	if v == nil {
		panic("tokenscope: New with a nil Verifier")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	c := &Checker{v: v, realm: o.Realm, auditor: o.Auditor, clientIP: o.ClientIP, onError: o.ErrorHandler, log: o.Logger, now: o.Now}
	if c.clientIP == nil {
		c.clientIP = RemoteIP
	}
	if c.onError == nil {
		c.onError = func(w http.ResponseWriter, _ *http.Request, err *Error) { WriteError(w, c.realm, err) }
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c
}

// RemoteIP returns the host part of r.RemoteAddr (the whole of it when it
// has no port). It is the default Options.ClientIP.
func RemoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Check is the whole decision without HTTP: it verifies credential and
// checks the resulting token against the tenant in ctx (tenant.FromContext)
// and against req, in this order, each failure closed:
//
//  1. a credential is present (ErrNoCredential),
//  2. the token is known and well formed (ErrInvalidToken),
//  3. it has not expired (ErrExpired),
//  4. it has not been revoked (ErrRevoked),
//  5. it is bound to a tenant (ErrNoTokenTenant),
//  6. ctx has a tenant (ErrNoRequestTenant),
//  7. the two tenant IDs are equal as typed values (ErrTenantMismatch,
//     reported to the Auditor),
//  8. the token's scopes satisfy req (ErrInsufficientScope).
//
// A Verifier failure is ErrUnavailable. Every error is an *Error. When a
// check after step 2 fails, the token is returned with the error for logging
// and auditing only: it must not be used. The Attempt reported for step 7
// has no method, path or client IP; use CheckRequest to get them.
func (c *Checker) Check(ctx context.Context, credential Secret, req Requirement) (Token, error) {
	t, e := c.check(ctx, credential, req, nil)
	if e != nil {
		return t, e
	}
	return t, nil
}

// CheckRequest is Check for an HTTP request: the credential comes from its
// Authorization header (see CredentialFromRequest) and the tenant from its
// context. A token verified for this very credential by Authenticate earlier
// in the chain is reused rather than verified again.
func (c *Checker) CheckRequest(r *http.Request, req Requirement) (Token, error) {
	t, e := c.checkRequest(r, req)
	if e != nil {
		return t, e
	}
	return t, nil
}

func (c *Checker) checkRequest(r *http.Request, req Requirement) (Token, *Error) {
	cred, err := CredentialFromRequest(r)
	if err != nil {
		return Token{}, err.(*Error)
	}
	return c.check(r.Context(), cred, req, r)
}

// verified is what Authenticate leaves for the Checker: the token and the
// credential it was verified from, under a key only this package can set.
type verified struct {
	by   *Checker // only the Checker that verified reuses it
	cred Secret
	tok  Token
}

type verifiedKey struct{}

func (c *Checker) check(ctx context.Context, cred Secret, req Requirement, r *http.Request) (Token, *Error) {
	tok, e := c.authenticate(ctx, cred)
	if e != nil {
		return tok, e
	}
	// 6. The request has a tenant.
	reqTenant, ok := tenant.FromContext(ctx)
	if !ok {
		return tok, newError(ErrNoRequestTenant, nil)
	}
	// 7. Same tenant, compared as typed IDs: "0", "" and an all-zero UUID
	// are three different IDs.
	if tok.TenantID != reqTenant.ID {
		c.audit(ctx, tok, reqTenant.ID, r)
		return tok, newError(ErrTenantMismatch, nil)
	}
	// 8. Scopes.
	if !req.Satisfied(tok) {
		e := newError(ErrInsufficientScope, nil)
		e.Scope = req.String()
		return tok, e
	}
	return tok, nil
}

// authenticate runs steps 1 to 5.
func (c *Checker) authenticate(ctx context.Context, cred Secret) (Token, *Error) {
	// 1. A credential.
	if cred == "" {
		return Token{}, newError(ErrNoCredential, nil)
	}
	// 2. Known and well formed, or reused from Authenticate for the same
	// credential.
	var tok Token
	if v, ok := ctx.Value(verifiedKey{}).(*verified); ok && v.by == c && v.cred == cred {
		tok = v.tok
	} else {
		var err error
		tok, err = c.v.Verify(ctx, cred)
		if err != nil {
			switch {
			case errors.Is(err, ErrExpired):
				return tok, newError(ErrExpired, err)
			case errors.Is(err, ErrRevoked):
				return tok, newError(ErrRevoked, err)
			case errors.Is(err, ErrInvalidToken):
				return Token{}, newError(ErrInvalidToken, err)
			}
			return Token{}, newError(ErrUnavailable, err)
		}
	}
	if tok.ID == "" {
		return Token{}, newError(ErrInvalidToken, errNoID)
	}
	// 3, 4: checked here as well, whatever the Verifier did. The clock is
	// read only for tokens that can expire.
	if !tok.ExpiresAt.IsZero() && tok.Expired(c.now()) {
		return tok, newError(ErrExpired, nil)
	}
	if tok.Revoked() {
		return tok, newError(ErrRevoked, nil)
	}
	// 5. Bound to a tenant.
	if tok.TenantID.IsZero() {
		return tok, newError(ErrNoTokenTenant, nil)
	}
	return tok, nil
}

var errNoID = errors.New("verifier returned a token without an id")

func (c *Checker) audit(ctx context.Context, tok Token, reqTenant tenant.ID, r *http.Request) {
	a := Attempt{TokenID: tok.ID, TokenTenant: tok.TenantID, RequestTenant: reqTenant, Time: c.now().UTC()}
	if r != nil {
		a.Method, a.Path, a.ClientIP = r.Method, r.URL.Path, c.clientIP(r)
	}
	c.log.LogAttrs(ctx, slog.LevelWarn, "cross-tenant token rejected",
		slog.String("token_id", a.TokenID),
		slog.String("token_tenant_id", string(a.TokenTenant)),
		slog.String("tenant_id", string(a.RequestTenant)),
		slog.String("method", a.Method),
		slog.String("path", a.Path),
		slog.String("client_ip", a.ClientIP))
	if c.auditor == nil {
		return
	}
	if err := c.auditor.Audit(context.WithoutCancel(ctx), a); err != nil {
		c.log.LogAttrs(ctx, slog.LevelError, "audit cross-tenant attempt failed",
			slog.String("token_id", a.TokenID), slog.String("tenant_id", string(a.RequestTenant)), slog.Any("error", err))
	}
}

// Handler is Require with the zero Requirement: any valid token of the
// request's tenant passes.
func (c *Checker) Handler(next http.Handler) http.Handler { return c.Require(Requirement{})(next) }

// Require returns middleware that runs CheckRequest with req and either
// calls next with the token in the request context (FromContext) or writes
// the refusal through Options.ErrorHandler. It must run after
// tenant.Middleware. A Verifier failure blocks the request (503): tokens
// are never waved through because the store is down.
//
//	mux.Handle("POST /api/readings", c.Require(tokenscope.AllOf("readings:write"))(h))
func (c *Checker) Require(req Requirement) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			tok, e := c.checkRequest(r, req)
			if e != nil {
				c.refuse(w, r, tok, e)
				return
			}
			next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), tok)))
		})
	}
}

// Authenticate returns middleware for the front of a chain that resolves the
// tenant from the token (tenant.Claim(TenantClaim)): it runs steps 1 to 5 of
// Check (a valid, unexpired, unrevoked token bound to a tenant), refuses
// with 401 otherwise, and calls next with the token in the context. It does
// not compare tenants: a Handler or Require later in the chain must, and
// reuses the verification instead of repeating it.
func (c *Checker) Authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cred, err := CredentialFromRequest(r)
		if err != nil {
			c.refuse(w, r, Token{}, err.(*Error))
			return
		}
		tok, e := c.authenticate(r.Context(), cred)
		if e != nil {
			c.refuse(w, r, tok, e)
			return
		}
		ctx := context.WithValue(NewContext(r.Context(), tok), verifiedKey{}, &verified{by: c, cred: cred, tok: tok})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func (c *Checker) refuse(w http.ResponseWriter, r *http.Request, tok Token, e *Error) {
	if e.Kind != ErrTenantMismatch { // logged by audit already
		level := slog.LevelInfo
		if e.Kind == ErrUnavailable {
			level = slog.LevelError
		}
		attrs := []slog.Attr{
			slog.String("reason", e.Code),
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.String("client_ip", c.clientIP(r)),
		}
		if tok.ID != "" {
			attrs = append(attrs, slog.String("token_id", tok.ID))
		}
		if id := tenant.IDFromContext(r.Context()); !id.IsZero() {
			attrs = append(attrs, slog.String("tenant_id", string(id)))
		}
		if e.Err != nil {
			attrs = append(attrs, slog.Any("error", e))
		}
		c.log.LogAttrs(r.Context(), level, "token rejected", attrs...)
	}
	c.onError(w, r, e)
}

// TenantErrorHandler returns an error handler for
// tenant.MiddlewareOptions.ErrorHandler that closes the one gap Check
// cannot see: when the tenant is resolved with tenant.Claim(TenantClaim) in
// a tenant.Chain and the token's tenant disagrees with the host or path,
// tenant.Middleware refuses the request (400 tenant_conflict) before the
// Checker runs. This handler reports that conflict to the Auditor as a
// cross-tenant Attempt (RequestTenant is then the key the URL named, e.g. a
// slug) and then calls next, or, when next is nil, writes the tenant error
// as tenant.Middleware does by default.
func (c *Checker) TenantErrorHandler(next func(w http.ResponseWriter, r *http.Request, err error)) func(w http.ResponseWriter, r *http.Request, err error) {
	return func(w http.ResponseWriter, r *http.Request, err error) {
		var ce *tenant.ConflictError
		if tok, ok := verifiedToken(r.Context()); ok && errors.As(err, &ce) {
			var other string
			switch {
			case ce.First.Source == tenant.SourceClaim:
				other = ce.Second.Key
			case ce.Second.Source == tenant.SourceClaim:
				other = ce.First.Key
			}
			if other != "" {
				c.audit(r.Context(), tok, tenant.ID(other), r)
			}
		}
		if next != nil {
			next(w, r, err)
			return
		}
		status, code, msg := http.StatusBadRequest, "tenant_error", "tenant resolution failed"
		var te *tenant.Error
		if errors.As(err, &te) {
			status, code, msg = te.Status, te.Code, te.Message
		}
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(errorBody{Error: code, Message: msg})
	}
}
