package tenant

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
)

// Error codes in Error.Code and in the "error" member of the JSON body that
// Middleware writes.
const (
	CodeTenantRequired      = "tenant_required"        // no source answered (404, or 400 for a header)
	CodeInvalidTenant       = "invalid_tenant"         // a source answered with an unusable key (400)
	CodeTenantConflict      = "tenant_conflict"        // two sources disagree (400)
	CodeUnknownTenant       = "unknown_tenant"         // the directory does not know the key (404)
	CodeTenantSuspended     = "tenant_suspended"       // the tenant is not active (403)
	CodeDirectoryFailed     = "tenant_unavailable"     // the directory failed (503)
	CodeResolverFailed      = "tenant_resolver_failed" // a custom resolver failed (500)
	CodeTenantPathMalformed = "tenant_path_malformed"  // StripPrefix does not match the path (500)
)

// Error is a tenant resolution failure as Middleware answers it: the HTTP
// status, a stable machine-readable code, a message safe to show to the
// client, and the cause (which may hold details not meant for the client).
// A custom Resolver may return one to choose the answer; a Status outside
// 400..599 is answered as 500, so a failure never looks like success.
type Error struct {
	// Status is the HTTP status Middleware answers (400, 403, 404, 500, 503).
	Status int
	// Code is one of the Code constants: stable, for programs.
	Code string
	// Message is a short text for people, safe to send to the client.
	Message string
	// Err is the cause; it may name keys and backend errors, so it is
	// logged but never sent to the client.
	Err error
}

// Error returns the message and the cause.
func (e *Error) Error() string {
	if e.Err == nil {
		return "tenant: " + e.Message
	}
	return "tenant: " + e.Message + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// MiddlewareOptions configures a Middleware. The zero value, like a nil
// pointer, means every default.
type MiddlewareOptions struct {
	// ErrorHandler writes the response for a failed resolution; err is
	// always an *Error. Default: the status of the *Error with the JSON body
	// {"error": Code, "message": Message}. It must not call the next handler:
	// resolution failures fail closed.
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)
	// Logger receives one record per failed resolution (Debug for client
	// errors, Warn for directory and resolver failures), with the status,
	// code, source and tenant key but never request headers or credentials.
	// Default: discard.
	Logger *slog.Logger
}

// Middleware resolves the tenant of each request (Resolver), looks it up
// (Directory), refuses it unless it is active, and serves the next handler
// with the tenant in the request context. It fails closed: every failure
// answers an error and the next handler never runs without the tenant it
// asked for (see the package documentation for each status).
//
// A Middleware is safe for concurrent use and is not modified after
// NewMiddleware. Its zero value is not usable.
type Middleware struct {
	r       Resolver
	d       Directory
	cache   *Cache // d, when it is a *Cache: looked up without copying the Tenant
	onError func(w http.ResponseWriter, r *http.Request, err error)
	log     *slog.Logger
}

// NewMiddleware returns a Middleware resolving with r and looking tenants up
// in d (usually a *Cache). A nil opts means defaults. It panics if r or d is
// nil.
func NewMiddleware(r Resolver, d Directory, opts *MiddlewareOptions) *Middleware {
	if r == nil || d == nil {
		panic("tenant: NewMiddleware: nil Resolver or Directory")
	}
	var o MiddlewareOptions
	if opts != nil {
		o = *opts
	}
	m := &Middleware{r: r, d: d, onError: o.ErrorHandler, log: o.Logger}
	if c, ok := d.(*Cache); ok {
		m.cache = c
	}
	if m.onError == nil {
		m.onError = writeError
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	return m
}

// Resolve makes the decision of Handler without HTTP: it returns the active
// tenant of r and the candidate it came from, or an *Error that wraps the
// cause (ErrNoCandidate, ErrInvalidKey, *ConflictError, ErrNotFound, a
// directory error) and carries the status Handler would answer.
func (m *Middleware) Resolve(r *http.Request) (Tenant, Candidate, error) {
	t, c, _, err := m.resolve(r)
	if err != nil {
		return Tenant{}, c, err
	}
	return *t, c, nil
}

// resolve returns the tenant and its candidate. When the candidate has a
// StripPrefix, it also returns a tenantURLCtx that holds the URL the next
// handler gets, for the caller to complete with the tenant context.
func (m *Middleware) resolve(r *http.Request) (*Tenant, Candidate, *tenantURLCtx, error) {
	c, err := m.r.Resolve(r)
	if err == nil && c.Key == "" {
		err = ErrNoCandidate // a custom resolver's empty answer is no answer
	}
	if err != nil {
		return nil, c, nil, classifyResolveErr(err)
	}
	var uc *tenantURLCtx
	if c.StripPrefix != "" {
		uc = new(tenantURLCtx)
		if !stripPath(&uc.u, r.URL, c.StripPrefix) {
			return nil, c, nil, &Error{Status: http.StatusInternalServerError, Code: CodeTenantPathMalformed,
				Message: "tenant path prefix does not match the request path",
				Err:     fmt.Errorf("tenant: strip prefix %q from path %q", c.StripPrefix, truncate(r.URL.EscapedPath(), 256))}
		}
	}
	var t *Tenant
	if m.cache != nil {
		t, err = m.cache.lookup(r.Context(), c.Key)
	} else {
		var v Tenant
		v, err = m.d.Lookup(r.Context(), c.Key)
		switch {
		case err == nil && v.ID.IsZero():
			err = errEmptyID
		case err == nil:
			t = &v
		}
	}
	switch {
	case err == nil:
	case errors.Is(err, ErrNotFound):
		return nil, c, nil, &Error{Status: http.StatusNotFound, Code: CodeUnknownTenant, Message: "unknown tenant", Err: err}
	default:
		return nil, c, nil, &Error{Status: http.StatusServiceUnavailable, Code: CodeDirectoryFailed, Message: "tenant directory unavailable", Err: err}
	}
	if !t.Active() {
		return nil, c, nil, &Error{Status: http.StatusForbidden, Code: CodeTenantSuspended, Message: "tenant is not active",
			Err: fmt.Errorf("tenant: tenant %q has status %q", t.ID, t.Status)}
	}
	return t, c, uc, nil
}

func classifyResolveErr(err error) *Error {
	var te *Error
	if errors.As(err, &te) { // a custom resolver chose the answer, whatever its cause
		return te
	}
	var ce *ConflictError
	switch {
	case errors.Is(err, ErrNoCandidate):
		if noCandidateSource(err) == SourceHeader {
			return &Error{Status: http.StatusBadRequest, Code: CodeTenantRequired, Message: "tenant header required", Err: err}
		}
		return &Error{Status: http.StatusNotFound, Code: CodeTenantRequired, Message: "no tenant in request", Err: err}
	case errors.As(err, &ce):
		return &Error{Status: http.StatusBadRequest, Code: CodeTenantConflict, Message: "conflicting tenants in request", Err: err}
	case errors.Is(err, ErrInvalidKey):
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidTenant, Message: "invalid tenant key", Err: err}
	}
	return &Error{Status: http.StatusInternalServerError, Code: CodeResolverFailed, Message: "tenant resolution failed", Err: err}
}

