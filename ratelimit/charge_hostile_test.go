package ratelimit_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tenantkit/tenantkit/ratelimit"
)

// chargeRig is a guard limiter in Charge mode (every 401 charged, keyed by
// client IP) in front of a handler that answers 401 and counts the
// requests that reach it.
type chargeRig struct {
	*harness
	srv     http.Handler
	reached atomic.Int64
}

func newChargeRig(t *testing.T, guest ratelimit.Limit, opts *ratelimit.Options) *chargeRig {
	t.Helper()
	set := ratelimit.DefaultPlanSet()
	set.Guest = guest
	var o ratelimit.Options
	if opts != nil {
		o = *opts
	}
	o.KeyBy = ratelimit.ByClientIP
	o.Charge = func(status int, _ http.Header) bool { return status == http.StatusUnauthorized }
	rig := &chargeRig{harness: newHarness(t, set, &o)}
	rig.srv = rig.limiter.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rig.reached.Add(1)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	return rig
}

func (rig *chargeRig) guess(addr string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, "/login", nil)
	r.RemoteAddr = addr
	w := httptest.NewRecorder()
	rig.srv.ServeHTTP(w, r)
	return w
}

// TestChargeHostileSequentialMatchesStore drives one key with guesses at
// hostile instants (the exact instant a unit comes back and a nanosecond
// before it, steps of one nanosecond, of one emission interval, random
// ones) and holds the guard to the store's own arithmetic (Decide on a
// shadow state): a guess reaches the handler exactly when the store would
// admit its charge. A wait that is short lets a guess through that the
// store then denies; a long one refuses a guess the store would admit.
func TestChargeHostileSequentialMatchesStore(t *testing.T) {
	limits := []ratelimit.Limit{
		{Name: "b1", Rate: 10, Period: time.Minute, Burst: 1},
		{Name: "b3r10", Rate: 10, Period: time.Minute, Burst: 3},
		{Name: "b30r10", Rate: 10, Period: time.Minute, Burst: 30},
		{Name: "7s", Rate: 7, Period: time.Second},
		{Name: "7s-b2", Rate: 7, Period: time.Second, Burst: 2},
		{Name: "3min", Rate: 3, Period: time.Minute},
		{Name: "65535s", Rate: 65535, Period: time.Second, Burst: 5},
		{Name: "3per1.5s", Rate: 3, Period: 1500 * time.Millisecond},
		{Name: "odd-ns", Rate: 3, Period: 1000000007, Burst: 2},
		{Name: "huge", Rate: 1, Period: 90 * 365 * 24 * time.Hour, Burst: 1},
		{Name: "huge-burst", Rate: 1000, Period: 50 * 365 * 24 * time.Hour, Burst: 1999},
	}
	for _, lim := range limits {
		t.Run(lim.Name, func(t *testing.T) {
			rig := newChargeRig(t, lim, nil)
			rnd := rand.New(rand.NewPCG(1, uint64(lim.Rate)))
			T := lim.Period / time.Duration(lim.Rate)
			var tat int64 // the shadow of the store's state for the key
			for i := range 3000 {
				now := rig.clock.Now()
				_, want, err := ratelimit.Decide(tat, now, lim, 1)
				require.NoError(t, err)
				before := rig.reached.Load()
				w := rig.guess("192.0.2.9:1")
				if want.Allowed {
					require.Equal(t, http.StatusUnauthorized, w.Code, "guess %d at +%v: the store admits it, the guard refused it (Retry-After %s)", i, now.Sub(clockEpoch), w.Header().Get("Retry-After"))
					tat, _, _ = ratelimit.Decide(tat, now, lim, 1)
				} else {
					require.Equal(t, http.StatusTooManyRequests, w.Code, "guess %d at +%v: the store denies it, yet it reached the handler", i, now.Sub(clockEpoch))
					require.Equal(t, before, rig.reached.Load())
					require.Equal(t, strconv.FormatInt(max(1, int64((want.RetryAfter+time.Second-1)/time.Second)), 10), w.Header().Get("Retry-After"))
				}
				var step time.Duration
				switch rnd.IntN(8) {
				case 0:
					step = 0
				case 1:
					step = time.Nanosecond
				case 2:
					step = T
				case 3:
					step = time.Duration(rnd.Int64N(int64(2 * T)))
				default:
					// The instant the next unit is back, or one ns before.
					_, r, _ := ratelimit.Decide(tat, now, lim, 1)
					step = r.RetryAfter
					if step > 0 && rnd.IntN(2) == 0 {
						step--
					}
				}
				if now.Add(step).Year() > 2150 {
					break // the store's nanosecond TATs end in 2262
				}
				rig.clock.Advance(step)
			}
			require.Zero(t, rig.store.Stats().Evicted)
		})
	}
}

