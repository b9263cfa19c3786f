package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/tenantkit/tenantkit/tenant"
)

// FailPolicy is what Handler does when the Store cannot decide.
type FailPolicy uint8

// Fail policies.
const (
	// FailOpen lets the request through without rate-limit state headers
	// (only RateLimit-Policy): an outage of the limiter's backend does not
	// become an outage of the API. Quotas are not counted meanwhile.
	FailOpen FailPolicy = iota
	// FailClosed answers 503 Service Unavailable with Retry-After
	// (Options.FailRetryAfter): nothing passes that was not counted.
	FailClosed
)

// KeyBy selects how Handler keys requests that carry a tenant. Requests
// without a tenant (guests) are always keyed by client IP.
type KeyBy uint8

// Key strategies.
const (
	// ByTenant keys by tenant ID: the whole tenant shares its plan's limit.
	ByTenant KeyBy = iota
	// ByTenantAndIP keys by tenant ID and client IP (the original design's
	// key): each client address of a tenant gets the plan's limit.
	ByTenantAndIP
	// ByToken keys by a SHA-256 digest of the bearer token (the raw token
	// is never used as a key), falling back to ByTenant without one.
	ByToken
	// ByClientIP treats every request as a guest, tenant or not: keyed by
	// client IP, limited by the Guest limit, no quotas. It is for a limiter
	// placed before authentication (usually with Options.Charge).
	ByClientIP
)

// Options configures a Limiter. The zero value (or nil) means defaults.
type Options struct {
	// KeyBy chooses the key of tenant requests. Default ByTenant.
	KeyBy KeyBy

	// Key, when set, returns the key of a request; an empty result falls
	// back to KeyBy (or client IP for guests). Keys from Key share the
	// store with the built-in keys ("tenant:…", "ip:…", "token:…"), so use
	// a distinct prefix.
	Key func(r *http.Request) string

	// ClientIP extracts guests' addresses. Default: RemoteAddr only, no
	// proxy trusted (X-Forwarded-For ignored).
	ClientIP *ClientIP

	// Quotas returns the daily and monthly quotas counted (and, with
	// Max > 0, enforced) for a tenant's requests, in the same atomic
	// decision as the rate limit. Called once per tenant request; nil
	// means none. Guests have no quotas, and Charge mode counts none: its
	// charges are the limit's only.
	Quotas func(t tenant.Tenant) []Quota

	// FailPolicy applies when the Store returns an error. Default FailOpen.
	// It does not apply to errors wrapping ErrInvalid: a limit or quota the
	// store can never decide is a configuration error, and Handler answers
	// it 500 whatever the policy, so a misconfiguration never turns into
	// unlimited traffic.
	FailPolicy FailPolicy

	// FailRetryAfter is the Retry-After of a FailClosed 503. Default 1s.
	FailRetryAfter time.Duration

	// OnError, when set, is called with every Store error before the
	// FailPolicy applies (for metrics); the error is then not logged.
	OnError func(ctx context.Context, key string, err error)

	// Logger receives one warning per denied request ("rate limit
	// exceeded", with tenant_id, ip, user_agent, attempts, endpoint,
	// method) and store errors when OnError is nil. Default: discard.
	Logger *slog.Logger

	// ProblemJSON makes denials answer application/problem+json (RFC
	// 9457) instead of {"error":"rate limit exceeded","retry_after":N}.
	ProblemJSON bool

	// ResetUnix makes X-RateLimit-Reset a Unix time instead of delta
	// seconds. Default false (delta seconds, like RateLimit's t).
	ResetUnix bool

	// Charge, when set, switches Handler to charging after the fact: the
	// request goes to the wrapped handler first and is charged (one unit)
	// only when Charge is true for the status and headers it answered
	// with, e.g. 401 and 403 to limit failed authentications per client IP.
	// Once a charge takes a key's last unit (or is denied), requests on that
	// key are refused with 429 until a unit is back, without reaching the
	// wrapped handler, so sequential requests reach it at exactly the
	// limit's rate; when Plans replace the limit, a refused key's wait is
	// that of its state under the new limit. The limiter remembers up to
	// 65,536 refused keys: beyond that, a new refusal displaces the one
	// ending first among a few drawn at random, and that key reaches the
	// handler once more before it is refused again.
	// Uncharged responses carry only RateLimit-Policy, and keep the headers
	// of an inner limiter. Requests already in flight when a key is refused
	// still complete, and a process learns that a key is spent only from its
	// own charges (several processes sharing a store may each let one more
	// request through per unit), so a few more than the limit may reach the
	// handler; the charges themselves stay exact.
	Charge func(status int, header http.Header) bool

	// Now is the clock for ResetUnix, quota header times and Charge's
	// refusals. Default time.Now; set it to the store's clock.
	Now func() time.Time
}

