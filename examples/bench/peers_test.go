package bench

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/httprate"
	"github.com/sethvargo/go-limiter/httplimit"
	"github.com/sethvargo/go-limiter/memorystore"
	"github.com/throttled/throttled/v2"
	"github.com/throttled/throttled/v2/store/memstore"
	"github.com/ulule/limiter/v3"
	ulmw "github.com/ulule/limiter/v3/drivers/middleware/stdlib"
	ulmem "github.com/ulule/limiter/v3/drivers/store/memory"
	"golang.org/x/time/rate"

	"github.com/tenantkit/tenantkit/ratelimit"
)

// The limit of the workloads that admit every request: rate 1e9 per
// second, burst 1e9.
const (
	benchRate   = 1_000_000_000
	benchPeriod = time.Second
)

// decider is one library's decision for one key: allowed or not.
type decider interface {
	allow(ctx context.Context, key string) bool
	close()
}

// spec is the limit every library is configured with: rate per period,
// with a burst of rate.
type spec struct {
	rate   int
	period time.Duration
}

// admitAll is far above what a benchmark can send: every decision takes the
// "allowed" path, the common one.
var admitAll = spec{benchRate, benchPeriod}

// impl names a library and builds a fresh decider with limit l, sized for
// about maxKeys keys.
type impl struct {
	name string
	new  func(maxKeys int, l spec) decider
}

var memoryImpls = []impl{
	{"tenantkit", newTenantkit},
	{"xrate-syncmap", func(_ int, l spec) decider { return &xrateSyncMap{l: l} }},
	{"xrate-sharded", func(_ int, l spec) decider { return newXrateSharded(l) }},
	{"ulule", newUlule},
	{"sethvargo", newSethvargo},
	{"httprate", newHTTPRate},
	{"throttled", newThrottled},
}

// tenantkit: ratelimit.Memory, the store behind ratelimit.Limiter.
type tenantkitDecider struct {
	m   *ratelimit.Memory
	lim ratelimit.Limit
}

func newTenantkit(maxKeys int, l spec) decider {
	return &tenantkitDecider{
		m:   ratelimit.NewMemory(&ratelimit.MemoryOptions{Capacity: max(1<<16, 2*maxKeys)}),
		lim: ratelimit.Limit{Name: "bench", Rate: l.rate, Period: l.period},
	}
}

// allow builds a fresh Request and Decision for every decision, as a
// caller of Store.Take does. The Request is assigned field by field: the
// literal ratelimit.Request{Key: key, Limit: t.lim} is built in a
// temporary that the compiler copies with 16-byte moves reading across the
// 8-byte stores of Key, a store-forwarding stall that cost about 14 ns per
// decision here (the Limiter assigns its requests the same way).
func (t *tenantkitDecider) allow(ctx context.Context, key string) bool {
	var req ratelimit.Request
	req.Key = key
	req.Limit = t.lim
	var d ratelimit.Decision
	if err := t.m.Take(ctx, &req, &d); err != nil {
		panic(err)
	}
	return d.Allowed
}
func (t *tenantkitDecider) close() {}

// x/time/rate has no keyed store: the usual sync.Map of *rate.Limiter.
type xrateSyncMap struct {
	m sync.Map
	l spec
}

func (l spec) limiter() *rate.Limiter {
	return rate.NewLimiter(rate.Limit(float64(l.rate)/l.period.Seconds()), l.rate)
}

func (x *xrateSyncMap) allow(_ context.Context, key string) bool {
	v, ok := x.m.Load(key)
	if !ok {
		v, _ = x.m.LoadOrStore(key, x.l.limiter())
	}
	return v.(*rate.Limiter).Allow()
}
func (x *xrateSyncMap) close() {}

// x/time/rate in a map sharded by FNV-1a, 256 mutex-guarded shards.
type xrateSharded struct {
	shards [256]struct {
		mu sync.Mutex
		m  map[string]*rate.Limiter
		_  [40]byte
	}
	l spec
}