// TestChargeHostilePlanReplaced: a refusal remembered under one guest
// limit must follow the limit that replaces it (Plans.Replace: "the next
// request uses the new limits; a key's state carries over"). A more
// generous limit admits the key's next guess at once, a stricter one keeps
// refusing it while the store would deny.
func TestChargeHostilePlanReplaced(t *testing.T) {
	slow := ratelimit.Limit{Name: "guest", Rate: 1, Period: time.Minute, Burst: 1}
	fast := ratelimit.Limit{Name: "guest", Rate: 60, Period: time.Minute}
	replace := func(rig *chargeRig, lim ratelimit.Limit) {
		set := rig.limiter.Plans().Set()
		set.Guest = lim
		require.NoError(t, rig.limiter.Plans().Replace(set))
	}

	t.Run("more generous", func(t *testing.T) {
		rig := newChargeRig(t, slow, nil)
		require.Equal(t, http.StatusUnauthorized, rig.guess("192.0.2.1:1").Code)
		require.Equal(t, http.StatusTooManyRequests, rig.guess("192.0.2.1:1").Code)
		replace(rig, fast)
		rig.clock.Advance(time.Second)
		// The store holds TAT = t0+60s; 60/min with burst 60 admits
		// anything up to 60 s ahead of now.
		require.Equal(t, http.StatusUnauthorized, rig.guess("192.0.2.1:1").Code, "the store admits this guess under the new limit")
		require.Equal(t, int64(2), rig.reached.Load())
	})

	t.Run("stricter", func(t *testing.T) {
		rig := newChargeRig(t, fast, nil)
		for range 60 {
			require.Equal(t, http.StatusUnauthorized, rig.guess("192.0.2.1:1").Code)
		}
		require.Equal(t, http.StatusTooManyRequests, rig.guess("192.0.2.1:1").Code)
		replace(rig, slow)
		// TAT is t0+60s; under 1/min with burst 1 the next unit is back
		// at t0+60s, not at the old limit's t0+1s.
		rig.clock.Advance(time.Second)
		w := rig.guess("192.0.2.1:1")
		require.Equal(t, http.StatusTooManyRequests, w.Code, "the store denies this guess under the new limit")
		require.Equal(t, "59", w.Header().Get("Retry-After"))
		require.Equal(t, `"guest";q=1;w=60`, w.Header().Get("RateLimit-Policy"), "a refusal states the limit in force")
		rig.clock.Advance(58 * time.Second)
		require.Equal(t, http.StatusTooManyRequests, rig.guess("192.0.2.1:1").Code)
		require.Equal(t, int64(60), rig.reached.Load())
		rig.clock.Advance(time.Second)
		require.Equal(t, http.StatusUnauthorized, rig.guess("192.0.2.1:1").Code)
		require.Equal(t, http.StatusTooManyRequests, rig.guess("192.0.2.1:1").Code)
		require.Equal(t, int64(61), rig.reached.Load())
	})
}

// TestChargeHostileLateRefusalDoesNotShorten: two charges of one key race;
// the one decided first records its refusal last. The block list must keep
// the later end (the second charge's), or a guess reaches the handler
// that the store denies.
func TestChargeHostileLateRefusalDoesNotShorten(t *testing.T) {
	c := newFakeClock(clockEpoch)
	var armed atomic.Bool
	parked, release := make(chan struct{}), make(chan struct{})
	now := func() time.Time {
		if armed.CompareAndSwap(true, false) {
			close(parked)
			<-release
		}
		return c.Now()
	}
	lim := ratelimit.Limit{Name: "guest", Rate: 2, Period: time.Minute} // T = 30 s, burst 2
	set := ratelimit.DefaultPlanSet()
	set.Guest = lim
	plans, err := ratelimit.NewPlans(set)
	require.NoError(t, err)
	store := ratelimit.NewMemory(&ratelimit.MemoryOptions{Now: c.Now})
	var reached atomic.Int64
	// The Take of the charge to delay arms the clock: the next reading,
	// the Limiter's after that Take, parks until released.
	var delayNext atomic.Bool
	l := ratelimit.New(hookStore{store, func() {
		if delayNext.CompareAndSwap(true, false) {
			armed.Store(true)
		}
	}}, plans, &ratelimit.Options{
		KeyBy:  ratelimit.ByClientIP,
		Now:    now,
		Charge: func(status int, _ http.Header) bool { return status == http.StatusUnauthorized },
	})
	srv := l.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	guess := func() int {
		r := httptest.NewRequest(http.MethodGet, "/login", nil)
		r.RemoteAddr = "192.0.2.1:1"
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		return w.Code
	}
	require.Equal(t, http.StatusUnauthorized, guess()) // t0: TAT t0+30s, one unit left
	c.Advance(10 * time.Second)
	// A at t0+10s takes the last unit (TAT t0+60s, a unit back at
	// t0+30s) and parks before recording that.
	delayNext.Store(true)
	done := make(chan int)
	go func() { done <- guess() }()
	<-parked
	// B at t0+30s takes the unit that is back (TAT t0+90s): refused until
	// t0+60s.
	c.Advance(20 * time.Second)
	require.Equal(t, http.StatusUnauthorized, guess())
	// A resumes at t0+30s and records its refusal: t0+30s + 20 s.
	close(release)
	require.Equal(t, http.StatusUnauthorized, <-done)
	require.Equal(t, int64(3), reached.Load())
	c.Advance(20 * time.Second) // t0+50s: the store denies until t0+60s
	require.Equal(t, http.StatusTooManyRequests, guess(), "the store denies until t0+60s")
	require.Equal(t, int64(3), reached.Load())
	c.Advance(10 * time.Second)
	require.Equal(t, http.StatusUnauthorized, guess())
}

