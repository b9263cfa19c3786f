package tokenscope

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/tenantkit/tenantkit/tenant"
)

// Token is a verified API token as the Checker sees it. A Token is a value:
// it carries no secret and is safe to log, copy and share between goroutines.
// The zero value is not a token: its ID is empty and the Checker rejects it.
type Token struct {
	// ID identifies the token. It is not secret: it appears in audit records
	// and logs and is what Revoke takes.
	ID string `json:"id"`
	// TenantID is the only tenant the token works for. The empty ID means
	// "no tenant" and such a token is always rejected.
	TenantID tenant.ID `json:"tenant_id"`
	// Scopes are the permissions granted, compared as exact, case-sensitive
	// strings (RFC 6749 section 3.3).
	Scopes []string `json:"scopes"`
	// ExpiresAt is the first instant at which the token no longer works.
	// The zero time means it never expires.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// RevokedAt is when the token was revoked; the zero time means it is not.
	// Verifiers that know about revocation set it (or return ErrRevoked) so
	// that the Checker refuses the token.
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

// HasScope reports whether the token grants scope.
func (t Token) HasScope(scope string) bool { return slices.Contains(t.Scopes, scope) }

// Expired reports whether the token has expired at now. A token expires at
// ExpiresAt exactly, not one tick later.
func (t Token) Expired(now time.Time) bool {
	return !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt)
}

// Revoked reports whether the token has been revoked.
func (t Token) Revoked() bool { return !t.RevokedAt.IsZero() }

// Secret is a raw bearer credential. It redacts itself wherever it could be
// printed: fmt verbs, log/slog, encoding/json and encoding/text all see
// "[REDACTED]". Only an explicit string(s) conversion reveals it, which is
// what a Verifier does to compare it. The zero value is "no credential".
type Secret string

const redacted = "[REDACTED]"

// String returns "[REDACTED]", never the secret.
func (Secret) String() string { return redacted }

// GoString returns "[REDACTED]", so %#v does not print the secret either.
func (Secret) GoString() string { return redacted }

// LogValue implements slog.LogValuer: a Secret logged under any key shows
// as "[REDACTED]".
func (Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText implements encoding.TextMarshaler (and so JSON) with
// "[REDACTED]".
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// Verifier turns a raw bearer credential into the Token it stands for.
//
// The contract, which the Checker relies on to fail closed:
//   - an unknown, malformed or wrong credential returns an error wrapping
//     ErrInvalidToken;
//   - an expired or revoked token returns an error wrapping ErrExpired or
//     ErrRevoked (or the Token with ExpiresAt/RevokedAt set: the Checker
//     checks both itself);
//   - any other error means the verifier could not decide (database down):
//     the Checker refuses the request with 503 and never lets it through.
//
// Implementations must be safe for concurrent use and must never put the
// credential into an error or a log line.
type Verifier interface {
	Verify(ctx context.Context, credential Secret) (Token, error)
}

// VerifierFunc adapts a function to a Verifier.
type VerifierFunc func(ctx context.Context, credential Secret) (Token, error)

// Verify calls f(ctx, credential).
func (f VerifierFunc) Verify(ctx context.Context, credential Secret) (Token, error) {
	return f(ctx, credential)
}

// Revoker is the optional power of a Verifier that can revoke tokens by ID.
// SQLStore implements it; CachedVerifier passes it through and forgets the
// token locally at once.
type Revoker interface {
	Revoke(ctx context.Context, id string) error
}

type ctxKey struct{}

// NewContext returns a copy of ctx carrying the verified token t. The
// Checker's middleware calls it; later middleware (a per-token rate limit
// key, a monitor) reads it back with FromContext.
func NewContext(ctx context.Context, t Token) context.Context {
	return context.WithValue(ctx, ctxKey{}, t)
}

// FromContext returns the verified token carried by ctx. It reports false
// when ctx has none or the token has an empty ID.
func FromContext(ctx context.Context) (Token, bool) {
	t, ok := ctx.Value(ctxKey{}).(Token)
	if !ok || t.ID == "" {
		return Token{}, false
	}
	return t, true
}

// TenantClaim reads the tenant of the verified token in ctx, in the shape
// tenant.Claim wants:
//
//	tenant.Chain(tenant.Subdomain("example.com"), tenant.Claim(tokenscope.TenantClaim))
//
// It answers only for a token that Checker.Authenticate verified earlier in
// the chain (a mark only this package can set; a Token put into the context
// with NewContext does not count), so an unverified Authorization header can
// never choose a tenant. Inside a tenant.Chain the claim is one more source
// that must agree with the host or path: the token never silently overrides
// the URL, a disagreement is a conflict (400). The key is the token's tenant
// ID as a string, so the tenant.Directory behind the chain must accept tenant
// IDs as keys (or use TenantClaimFunc to map the ID to the directory's key).
func TenantClaim(ctx context.Context) (string, bool) {
	t, ok := verifiedToken(ctx)
	if !ok {
		return "", false
	}
	return string(t.TenantID), true
}

// TenantClaimFunc is TenantClaim with the tenant ID mapped to a directory key
// (for example an ID to its slug) by key. A false from key means no answer.
func TenantClaimFunc(key func(ctx context.Context, id tenant.ID) (string, bool)) func(context.Context) (string, bool) {
	return func(ctx context.Context) (string, bool) {
		t, ok := verifiedToken(ctx)
		if !ok {
			return "", false
		}
		return key(ctx, t.TenantID)
	}
}

// verifiedToken returns the token Authenticate verified for this request.
func verifiedToken(ctx context.Context) (Token, bool) {
	v, ok := ctx.Value(verifiedKey{}).(*verified)
	if !ok || v.tok.ID == "" || v.tok.TenantID.IsZero() {
		return Token{}, false
	}
	return v.tok, true
}