// Limiter applies per-tenant plan limits and quotas to HTTP requests, and
// decides single requests without HTTP through Allow and AllowQuotas. It is
// safe for concurrent use; its zero value is not usable, use New.
type Limiter struct {
	store  Store
	plans  *Plans
	opts   Options
	log    *slog.Logger
	pool   sync.Pool
	blocks *blockList // Charge mode only

	// The constant header values of a denial, shared like a plan's.
	denyType, noStore, noSniff []string
	denyBody                   string // the body up to the retry_after number
}

// scratch is the per-request working memory, pooled so a decision through
// the Store interface does not allocate.
type scratch struct {
	req    Request
	d      Decision
	quotas [4]QuotaResult
}

// New returns a Limiter deciding on s with the limits of plans. plans nil
// means the defaults (a fresh &Plans{}); opts nil means defaults.
func New(s Store, plans *Plans, opts *Options) *Limiter {
	l := &Limiter{store: s, plans: plans}
	if opts != nil {
		l.opts = *opts
	}
	if l.plans == nil {
		l.plans = &Plans{}
	}
	if l.opts.FailRetryAfter <= 0 {
		l.opts.FailRetryAfter = time.Second
	}
	if l.opts.Now == nil {
		l.opts.Now = time.Now
	}
	l.log = l.opts.Logger
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	l.pool.New = func() any { return new(scratch) }
	l.denyType, l.denyBody = []string{"application/json"}, `{"error":"rate limit exceeded","retry_after":`
	if l.opts.ProblemJSON {
		l.denyType = []string{"application/problem+json"}
		l.denyBody = `{"type":"about:blank","title":"Too Many Requests","status":429,"detail":"rate limit exceeded","retry_after":`
	}
	l.noStore, l.noSniff = []string{"no-store"}, []string{"nosniff"}
	if l.opts.Charge != nil {
		l.blocks = &blockList{m: make(map[string]blocked), max: 1 << 16}
	}
	return l
}

// Allow decides one unit for key against lim. The error is the Store's
// (wrapping ErrInvalid or ErrUnavailable); the FailPolicy is Handler's
// business, not Allow's.
func (l *Limiter) Allow(ctx context.Context, key string, lim Limit) (Result, error) {
	sc := l.pool.Get().(*scratch)
	sc.req.reset(key, lim)
	sc.d.Quotas = sc.quotas[:0]
	err := l.store.Take(ctx, &sc.req, &sc.d)
	r := sc.d.Result
	l.pool.Put(sc)
	if err != nil {
		return Result{}, err
	}
	return r, nil
}

// AllowQuotas decides one unit for key against lim and counts it against
// quotas, all or nothing. Decision.Quotas is freshly allocated.
func (l *Limiter) AllowQuotas(ctx context.Context, key string, lim Limit, quotas ...Quota) (Decision, error) {
	req := Request{Key: key, Limit: lim, Quotas: quotas}
	d := Decision{Quotas: make([]QuotaResult, 0, len(quotas))}
	if err := l.store.Take(ctx, &req, &d); err != nil {
		return Decision{}, err
	}
	return d, nil
}

// Plans returns the limiter's plan table; Replace on it takes effect on the
// next request.
func (l *Limiter) Plans() *Plans { return l.plans }

