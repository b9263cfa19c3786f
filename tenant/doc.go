// Package tenant carries the current tenant of a request in its context and
// resolves it from the request at the edge of a net/http service.
//
// # The tenant in a context
//
// A tenant travels only in a context.Context: NewContext stores it,
// FromContext and Require read it. No package variable ever holds "the
// current tenant", so work outside a request (a goroutine, a job) gets its
// tenant from the context it is handed (see Detach), never from ambient
// state. A goroutine started with context.Background() has no tenant, and
// every tenant-scoped operation (DB.Tx, and the other tenantkit packages)
// refuses it with ErrNoTenant.
//
// # Resolving the tenant of a request
//
// A Resolver reads a Candidate (a key and the source it came from) from a
// request:
//
//   - Subdomain: one DNS label below configured base domains
//     ("acme.example.com" with base "example.com" gives "acme"), port
//     ignored, case-insensitive, IP hosts never answer.
//   - PathPrefix: the first segment after a prefix ("/t/acme/api" with
//     prefix "/t/" gives "acme"); Middleware strips "/t/acme" before calling
//     the next handler, on a copy of the request.
//   - PathValue: a wildcard of a ServeMux pattern, for per-route use.
//   - Header: a request header, off unless marked trusted (only a proxy you
//     control can make a header trustworthy).
//   - Claim: the tenant of a principal a previous middleware verified.
//
// Chain asks several sources; all that answer must agree on the key exactly,
// else the request is refused with a *ConflictError. A subdomain saying "b"
// with a path saying "a" is an error, never a silent preference.
//
// Keys are validated before any lookup: subdomain keys are lower-cased DNS
// labels; path, header and claim keys are 1 to MaxKeyLen bytes of ASCII
// letters, digits, '-', '_', '.' and '~' (not "." or ".."), compared
// case-sensitively. Hostile input (IP literals, hosts that merely start with
// a base domain, encoded slashes, control characters, very long values) is
// refused before it reaches the Directory.
//
// Trust: Subdomain reads the Host of the request as net/http parsed it (the
// absolute request target wins over the Host header). Behind a proxy, make
// the proxy forward the original Host; tenantkit never reads
// X-Forwarded-Host, which any client can send.
//
// # Looking the tenant up
//
// A Directory maps the key to a Tenant (the application's tenant table).
// Cache puts a small TTL cache in front of it: found tenants for 30s by
// default, unknown keys for 5s (so repeated requests for a bad key do not
// reach the database), directory errors never. Concurrent misses for one key
// share one lookup. The number of keys is bounded: a flood of distinct bad
// keys can evict good entries, which costs lookups, never correctness, and
// each distinct unknown key still costs one directory lookup, so limit
// clients by IP in front of Middleware if such floods matter. A tenant
// suspended in the directory may keep being served until its cache entry
// expires or is invalidated (Cache.Invalidate).
//
// # Middleware and its failure modes
//
// Middleware composes a Resolver and a Directory. Handler fails closed: the
// next handler runs only with an active tenant in its context. Each failure
// answers a JSON body {"error": code, "message": text} (replaceable with
// MiddlewareOptions.ErrorHandler) with:
//
//   - 404 tenant_required: no source answered (no tenant subdomain, no
//     tenant path segment, no claim). 400 tenant_required when the missing
//     source is a trusted Header: a client meant to send it did not.
//   - 400 invalid_tenant: a source answered with something that cannot be a
//     key ("-x.example.com", "/t/a%2Fb/", a header value with a comma).
//   - 400 tenant_conflict: two sources answered different keys.
//   - 404 unknown_tenant: the directory does not know the key (ErrNotFound).
//     Deleted and never-existing tenants look the same to the client.
//   - 403 tenant_suspended: the tenant's Status is not StatusActive (an
//     unrecognised status counts as suspended).
//   - 503 tenant_unavailable: the directory failed (database down, timeout,
//     or a tenant without an ID): requests are blocked, never let through
//     without a tenant.
//   - 500 tenant_resolver_failed: a custom resolver returned another error.
//   - 500 tenant_path_malformed: a custom resolver's StripPrefix does not
//     match the request path.
//
// Optional is the explicit opt-in for routes that may also run without a
// tenant: when no source answers, the next handler runs with no tenant in
// its context; every other failure above still fails closed. There is no
// default skipper.
//
// Middleware logs each failure once to an injected *slog.Logger (nil
// discards): status, code, method, path (without the query), source, key and
// the cause, never request headers, cookies or credentials. Client errors
// log at Debug, directory and resolver failures at Warn. The decision is
// available without HTTP as Middleware.Resolve, which returns the same
// *Error the handler answers.
//
// Middleware never modifies the incoming request: the next handler gets a
// shallow copy with the new context and, for a path tenant, a copy of the
// URL whose Path and RawPath both lack the tenant prefix. With a Cache hit a
// request costs two allocations, the shallow copy and one that holds the
// tenant context (and, for a path tenant, the copied URL), and one read of
// the monotonic clock; the cached Tenant is shared, never copied.
//
// # Tenant-scoped transactions
//
// DB runs database/sql transactions for the tenant of a context. Tx refuses a
// context without a tenant (ErrNoTenant) before touching the database. On
// PostgreSQL it sets the tenant for row-level security with
// set_config('app.tenant_id', id, true) inside the transaction, never a
// session-level SET, so the setting dies with the transaction and a pooled
// connection carries nothing into the next request. SystemTx is the explicit
// cross-tenant mode (reports, administration) and requires a context marked
// by WithSystem; it sets 'app.cross_tenant' to 'on' for its own transaction
// only, and every Tx sets it to 'off', so the mode never leaks, even past a
// session-level SET left on a pooled connection. On MySQL/MariaDB and SQLite
// Tx still refuses a context without a tenant, but isolation rests on the
// queries' own WHERE tenant_id = ?.
//
// The policy casts the setting (for example ::bigint): a tenant ID that does
// not cast makes the query fail, which is the safe direction. Queries on
// DB.Unwrap() outside Tx run with no tenant and, under the policy, see no
// rows.
package tenant