// Handler returns a handler that serves next with the resolved tenant in
// the request context (see FromContext), and with Candidate.StripPrefix
// removed from the path when set. It never modifies the incoming request:
// next gets a shallow copy. Every failure, including a request without any
// tenant candidate, is answered by the error handler and next does not run.
func (m *Middleware) Handler(next http.Handler) http.Handler {
	return m.handler(next, false)
}

// Optional is Handler for routes that may also run without a tenant (a
// landing page, a health check): when no source answers, next runs with a
// context that holds no tenant, even if an outer layer had set one. Every
// other failure (an unknown, suspended or conflicting tenant, an invalid
// key, a directory failure) still fails closed exactly as in Handler.
// Optional is an explicit opt-in per route, never a default.
func (m *Middleware) Optional(next http.Handler) http.Handler {
	return m.handler(next, true)
}

func (m *Middleware) handler(next http.Handler, optional bool) http.Handler {
	if next == nil {
		panic("tenant: Middleware: nil next handler")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t, c, uc, err := m.resolve(r)
		if err != nil {
			if optional && errors.Is(err, ErrNoCandidate) {
				ctx := r.Context()
				if _, had := FromContext(ctx); had {
					ctx = NewContext(ctx, Tenant{})
					r = r.WithContext(ctx)
				}
				next.ServeHTTP(w, r)
				return
			}
			m.fail(w, r, c, err)
			return
		}
		if uc == nil {
			next.ServeHTTP(w, r.WithContext(newContextShared(r.Context(), t)))
			return
		}
		uc.c = tenantCtx{Context: r.Context(), t: t}
		r2 := r.WithContext(&uc.c)
		r2.URL = &uc.u
		next.ServeHTTP(w, r2)
	})
}

func (m *Middleware) fail(w http.ResponseWriter, r *http.Request, c Candidate, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = classifyResolveErr(err)
	}
	level := slog.LevelDebug
	if e.Status >= 500 {
		level = slog.LevelWarn
	}
	if m.log.Enabled(r.Context(), level) {
		attrs := []slog.Attr{
			slog.Int("status", e.Status),
			slog.String("code", e.Code),
			slog.String("method", r.Method),
			slog.String("path", truncate(r.URL.Path, 256)),
		}
		if c.Key != "" {
			attrs = append(attrs, slog.String("source", c.Source), slog.String("key", c.Key))
		}
		var ce *ConflictError
		if errors.As(e, &ce) {
			attrs = append(attrs,
				slog.String("source", ce.First.Source), slog.String("key", ce.First.Key),
				slog.String("other_source", ce.Second.Source), slog.String("other_key", ce.Second.Key))
		}
		if e.Err != nil {
			attrs = append(attrs, slog.String("error", e.Err.Error()))
		}
		m.log.LogAttrs(r.Context(), level, "tenant resolution failed", attrs...)
	}
	m.onError(w, r, e)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// writeError is the default error handler: JSON {"error": code, "message":
// message} with the status of the *Error.
func writeError(w http.ResponseWriter, _ *http.Request, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{Status: http.StatusInternalServerError, Code: CodeResolverFailed, Message: "tenant resolution failed"}
	}
	status := e.Status
	if status < 400 || status > 599 { // a custom resolver's *Error must still fail
		status = http.StatusInternalServerError
	}
	body, _ := json.Marshal(struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}{e.Code, e.Message})
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
