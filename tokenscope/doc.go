// Package tokenscope makes API tokens work only inside their own tenant.
//
// This is the token-scoping part of tenantkit's API security guide (the
// rate-limit part is the documentation of package ratelimit). It gives a
// net/http service a bearer-token check that is bound to the tenant the
// request is for, per-route scopes, an audit trail of cross-tenant attempts,
// and a ready SQL token store.
//
// # The check
//
// A Checker verifies the bearer token of a request with a Verifier and
// compares the token with the tenant that tenant.Middleware put into the
// request context. Check (no HTTP) and the middleware (Handler, Require) run
// the same eight steps, in this order, and every missing piece refuses the
// request; nothing is ever waved through because a side is absent:
//
//	step                                   error                 response
//	1 a credential is present              ErrNoCredential       401 WWW-Authenticate: Bearer
//	2 the token is known and well formed   ErrInvalidToken       401 Bearer error="invalid_token"
//	3 it has not expired                   ErrExpired            401 Bearer error="invalid_token"
//	4 it has not been revoked              ErrRevoked            401 Bearer error="invalid_token"
//	5 the token is bound to a tenant       ErrNoTokenTenant      401 Bearer error="invalid_token"
//	6 the request has a tenant             ErrNoRequestTenant    403 {"error":"tenant_required"}
//	7 both tenants are the same            ErrTenantMismatch     403 Bearer error="tenant_mismatch"
//	8 the token has the route's scopes     ErrInsufficientScope  403 Bearer error="insufficient_scope", scope="..."
//	  (the Verifier could not decide)      ErrUnavailable        503, Retry-After: 1
//
// Each error is an *Error (Status, Code, Message, Scope) wrapping one of the
// sentinels, for errors.Is. Bodies are JSON: {"error": code, "message":
// text} plus "scope" for insufficient_scope, sent with Cache-Control:
// no-store. The original design this package replaces let a request through
// whenever the token's or the request's tenant was missing; here both must
// be present and equal.
//
// Tenant IDs are compared as typed tenant.ID values, exactly: "0", "" and
// "00000000-0000-0000-0000-000000000000" are three different IDs, and the
// empty ID is never a tenant, on either side.
//
// Every refusal at step 7 is a cross-tenant attempt: the Checker logs it at
// warning level and reports it to the Auditor with the token ID (never its
// secret), both tenants, method, path, client IP (Options.ClientIP, default
// the RemoteAddr host) and time. The demo writes these into audit_logs,
// which the monitor package counts.
//
// # Composing with net/http
//
// The Checker runs after tenant.Middleware, which resolves the tenant from
// the host or path and fails closed on its own. Scopes are per route:
//
//	check := tokenscope.New(tokenscope.NewCachedVerifier(store, nil), &tokenscope.Options{Auditor: auditor})
//	read := check.Require(tokenscope.AnyOf("readings:read", "readings:write"))
//	write := check.Require(tokenscope.AllOf("readings:write"))
//	mux.Handle("GET /api/readings", read(listReadings))
//	mux.Handle("POST /api/readings", write(createReading))
//	srv := tenants.Handler(mux) // tenant.Middleware outside, tokenscope inside
//
// The middleware never changes the incoming request: the next handler gets a
// copy whose context carries the Token (FromContext), so later middleware
// can key rate limits by token or record usage per token. Options.ErrorHandler
// replaces the JSON refusal; WriteError is the default.
//
// With package ratelimit, the order of the demo is: a guest limiter keyed by
// client IP that charges only refused credentials (401 invalid_token and
// 403 tenant_mismatch) in front of the Checker (so token guessing and
// cross-tenant probing are throttled per address), and the plan
// limiter behind it, where the tenant is authenticated. To give each token
// its own limit there, key by the verified token's ID rather than by the
// credential:
//
//	ratelimit.Options{Key: func(r *http.Request) string {
//		if t, ok := tokenscope.FromContext(r.Context()); ok {
//			return "apitoken:" + t.ID
//		}
//		return ""
//	}}
//
// # The token never overrides the URL
//
// When a host or path names the tenant, the token cannot pick another one:
// the token's tenant is compared with the URL's (step 7) and a mismatch is
// refused with 403. Where the URL names no tenant (a shared API host), the
// token's own tenant may choose it: put Authenticate in front, and
// tenant.Claim(TenantClaim) as one more source in a tenant.Chain. The chain
// requires every source that answers to agree, so a token of A on B's host
// is a conflict (400), never B's data; TenantErrorHandler reports that
// conflict to the Auditor too. Claims are read only from a token that
// Authenticate verified, never from a raw header.
//
// # Bearer credentials
//
// ParseBearer accepts "Authorization: Bearer <token>" with a
// case-insensitive scheme and exactly one token of the RFC 6750 b64token
// characters, plus "|" (the separator of this package's "<id>|<secret>"
// tokens), at most 1024 bytes. Another scheme counts as no credential; a
// malformed Bearer value, or two Authorization headers, is invalid_token.
//
// Credentials are Secret values: fmt, log/slog (LogValuer) and encoding/json
// all print "[REDACTED]", and no error or log line of this package contains
// one. Only an explicit string(secret) reveals it.
//
// # The SQL token store
//
// SQLStore keeps tokens in one table (api_tokens by default) over
// database/sql, on PostgreSQL, MySQL/MariaDB and SQLite, with the dialect
// detected from the driver; the package imports no driver. CreateSchema
// creates it: id primary key, tenant_id NOT NULL (VARCHAR(64) by default;
// SQLStoreOptions.TenantColumnType "BIGINT" for integer tenant keys, written
// and read as decimal strings), secret_hash (32 bytes), scopes, name,
// created_at, expires_at, revoked_at, last_used_at.
//
// Issue returns the credential once, as "<id>|<secret>": the ID is 80 random
// bits in 16 lower-case base32 characters, the secret 256 random bits in
// base64url, both from crypto/rand. Only SHA-256(secret) is stored. A fast
// hash is right here because the secret is a uniformly random 256-bit
// value, not a password: there is nothing to brute-force offline, so a slow
// KDF would only slow every request down.
//
// Verify parses the credential, looks the ID up (the lookup never uses the
// secret or its hash) and compares SHA-256(secret) with the stored hash with
// crypto/subtle.ConstantTimeCompare over all 32 bytes. Nothing compares the
// secret before that, and an unknown ID is compared against a fixed dummy
// hash, so every well-formed credential costs one hash and one full
// comparison; the tests prove it through a seam that counts the
// comparisons. The lookup by ID may take a little longer or shorter for a
// known ID than for an unknown one; that reveals only whether an ID exists,
// and IDs are not secret (they appear in logs and audit records).
//
// Revoke sets revoked_at; tokens are never deleted so the audit trail keeps
// their IDs. Expired and revoked tokens are refused by Verify and, again, by
// the Checker.
//
// last_used_at is advisory and kept off the request path: Verify only notes
// a use in memory, at most once per token per LastUsedInterval (default one
// minute, judged against the stored value), and Flush or the Run loop the
// application starts writes the notes with one conditional UPDATE per token.
// If the process dies, at most one interval of uses is lost.
//
// # Caching and the revocation bound
//
// NewCachedVerifier puts a small cache in front of any Verifier, so that
// Check for a known token costs a map lookup (about 200 ns, no allocation)
// instead of a database round trip. Its bound is documented and tested: a
// token revoked elsewhere keeps working for at most CacheOptions.TTL
// (default 5 s) after the revocation; revoked through CachedVerifier.Revoke
// (or Invalidate), it stops at once on that instance. Expiry stays exact.
// Failures are never cached.
//
// # Failure semantics
//
// Every failure blocks: a Verifier error is 503, never a pass. The Auditor is
// called synchronously on the rejection path only; its failure is logged and
// does not change the refusal. Checker, CachedVerifier and SQLStore are safe
// for concurrent use.
package tokenscope