// Handler returns next wrapped in the limiter. Each request is decided
// against the plan of the tenant in its context (tenant.FromContext), or
// the guest limit by client IP. Every response carries RateLimit-Policy,
// RateLimit and the legacy X-RateLimit-* headers; a denied request gets 429
// with Retry-After and a JSON body and is logged once. Handler never
// mutates r.
func (l *Limiter) Handler(next http.Handler) http.Handler {
	if l.opts.Charge != nil {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			l.serveCharged(w, r, next)
		})
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.serve(w, r, next)
	})
}

// subject returns the tenant a request is limited as and its plan entry.
func (l *Limiter) subject(r *http.Request) (tenant.Tenant, bool, *planEntry) {
	tbl := l.plans.table()
	if l.opts.KeyBy == ByClientIP {
		return tenant.Tenant{}, false, tbl.guest
	}
	t, ok := tenant.FromContext(r.Context())
	if !ok {
		return t, false, tbl.guest
	}
	return t, true, tbl.lookup(t.Plan)
}

func (l *Limiter) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	ctx := r.Context()
	t, hasTenant, pe := l.subject(r)
	sc := l.pool.Get().(*scratch)
	blk := new(reqBlock)
	sc.req.reset(l.key(r, t.ID, hasTenant, blk), pe.lim)
	if hasTenant && l.opts.Quotas != nil {
		sc.req.Quotas = l.opts.Quotas(t)
	}
	sc.d.Quotas = sc.quotas[:0]
	if err := l.store.Take(ctx, &sc.req, &sc.d); err != nil {
		key := sc.req.Key
		l.pool.Put(sc)
		l.fail(w, r, next, pe, key, err)
		return
	}
	if undecided(&sc.d) {
		// A store failing open admitted without deciding: as with
		// FailOpen here, no state is claimed (a "0 remaining" would lie).
		sc.req = Request{}
		l.pool.Put(sc)
		w.Header()[HeaderPolicy] = pe.policyV
		next.ServeHTTP(w, r)
		return
	}
	l.setHeaders(w.Header(), pe, sc, blk)
	if !sc.d.Allowed {
		l.deny(w, r, t, hasTenant, sc, blk)
		l.pool.Put(sc)
		return
	}
	sc.req = Request{}
	l.pool.Put(sc)
	next.ServeHTTP(w, r)
}

// undecided reports whether d admits without a decision: a store that
// fails open marks it Degraded and leaves ResetAfter 0, which no admitting
// decision has (taking a unit always moves the TAT past now).
func undecided(d *Decision) bool { return d.Degraded && d.Allowed && d.ResetAfter <= 0 }

// key returns the store key of r, whose tenant is id when hasTenant, built
// in blk.
func (l *Limiter) key(r *http.Request, id tenant.ID, hasTenant bool, blk *reqBlock) string {
	if l.opts.Key != nil {
		if k := l.opts.Key(r); k != "" {
			return k
		}
	}
	if !hasTenant {
		return blk.commit(l.appendIP(append(blk.tail(), "ip:"...), r))
	}
	switch l.opts.KeyBy {
	case ByTenantAndIP:
		b := append(append(append(blk.tail(), "tenant:"...), id...), "|ip:"...)
		return blk.commit(l.appendIP(b, r))
	case ByToken:
		if tok, ok := bearer(r); ok {
			sum := sha256.Sum256([]byte(tok))
			return blk.commit(hex.AppendEncode(append(blk.tail(), "token:"...), sum[:16]))
		}
	}
	return blk.commit(append(append(blk.tail(), "tenant:"...), id...))
}

// appendIP appends the client's /32 or /64, or "unknown".
func (l *Limiter) appendIP(b []byte, r *http.Request) []byte {
	if p, ok := l.opts.ClientIP.Prefix(r); ok {
		return p.AppendTo(b)
	}
	return append(b, "unknown"...)
}