func newXrateSharded(l spec) *xrateSharded {
	x := &xrateSharded{l: l}
	for i := range x.shards {
		x.shards[i].m = make(map[string]*rate.Limiter)
	}
	return x
}

func (x *xrateSharded) allow(_ context.Context, key string) bool {
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h = (h ^ uint32(key[i])) * 16777619
	}
	s := &x.shards[h&255]
	s.mu.Lock()
	l, ok := s.m[key]
	if !ok {
		l = x.l.limiter()
		s.m[key] = l
	}
	s.mu.Unlock()
	return l.Allow()
}
func (x *xrateSharded) close() {}

// ulule/limiter with its memory store.
type ululeDecider struct{ l *limiter.Limiter }

func newUlule(_ int, l spec) decider {
	return &ululeDecider{l: limiter.New(ulmem.NewStore(), limiter.Rate{Period: l.period, Limit: int64(l.rate)})}
}

func (u *ululeDecider) allow(ctx context.Context, key string) bool {
	c, err := u.l.Get(ctx, key)
	if err != nil {
		panic(err)
	}
	return !c.Reached
}
func (u *ululeDecider) close() {}

// sethvargo/go-limiter memorystore.
type sethvargoDecider struct {
	s interface {
		Take(ctx context.Context, key string) (uint64, uint64, uint64, bool, error)
		Close(ctx context.Context) error
	}
}

func newSethvargo(maxKeys int, l spec) decider {
	s, err := memorystore.New(&memorystore.Config{Tokens: uint64(l.rate), Interval: l.period, InitialAlloc: max(4096, maxKeys)})
	if err != nil {
		panic(err)
	}
	return &sethvargoDecider{s: s.(interface {
		Take(ctx context.Context, key string) (uint64, uint64, uint64, bool, error)
		Close(ctx context.Context) error
	})}
}

func (s *sethvargoDecider) allow(ctx context.Context, key string) bool {
	_, _, _, ok, err := s.s.Take(ctx, key)
	if err != nil {
		panic(err)
	}
	return ok
}
func (s *sethvargoDecider) close() { _ = s.s.Close(context.Background()) }

// go-chi/httprate: its decision (OnLimit) needs a ResponseWriter and a
// request; it sets its headers on the writer as part of deciding. Writers
// come from a pool so parallel callers do not share one.
type httprateDecider struct {
	l  *httprate.RateLimiter
	r  *http.Request
	ws sync.Pool
}

func newHTTPRate(_ int, l spec) decider {
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	h := &httprateDecider{l: httprate.NewRateLimiter(l.rate, l.period), r: r}
	h.ws.New = func() any { return newBenchWriter() }
	return h
}

func (h *httprateDecider) allow(_ context.Context, key string) bool {
	w := h.ws.Get().(*benchWriter)
	clear(w.h)
	limited := h.l.OnLimit(w, h.r, key)
	h.ws.Put(w)
	return !limited
}
func (h *httprateDecider) close() {}

// throttled/v2 GCRA with its memstore (an LRU when maxKeys > 0). Under
// contention on one key its compare-and-swap loop can give up ("Failed to
// store updated rate limit data ... after 10 attempts"); such decisions are
// counted as errors (reported as errors/op), not as denials.
type throttledDecider struct {
	l    *throttled.GCRARateLimiterCtx
	errs atomic.Int64
}

func newThrottled(maxKeys int, l spec) decider {
	st, err := memstore.NewCtx(max(1<<16, 2*maxKeys))
	if err != nil {
		panic(err)
	}
	return &throttledDecider{l: newThrottledLimiter(st, l)}
}

// newThrottledLimiter: throttled's burst is counted beyond the first
// request, so MaxBurst rate-1 admits rate at once like the others.
func newThrottledLimiter(st throttled.GCRAStoreCtx, l spec) *throttled.GCRARateLimiterCtx {
	rl, err := throttled.NewGCRARateLimiterCtx(st, throttled.RateQuota{MaxRate: throttled.PerDuration(l.rate, l.period), MaxBurst: l.rate - 1})
	if err != nil {
		panic(err)
	}
	return rl
}

