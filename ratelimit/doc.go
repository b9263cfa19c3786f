// Package ratelimit limits API requests per tenant by subscription plan,
// limits guests by client IP, and counts (and optionally enforces) daily and
// monthly usage quotas per tenant. It is the rate-limiting half of the
// tenantkit "API security" guide; tokenscope is the other half.
//
// # Composition with net/http
//
// A Limiter is a configured middleware in the style of net/http's
// CrossOriginProtection: Limiter.Handler wraps a handler, Limiter.Allow and
// Limiter.AllowQuotas decide without HTTP. It reads the tenant that
// tenant.Middleware put in the request context (tenant.FromContext):
//
//	store := ratelimit.NewMemory(nil)                  // or redisstore.New(...)
//	lim := ratelimit.New(store, nil, &ratelimit.Options{ // nil plans: the defaults
//		Logger: logger,
//		Quotas: func(t tenant.Tenant) []ratelimit.Quota {
//			return []ratelimit.Quota{{Name: "api_calls", Period: ratelimit.Day, Max: 10_000}}
//		},
//	})
//	mux.Handle("/api/", tenantMW.Handler(lim.Handler(api)))
//
// A request with a tenant is decided against the tenant's plan (Plans maps
// tenant.Tenant.Plan to a Limit); a request without one (a guest: login,
// token exchange, public pages) against the guest limit, keyed by client IP,
// so guessing tokens or passwords is throttled per address. Put a guest
// limiter before authentication and a plan limiter after it, as
// examples/demo does.
//
// # Algorithm and burst semantics
//
// Decisions use GCRA, the generic cell rate algorithm: a key's whole state is
// one int64, its theoretical arrival time (TAT). A Limit{Rate, Period,
// Burst} emits one unit every Period/Rate (the emission interval T) and
// tolerates Burst units at once (Burst 0 means Rate). Exactly:
//
//   - A key that has been idle for at least Burst·T has Burst units
//     available: Burst requests at the same instant are admitted, the next
//     one is not. 2 per 500 ms admits 2 at once, then one every 250 ms.
//   - Units come back one every T, continuously; there are no windows, so
//     there is no edge at which a client can take two windows' worth (100/min
//     admits 100 at 10:00:59.999 and nothing more at 10:01:00.001).
//   - In any interval of length L at most Burst + ⌊L·Rate/Period⌋ units are
//     admitted. This is the token bucket of golang.org/x/time/rate with the
//     same rate and burst, and the tests hold the two to the same answers.
//   - Requesting N units is all or nothing; a denial consumes nothing.
//     N greater than Burst can never be admitted and is an error
//     (ErrInvalid), not a denial.
//   - Result.RetryAfter of a denial is exact to the nanosecond: at
//     now+RetryAfter the same request is admitted, a nanosecond earlier it
//     is not. The Retry-After header rounds it up to whole seconds, so a
//     client that waits that long is admitted.
//   - Result.Remaining is the number of units that could be taken right
//     now; Result.ResetAfter the time until all Burst units are back.
//
// The arithmetic is integer and does not drift: the TAT lives on a grid of
// spacing Period/(Rate·⌊Period/Rate⌋) ns (between 1 and 2 ns, exactly 1 ns
// when Period/Rate is whole), on which one unit is a whole number of steps;
// 65,535 per second refills exactly 65,535 units every second forever. The
// only rounding is when an idle key becomes active: its start is placed on
// the grid point at or before now, under 2 ns early. Decide exposes the
// decision as a pure function, for stores that keep the int64 themselves.
//
// # Stores
//
// A Store makes one atomic decision per request: the rate limit and every
// quota together, all or nothing (Store.Take). Memory is the in-process
// store: 256 shards, each an open-addressing table of 16-byte {hash, TAT}
// slots, keyed by a 64-bit maphash with a per-process seed (two keys share
// a slot with probability about n²/2⁶⁴, 5·10⁻⁸ at a million keys; keys are
// never kept as strings), bounded by MemoryOptions.Capacity, which is never
// exceeded. A store of 1,000,000 keys retains about 25 bytes per key. Entries whose
// state has fully replenished hold no information: they stay (a key that
// comes back reuses its slot) until their shard reaches its share of
// Capacity, and then they are dropped before anything live; only when none
// is idle is the entry closest to replenishing among its neighbours evicted
// (MemoryStats.Evicted counts those). Past-period quota counters are
// dropped as the quota table would grow. The clock
// is read inside the shard lock, so decisions on one key are ordered by
// time. ratelimit/redisstore shares limits between instances through Redis
// in one round trip per decision. internal/ratelimittest is the conformance
// suite both pass.
//
// # Quotas
//
// A Quota counts admitted units per calendar day or month in a time zone
// (per tenant; UTC by default): the day starts at local midnight, the month
// on the 1st at local midnight, and DST days are 23 or 25 hours long. Where
// a zone change skips midnight, the day starts at the first instant it has;
// where it repeats midnight, at the first one; where it sets the clock back
// across midnight, the new day has begun and goes on until the next
// midnight (Quota.PeriodBounds; both stores use it).
// Counting happens in the same atomic step as the rate limit, and only for
// admitted requests. With Max > 0 the quota is enforced: a request that
// would exceed it is denied with RetryAfter up to the next period, and the
// rate limit is not consumed.
//
// # Headers
//
// Every response, allowed or denied, carries the IETF structured fields of
// draft-ietf-httpapi-ratelimit-headers and the legacy trio:
//
//	RateLimit-Policy: "basic";q=100;w=60
//	RateLimit: "basic";r=42;t=18
//	X-RateLimit-Limit: 100
//	X-RateLimit-Remaining: 42
//	X-RateLimit-Reset: 18
//
// q is Rate and w is Period in seconds (a Period that is not whole seconds
// is stated over the shortest whole-second multiple of it: 2 per 500 ms is
// q=4;w=1, 3 per 1.5 s is q=6;w=3; X-RateLimit-Limit is q); r is Remaining; t is seconds until
// the limit is fully replenished, or, on a denial, until the request can be
// retried (the Retry-After value). X-RateLimit-Reset is t (delta seconds;
// Options.ResetUnix makes it a Unix time). Enforcing quotas add a second
// list member, e.g. "api_calls/day";q=10000;w=86400 and
// "api_calls/day";r=12;t=3600. A quota's w is nominal, the same on every
// response: 86400 for a day and 2592000 (30 days) for a month, whatever the
// calendar period's real length (a DST day, a month of 28 to 31 days); its
// t, the seconds until the period resets, is exact. A denial answers 429
// Too Many Requests, Retry-After: ⌈RetryAfter⌉ seconds, and
// {"error":"rate limit exceeded","retry_after":N} (or application/problem+json
// with Options.ProblemJSON), and is logged once at WARN through the injected
// slog.Logger with tenant_id ("guest" for guests), ip, user_agent, attempts
// (units in use plus this request), endpoint and method.
//
// Header values that are the same for many responses (RateLimit-Policy,
// X-RateLimit-Limit, and a denial's Content-Type, Cache-Control and
// X-Content-Type-Options) are slices shared between them, of capacity 1 so
// that Header.Add copies: a handler may Set, Add or Del these headers but
// must not write into the slice a response holds.
//
// # Keys
//
// Tenant requests are keyed per tenant by default (ByTenant: the whole
// organization shares its plan's budget), or per tenant and client IP
// (ByTenantAndIP, the original design's key), or per bearer token (ByToken,
// keyed by a SHA-256 digest, never the raw token), or by Options.Key.
// Guests are keyed by client IP: RemoteAddr unless trusted proxies are
// configured (NewClientIP), in which case the right-most untrusted
// X-Forwarded-For hop. X-Forwarded-For is never trusted from a connection
// that is not a trusted proxy: a client that forges it still shares one
// budget. IPv6 clients are keyed by their /64, except that an IPv4 client
// behind NAT64's well-known prefix (64:ff9b::/96) is keyed by its IPv4
// address.
//
// Before authentication every request is a guest: a limiter with
// KeyBy ByClientIP limits all of them by client IP with the Guest limit.
// With Options.Charge it charges only the responses it selects (401 and
// 403, say), so token guessing is throttled per IP while authenticated
// traffic is limited by plan further in:
//
//	guard := ratelimit.New(store, plans, &ratelimit.Options{
//		KeyBy:  ratelimit.ByClientIP,
//		Charge: func(status int, _ http.Header) bool { return status == 401 || status == 403 },
//	})
//	h := tenantMW.Handler(guard.Handler(tokens.Handler(planLimiter.Handler(api))))
//
// Once a charge takes that IP's last unit, the IP is answered 429 until a
// unit is back (Retry-After) without reaching the token check, valid token
// or not, so guesses reach the check at the Guest rate and no faster.
//
// # Failure semantics
//
// Memory never fails. A shared store can: its errors wrap ErrUnavailable
// and Handler applies Options.FailPolicy: FailOpen (default) lets the
// request through with only RateLimit-Policy set and no quota counted;
// FailClosed answers 503 with Retry-After. Options.OnError observes every
// such error. A store that decides from a local fallback while its backend
// is down sets Decision.Degraded, and Handler sends that decision's
// (approximate, local) headers; a store that fails open itself admits with
// Degraded set and no state, and Handler then sets only RateLimit-Policy,
// as for FailOpen. Invalid limits or quotas (ErrInvalid) are
// configuration errors: Handler answers them 500 whatever the FailPolicy,
// so a misconfiguration never becomes unlimited traffic; Plans.Replace and
// NewPlans reject invalid limits up front.
//
// # Plans at run time
//
// Plans.Replace swaps the whole table atomically; the next request uses the
// new limits. A key's state carries over: a tenant moved from basic to
// enterprise keeps its TAT and simply has more room.
package ratelimit