// hookStore calls before ahead of each Take of the wrapped store.
type hookStore struct {
	ratelimit.Store
	before func()
}

func (s hookStore) Take(ctx context.Context, req *ratelimit.Request, d *ratelimit.Decision) error {
	s.before()
	return s.Store.Take(ctx, req, d)
}

// TestChargeHostileConcurrentOneKey: many goroutines guess on one key at
// one instant. Each goroutine is sequential, so when the charge that takes
// the last unit refuses the key at most the other goroutines' requests are
// in flight: the handler sees at most Burst + goroutines − 1 guesses, and
// every later guess is refused.
func TestChargeHostileConcurrentOneKey(t *testing.T) {
	const goroutines, each = 32, 50
	for _, lim := range []ratelimit.Limit{
		{Name: "guest", Rate: 10, Period: time.Minute},
		{Name: "guest", Rate: 1, Period: time.Minute, Burst: 1},
		{Name: "guest", Rate: 7, Period: time.Second, Burst: 3},
	} {
		rig := newChargeRig(t, lim, nil)
		var wg sync.WaitGroup
		for range goroutines {
			wg.Go(func() {
				for range each {
					rig.guess("192.0.2.1:1")
				}
			})
		}
		wg.Wait()
		reached := rig.reached.Load()
		require.GreaterOrEqual(t, reached, int64(lim.EffectiveBurst()))
		require.LessOrEqual(t, reached, int64(lim.EffectiveBurst()+goroutines-1), "%+v", lim)
		require.Equal(t, http.StatusTooManyRequests, rig.guess("192.0.2.1:1").Code)
		require.Equal(t, reached, rig.reached.Load())
	}
}

// TestChargeHostileBlockListFull: with 65,536 keys refused at once, the
// next key that takes its last unit is refused as well: its guesses must
// not all reach the handler (the store denies their charges, but a charge
// is decided after the handler has answered). A refused key may be
// dropped to make room, and reaches the handler once more before it is
// refused again, but the list never stops limiting.
func TestChargeHostileBlockListFull(t *testing.T) {
	if testing.Short() {
		t.Skip("65,536 requests")
	}
	lim := ratelimit.Limit{Name: "guest", Rate: 1, Period: time.Hour, Burst: 1}
	rig := newChargeRig(t, lim, nil)
	const full = 1 << 16
	addr := func(i int) string {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 1).String()
	}
	for i := range full {
		require.Equal(t, http.StatusUnauthorized, rig.guess(addr(i)).Code)
	}
	// Every key is refused now, and none of the refusals has ended.
	require.Equal(t, int64(full), rig.reached.Load())
	for i := range 100 {
		require.Equal(t, http.StatusTooManyRequests, rig.guess(addr(i*655)).Code)
	}
	// 100 new keys, 20 guesses each: each new key's first guess takes its
	// last unit, and the key is refused from then on. Each such refusal
	// displaces one older refusal, at random.
	for k := range 100 {
		before := rig.reached.Load()
		for range 20 {
			rig.guess(addr(full + k))
		}
		require.Equal(t, before+1, rig.reached.Load(), "new key %d: only its first guess reaches the handler", k)
	}
	// A displaced key reaches the handler once more, is denied by the
	// store and refused again at once (displacing another): a pass over
	// every key finds about as many misses as keys beyond the capacity,
	// never a key that is let through twice.
	misses := 0
	for i := range full + 100 {
		before := rig.reached.Load()
		rig.guess(addr(i))
		if rig.reached.Load() != before {
			misses++
			require.Equal(t, http.StatusTooManyRequests, rig.guess(addr(i)).Code, "key %d is refused again", i)
		}
	}
	require.LessOrEqual(t, misses, 1000, "displaced refusals are few")
	require.Equal(t, int64(full+100+misses), rig.reached.Load())
	// Expired refusals make room without displacing anything.
	rig.clock.Advance(time.Hour)
	for i := range 10 {
		require.Equal(t, http.StatusUnauthorized, rig.guess(addr(2*full+i)).Code)
		require.Equal(t, http.StatusTooManyRequests, rig.guess(addr(2*full+i)).Code, fmt.Sprint(i))
	}
}