func (t *throttledDecider) allow(ctx context.Context, key string) bool {
	limited, _, err := t.l.RateLimitCtx(ctx, key, 1)
	if err != nil {
		t.errs.Add(1)
		return true
	}
	return !limited
}

func (t *throttledDecider) errors() int64 { return t.errs.Load() }

// errorCounter is implemented by deciders that can fail without denying.
type errorCounter interface{ errors() int64 }

// reportErrors adds an errors/op metric for deciders that count errors.
func reportErrors(b interface{ ReportMetric(float64, string) }, d decider, ops int) {
	if ec, ok := d.(errorCounter); ok && ops > 0 {
		b.ReportMetric(float64(ec.errors())/float64(ops), "errors/op")
	}
}
func (t *throttledDecider) close() {}

// benchWriter is a minimal ResponseWriter whose header map is cleared, not
// reallocated, between requests, so benchmarks see only the code under
// test's allocations.
type benchWriter struct {
	h    http.Header
	code int
}

func newBenchWriter() *benchWriter { return &benchWriter{h: make(http.Header, 16)} }

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *benchWriter) WriteHeader(code int)        { w.code = code }

// Middleware of each library, keyed by client IP (tenantkit: by the tenant
// in the request context, its documented default), all admitting.
type middleware struct {
	name string
	wrap func(next http.Handler) http.Handler
}

func middlewares() []middleware {
	return []middleware{
		{"tenantkit", func(next http.Handler) http.Handler {
			set := ratelimit.DefaultPlanSet()
			set.Plans["enterprise"] = ratelimit.Limit{Name: "enterprise", Rate: benchRate, Period: benchPeriod}
			plans, err := ratelimit.NewPlans(set)
			if err != nil {
				panic(err)
			}
			return ratelimit.New(ratelimit.NewMemory(nil), plans, nil).Handler(next)
		}},
		{"xrate-syncmap", func(next http.Handler) http.Handler {
			x := &xrateSyncMap{l: admitAll}
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if !x.allow(r.Context(), r.RemoteAddr) {
					http.Error(w, "rate limit exceeded", http.StatusTooManyRequests)
					return
				}
				next.ServeHTTP(w, r)
			})
		}},
		{"ulule", func(next http.Handler) http.Handler {
			l := limiter.New(ulmem.NewStore(), limiter.Rate{Period: benchPeriod, Limit: benchRate})
			return ulmw.NewMiddleware(l).Handler(next)
		}},
		{"sethvargo", func(next http.Handler) http.Handler {
			s, err := memorystore.New(&memorystore.Config{Tokens: benchRate, Interval: benchPeriod})
			if err != nil {
				panic(err)
			}
			m, err := httplimit.NewMiddleware(s, httplimit.IPKeyFunc())
			if err != nil {
				panic(err)
			}
			return m.Handle(next)
		}},
		{"httprate", func(next http.Handler) http.Handler {
			return httprate.Limit(benchRate, benchPeriod, httprate.WithKeyFuncs(httprate.KeyByIP))(next)
		}},
		{"throttled", func(next http.Handler) http.Handler {
			st, err := memstore.NewCtx(1 << 16)
			if err != nil {
				panic(err)
			}
			h := &throttled.HTTPRateLimiterCtx{RateLimiter: newThrottledLimiter(st, admitAll), VaryBy: &throttled.VaryBy{RemoteAddr: true}}
			return h.RateLimit(next)
		}},
	}
}

func keys(n int) []string {
	k := make([]string, n)
	for i := range k {
		k[i] = "tenant-" + strconv.Itoa(i)
	}
	return k
}

type atomicCounter struct{ n atomic.Int64 }

func (c *atomicCounter) add() int { return int(c.n.Add(1)) }