// reqBlock is the one allocation of a request on the hot path: the key and
// the dynamic header values are strings pointing into buf, and vals holds
// the header value slices. Bytes of buf are never written again once a
// string points at them, so the strings are immutable as Go requires; a
// store may keep the key (the block then stays alive with it).
//
// The block is 128 bytes, a size class of its own: buf holds the key of a
// UUID tenant ID ("tenant:" and 36 bytes), of a token or of a client IP
// with a RateLimit value of 25 bytes or so ("professional";r=500;t=60),
// the values of X-RateLimit-Remaining and -Reset being substrings of
// RateLimit's. What does not fit (long keys, such as a UUID with a client
// IP, long names, quotas) is appended to an array of its own, one more
// allocation.
type reqBlock struct {
	vals [3]string
	buf  [72]byte
	n    int // bytes of buf handed out
}

// tail returns an empty slice over the unused part of buf.
func (blk *reqBlock) tail() []byte { return blk.buf[blk.n:blk.n:len(blk.buf)] }

// commit returns b, which was appended to tail(), as a string. If b
// outgrew buf it lives in its own array, which nothing writes again either.
func (blk *reqBlock) commit(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if blk.n < len(blk.buf) && unsafe.SliceData(b) == &blk.buf[blk.n] {
		blk.n += len(b)
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if len(h) < 7 || !strings.EqualFold(h[:7], "bearer ") {
		return "", false
	}
	tok := strings.TrimSpace(h[7:])
	return tok, tok != ""
}

// setHeaders writes the rate-limit headers of the decision in sc. The
// dynamic values and their slices live in blk; the constant ones are the
// plan's shared slices. X-RateLimit-Remaining and (in delta seconds)
// X-RateLimit-Reset are the same numbers as RateLimit's r and t, so they
// are substrings of the RateLimit value rather than formatted again.
func (l *Limiter) setHeaders(h http.Header, pe *planEntry, sc *scratch, blk *reqBlock) {
	d := &sc.d
	if d.Limit != pe.lim {
		pe = entryFor(d.Limit)
	}
	reset := ceilSeconds(d.ResetAfter)
	if !d.Allowed {
		reset = ceilSeconds(d.RetryAfter)
	}
	b := append(append(blk.tail(), pe.name...), ";r="...)
	r0 := len(b)
	b = strconv.AppendInt(b, sfInt(int64(d.Remaining)), 10)
	r1 := len(b)
	b = append(b, ";t="...)
	t0 := len(b)
	b = strconv.AppendInt(b, sfInt(reset), 10)
	t1 := len(b)
	var policyV []string
	if len(d.Quotas) > 0 {
		b, policyV = l.appendQuotas(b, pe, d.Quotas)
	}
	nRL := len(b)
	if l.opts.ResetUnix {
		b = strconv.AppendInt(b, l.opts.Now().Add(time.Duration(reset)*time.Second).Unix(), 10)
		t0, t1 = nRL, len(b)
	}
	s := blk.commit(b)
	v := &blk.vals
	v[0], v[1], v[2] = s[:nRL], s[r0:r1], s[t0:t1]
	if policyV == nil {
		policyV = pe.policyV
	}
	h[HeaderPolicy] = policyV
	h[HeaderRateLimit] = v[0:1:1]
	h[HeaderLimit] = pe.quotaV
	h[HeaderRemaining] = v[1:2:2]
	h[HeaderReset] = v[2:3:3]
}

// appendQuotas appends the RateLimit items of the enforcing quotas in qs to
// b and returns the RateLimit-Policy value that adds their policies to the
// plan's, or nil when no quota enforces (count-only quotas are not shown).
func (l *Limiter) appendQuotas(b []byte, pe *planEntry, qs []QuotaResult) ([]byte, []string) {
	var now time.Time
	n := 0
	for _, qr := range qs {
		if qr.Quota.Max == 0 {
			continue
		}
		if n++; n == 1 {
			now = l.opts.Now()
		}
		b = appendQuotaName(append(b, ", "...), qr.Quota)
		b = appendRateLimit(b, "", qr.Quota.Max-qr.Used, ceilSeconds(qr.ResetAt.Sub(now)))
	}
	if n == 0 {
		return b, nil
	}
	return b, pe.quotaPolicy(qs, n)
}

// appendQuotaName appends the sf-string naming a quota in the headers,
// e.g. "api_calls/day".
func appendQuotaName(b []byte, q Quota) []byte {
	p := "/day"
	if q.Period == Month {
		p = "/month"
	}
	b = appendSFString(b, q.Name)
	return append(append(b[:len(b)-1], p...), '"')
}

func quotaWindow(p QuotaPeriod) time.Duration {
	if p == Month {
		return 30 * 24 * time.Hour
	}
	return 24 * time.Hour
}

// deny answers 429 and logs the denial once. The Retry-After value and the
// body are built in what is left of blk.
func (l *Limiter) deny(w http.ResponseWriter, r *http.Request, t tenant.Tenant, hasTenant bool, sc *scratch, blk *reqBlock) {
	retry := max(ceilSeconds(sc.d.RetryAfter), 1)
	h := w.Header()
	h[HeaderRetryAfter] = []string{blk.commit(strconv.AppendInt(blk.tail(), retry, 10))}
	h["Cache-Control"] = l.noStore
	h["X-Content-Type-Options"] = l.noSniff
	h["Content-Type"] = l.denyType
	// The body is not a string: nothing refers to its bytes after Write,
	// which must not retain them.
	body := append(blk.tail(), l.denyBody...)
	body = append(strconv.AppendInt(body, retry, 10), "}\n"...)
	w.WriteHeader(http.StatusTooManyRequests)
	_, _ = w.Write(body)
	l.logDenial(r, t, hasTenant, sc)
}

// logDenial logs one denied request.
func (l *Limiter) logDenial(r *http.Request, t tenant.Tenant, hasTenant bool, sc *scratch) {
	if !l.log.Enabled(r.Context(), slog.LevelWarn) {
		return // the client IP is not looked up for a record no one keeps
	}
	d := &sc.d
	tenantID := "guest"
	if hasTenant {
		tenantID = string(t.ID)
	}
	ip := "unknown"
	if a, ok := l.opts.ClientIP.Addr(r); ok {
		ip = a.String()
	}
	// attempts: units in use in the current window plus this request, the
	// counter the original design logged.
	attempts := int64(d.Limit.burst()-d.Remaining) + int64(sc.req.Units())
	l.log.LogAttrs(r.Context(), slog.LevelWarn, "rate limit exceeded",
		slog.String("tenant_id", tenantID),
		slog.String("ip", ip),
		slog.String("user_agent", r.UserAgent()),
		slog.Int64("attempts", attempts),
		slog.String("endpoint", r.URL.Path),
		slog.String("method", r.Method),
		slog.String("policy", d.Limit.Name),
		slog.Duration("retry_after", d.RetryAfter),
	)
}

// fail applies the FailPolicy to a Store error.
func (l *Limiter) fail(w http.ResponseWriter, r *http.Request, next http.Handler, pe *planEntry, key string, err error) {
	if l.opts.OnError != nil {
		l.opts.OnError(r.Context(), key, err)
	} else {
		l.logStoreError(r, key, err)
	}
	h := w.Header()
	h.Set(HeaderPolicy, pe.policy)
	if errors.Is(err, ErrInvalid) {
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"error":"rate limit misconfigured"}` + "\n"))
		return
	}
	if l.opts.FailPolicy != FailClosed {
		next.ServeHTTP(w, r)
		return
	}
	retry := max(ceilSeconds(l.opts.FailRetryAfter), 1)
	h.Set(HeaderRetryAfter, strconv.FormatInt(retry, 10))
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write([]byte(`{"error":"rate limiter unavailable","retry_after":` + strconv.FormatInt(retry, 10) + "}\n"))
}

func (l *Limiter) logStoreError(r *http.Request, key string, err error) {
	l.log.LogAttrs(r.Context(), slog.LevelError, "rate limit store error",
		slog.String("key", key), slog.String("error", err.Error()),
		slog.String("fail_policy", l.opts.FailPolicy.String()))
}

// String returns "open" or "closed".
func (p FailPolicy) String() string {
	if p == FailClosed {
		return "closed"
	}
	return "open"
}
