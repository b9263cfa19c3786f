package tokenscope

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
)

// Sentinels for errors.Is, one per step of the check plus verifier failure.
// Every error the Checker returns is an *Error that wraps exactly one of them.
var (
	// ErrNoCredential: the request carries no bearer token (401).
	ErrNoCredential = errors.New("tokenscope: no bearer token")
	// ErrInvalidToken: the credential is malformed, unknown or wrong (401).
	ErrInvalidToken = errors.New("tokenscope: invalid token")
	// ErrExpired: the token expired (401).
	ErrExpired = errors.New("tokenscope: token expired")
	// ErrRevoked: the token was revoked (401).
	ErrRevoked = errors.New("tokenscope: token revoked")
	// ErrNoTokenTenant: the token is not bound to any tenant (401). Such a
	// token can never be used, so it is a credential problem.
	ErrNoTokenTenant = errors.New("tokenscope: token has no tenant")
	// ErrNoRequestTenant: the request has no tenant in its context (403).
	// A token-protected route must run behind tenant.Middleware.
	ErrNoRequestTenant = errors.New("tokenscope: request has no tenant")
	// ErrTenantMismatch: the token belongs to another tenant (403). It is
	// reported to the Auditor.
	ErrTenantMismatch = errors.New("tokenscope: token belongs to another tenant")
	// ErrInsufficientScope: the token lacks a scope the route requires (403).
	ErrInsufficientScope = errors.New("tokenscope: insufficient scope")
	// ErrUnavailable: the Verifier failed to decide, e.g. its database is
	// down (503). The request is refused, never let through.
	ErrUnavailable = errors.New("tokenscope: token verifier unavailable")
	// ErrTokenNotFound is returned by Revoke for an ID no token has.
	ErrTokenNotFound = errors.New("tokenscope: no token with this id")
)

// Error is a refused check: what the client is told and why. It never
// contains the credential. Error is what Checker.Check returns, and
// WriteError turns it into the HTTP response.
type Error struct {
	// Status is the HTTP status: 401, 403 or 503.
	Status int
	// Code is the RFC 6750 error code ("invalid_token", "insufficient_scope")
	// or tenantkit's own ("tenant_mismatch", "tenant_required",
	// "missing_token", "verifier_unavailable"). It is the "error" member of
	// the JSON body and, for 401 and 403 with a token, of the
	// WWW-Authenticate challenge. Empty only for internal use.
	Code string
	// Message is a short human description, safe to show to the client.
	Message string
	// Scope names the required scopes (space separated) for
	// insufficient_scope; empty otherwise.
	Scope string
	// Kind is the sentinel this error wraps (ErrExpired, ...).
	Kind error
	// Err is the underlying cause, such as the Verifier's error, or nil.
	// It is for logs and errors.Is, never sent to the client.
	Err error
}

// Error returns the sentinel's text and the cause, if any.
func (e *Error) Error() string {
	s := e.Kind.Error()
	if e.Scope != "" {
		s += " (requires " + e.Scope + ")"
	}
	if e.Err != nil && !errors.Is(e.Err, e.Kind) {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the sentinel and the cause, for errors.Is and errors.As.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

func newError(kind error, cause error) *Error {
	e := &Error{Kind: kind, Err: cause}
	switch kind {
	case ErrNoCredential:
		e.Status, e.Code, e.Message = http.StatusUnauthorized, "missing_token", "a bearer token is required"
	case ErrInvalidToken:
		e.Status, e.Code, e.Message = http.StatusUnauthorized, "invalid_token", "the access token is invalid"
	case ErrExpired:
		e.Status, e.Code, e.Message = http.StatusUnauthorized, "invalid_token", "the access token expired"
	case ErrRevoked:
		e.Status, e.Code, e.Message = http.StatusUnauthorized, "invalid_token", "the access token was revoked"
	case ErrNoTokenTenant:
		e.Status, e.Code, e.Message = http.StatusUnauthorized, "invalid_token", "the access token is not bound to a tenant"
	case ErrNoRequestTenant:
		e.Status, e.Code, e.Message = http.StatusForbidden, "tenant_required", "the request does not name a tenant"
	case ErrTenantMismatch:
		e.Status, e.Code, e.Message = http.StatusForbidden, "tenant_mismatch", "the access token is not valid for this tenant"
	case ErrInsufficientScope:
		e.Status, e.Code, e.Message = http.StatusForbidden, "insufficient_scope", "the access token lacks a required scope"
	default:
		e.Kind = ErrUnavailable
		e.Status, e.Code, e.Message = http.StatusServiceUnavailable, "verifier_unavailable", "the token could not be verified, try again later"
	}
	return e
}

// asError returns err as an *Error, wrapping anything else as ErrUnavailable
// so that an unexpected error still refuses the request.
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return newError(ErrUnavailable, err)
}

// Challenge returns the WWW-Authenticate value for e, or "" when the
// response carries none (503, a request without a tenant). realm may be
// empty. Every value is a constant or a validated scope list, so nothing
// needs escaping beyond the realm.
func (e *Error) Challenge(realm string) string {
	var b strings.Builder
	b.WriteString("Bearer")
	sep := " "
	param := func(k, v string) {
		b.WriteString(sep)
		sep = ", "
		b.WriteString(k)
		b.WriteString(`="`)
		b.WriteString(v)
		b.WriteByte('"')
	}
	if realm != "" {
		param("realm", quoteEscape(realm))
	}
	switch e.Kind {
	case ErrNoCredential:
		// RFC 6750 section 3.1: no error code when no credential was sent.
	case ErrInvalidToken, ErrExpired, ErrRevoked, ErrNoTokenTenant:
		param("error", "invalid_token")
		param("error_description", e.Message)
	case ErrTenantMismatch:
		param("error", "tenant_mismatch")
		param("error_description", e.Message)
	case ErrInsufficientScope:
		param("error", "insufficient_scope")
		param("error_description", e.Message)
		param("scope", e.Scope)
	default:
		return ""
	}
	return b.String()
}

func quoteEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		if c < 0x20 || c == 0x7f {
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

type errorBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
	Scope   string `json:"scope,omitempty"`
}

// WriteError writes the standard response for err: its status, a
// WWW-Authenticate challenge for 401 and 403 (with realm when non-empty),
// Cache-Control: no-store and a JSON body {"error": code, "message": text,
// "scope": required}. An err that is not an *Error is answered as 503.
func WriteError(w http.ResponseWriter, realm string, err error) {
	e := asError(err)
	h := w.Header()
	if c := e.Challenge(realm); c != "" {
		h.Set("WWW-Authenticate", c)
	}
	if e.Status == http.StatusServiceUnavailable {
		h.Set("Retry-After", "1")
	}
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(errorBody{Error: e.Code, Message: e.Message, Scope: e.Scope})
}
