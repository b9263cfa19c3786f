package monitor

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tenantkit/tenantkit/tenant"
)

// Ring geometry. Counts are kept per hour for 26 hours (24 complete hours,
// the current one, and one more so a 25-hour local day at a DST change fits);
// latency histograms per 6-hour block for 5 blocks (every block that overlaps
// the last 24 hours). See the package doc for why: together they stay under
// 1 KiB per tenant.
const (
	hourSlots    = 26
	blockHours   = 6
	blockSlots   = 5
	shardBits    = 10
	numShards    = 1 << shardBits
	defaultCap   = 10000
	secondsPerHr = 3600
)

// RecorderOptions configures a Recorder. The zero value and nil mean defaults.
type RecorderOptions struct {
	// Now is the clock. Default time.Now. Tests inject a fake.
	Now func() time.Time
	// Location is the time zone of calendar days ("today"). Default UTC.
	// Hour slots are aligned to its sub-hour offset (India's +05:30, Nepal's
	// +05:45) as it is when the Recorder is created, so local midnight is
	// always a slot boundary.
	Location *time.Location
	// MaxTenants caps the number of tracked tenants. Requests for further
	// tenants are counted in Overflow and otherwise dropped. Default 10000.
	MaxTenants int
}

// Recorder is the per-tenant request recorder: a middleware that counts
// requests, server errors (status ≥ 500, or a panic) and latency per tenant in
// fixed memory, with no I/O and no allocation per request.
//
// A Recorder is safe for concurrent use. Its zero value is not usable; build
// one with NewRecorder.
type Recorder struct {
	now     func() time.Time
	mono    bool      // Now was not injected: time requests on the monotonic clock
	origin  time.Time // monotonic origin of every reading; never changes
	base    atomic.Pointer[clockBase]
	loc     *time.Location
	align   int64
	max     int64
	created time.Time

	tracked    atomic.Int64
	overflow   atomic.Uint64
	untenanted atomic.Uint64

	keys   hashKeys
	shards [numShards]shard
	pool   sync.Pool
}

type shard struct {
	mu sync.Mutex            // serialises writers; readers never lock
	t  atomic.Pointer[table] // nil: no tenant
	_  [48]byte              // keep shards on separate cache lines
}

// series is one tenant's recorded data: about 750 bytes.
type series struct {
	id    tenant.ID  // as the caller passed it; the table matches it
	mu    sync.Mutex // taken only to recycle a slot for a new hour or block
	last  atomic.Int64
	hours [hourSlots]hourSlot
	lat   [blockSlots]latBlock
}

type hourSlot struct {
	epoch atomic.Uint32 // hour number since the Unix epoch, plus one; 0 = empty
	reqs  atomic.Uint32
	errs  atomic.Uint32
}

type latBlock struct {
	epoch   atomic.Uint32 // block number plus one; 0 = empty
	buckets [NumBuckets]atomic.Uint32
}

// NewRecorder returns a Recorder. opts may be nil.
func NewRecorder(opts *RecorderOptions) *Recorder {
	var o RecorderOptions
	if opts != nil {
		o = *opts
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.MaxTenants <= 0 {
		o.MaxTenants = defaultCap
	}
	r := &Recorder{now: o.Now, loc: o.Location, max: int64(o.MaxTenants), keys: newHashKeys()}
	r.mono = opts == nil || opts.Now == nil
	r.created = r.now()
	r.origin = r.created
	r.base.Store(&clockBase{wall: r.created.UnixNano()})
	_, off := r.created.In(r.loc).Zone()
	r.align = int64(((off % secondsPerHr) + secondsPerHr) % secondsPerHr)
	r.pool.New = func() any { return new(statusWriter) }
	return r
}

// Location returns the time zone of the Recorder's calendar days.
func (r *Recorder) Location() *time.Location { return r.loc }

// Now returns the Recorder's clock reading.
func (r *Recorder) Now() time.Time { return r.now() }

// Created returns when the Recorder was built: hours before it are never
// counted as observed.
func (r *Recorder) Created() time.Time { return r.created }

// Tracked returns the number of tenants currently tracked (≤ MaxTenants).
func (r *Recorder) Tracked() int { return int(r.tracked.Load()) }

// Overflow returns the number of requests that were not recorded because
// MaxTenants tenants were already tracked.
func (r *Recorder) Overflow() uint64 { return r.overflow.Load() }

// Untenanted returns the number of requests that reached Handler without a
// tenant in their context; they are passed through and not recorded.
func (r *Recorder) Untenanted() uint64 { return r.untenanted.Load() }

// hourOf returns the 1-based hour number of t (aligned to the zone's
// sub-hour offset), or 0 for times before 1970.
func (r *Recorder) hourOf(t time.Time) uint32 { return r.hourOfUnix(t.Unix()) }

func (r *Recorder) hourOfUnix(sec int64) uint32 {
	s := sec + r.align
	if s < 0 {
		return 0
	}
	return uint32(s/secondsPerHr) + 1
}

func blockOf(h uint32) uint32 { return (h-1)/blockHours + 1 }

func (r *Recorder) hash(id tenant.ID) uint64 { return r.keys.hash(string(id)) }

// lookup returns the series of id, whose hash is h, or nil.
func (r *Recorder) lookup(id tenant.ID, h uint64) *series {
	if t := r.shards[h%numShards].t.Load(); t != nil {
		return t.find(id, h)
	}
	return nil
}

// add returns the series of id, whose hash is h, creating it when there is
// room, or nil when MaxTenants tenants are tracked. It is the slow path of
// record, apart so that record stays small.
func (r *Recorder) add(id tenant.ID, h uint64) *series {
	sh := &r.shards[h%numShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	// Look again under the lock, before the cap: a concurrent first request
	// of the same tenant may have added it, perhaps as the last one the cap
	// allows.
	old := sh.t.Load()
	if old != nil {
		if s := old.find(id, h); s != nil {
			return s
		}
	}
	if r.tracked.Load() >= r.max {
		return nil
	}
	if r.tracked.Add(1) > r.max {
		r.tracked.Add(-1)
		return nil
	}
	s := &series{id: id}
	sh.t.Store(old.with(s, h))
	return s
}

// Record records one request of tenant id that ended at end, took d and was
// a server error or not. It is what Handler calls; use it directly for
// traffic that is not HTTP. It never allocates once id is tracked.
func (r *Recorder) Record(id tenant.ID, end time.Time, d time.Duration, serverError bool) {
	r.record(id, end.UnixNano(), d, serverError)
}

// clockBase maps monotonic readings to wall time: at monotonic offset at
// (from the Recorder's origin) the wall clock read wall.
type clockBase struct {
	at   time.Duration
	wall int64 // Unix nanoseconds
}

// clock reads the time for a request: with the default clock one monotonic
// read, the offset from the Recorder's origin; with an injected clock its
// reading in Unix nanoseconds. Durations are differences of two readings.
// Offsets never depend on the base, so a rebase between a request's start
// and end cannot distort its duration.
func (r *Recorder) clock() time.Duration {
	if r.mono {
		return time.Since(r.origin)
	}
	return time.Duration(r.now().UnixNano())
}

// wall returns the Unix nanoseconds of a clock reading: with the default
// clock derived from the base, which rebase re-synchronises when the wall
// clock is stepped, so the hour slot costs no wall-clock read.
func (r *Recorder) wall(c time.Duration) int64 {
	if r.mono {
		b := r.base.Load()
		return b.wall + int64(c-b.at)
	}
	return int64(c)
}

// rebase re-synchronises the base with the wall clock when the derived wall
// time drifted from it by more than a second (a stepped clock, a resumed
// VM). The Recorder calls it on every read (Stats, Sweep), never on the
// request path.
func (r *Recorder) rebase() {
	if !r.mono {
		return
	}
	now := time.Now()
	since := now.Sub(r.origin)
	b := r.base.Load()
	est := b.wall + int64(since-b.at)
	if diff := now.UnixNano() - est; diff > int64(time.Second) || diff < -int64(time.Second) {
		r.base.Store(&clockBase{at: since, wall: now.UnixNano()})
	}
}

func (r *Recorder) record(id tenant.ID, endNanos int64, d time.Duration, serverError bool) {
	hk := r.hash(id)
	s := r.lookup(id, hk)
	if s == nil {
		// A request that cannot be recorded (before 1970) creates no series.
		if r.hourOfUnix(endNanos/int64(time.Second)) == 0 {
			return
		}
		if s = r.add(id, hk); s == nil {
			r.overflow.Add(1)
			return
		}
	}
	h := r.hourOfUnix(endNanos / int64(time.Second))
	if h == 0 {
		return
	}
	hs := &s.hours[h%hourSlots]
	if hs.epoch.Load() != h && !s.recycleHour(hs, h) {
		return
	}
	hs.reqs.Add(1)
	if serverError {
		hs.errs.Add(1)
	}
	b := blockOf(h)
	lb := &s.lat[b%blockSlots]
	if lb.epoch.Load() != b && !s.recycleBlock(lb, b) {
		return
	}
	lb.buckets[bucketOf(d)].Add(1)
	// Last activity at one-second resolution: most requests skip the store.
	if endNanos-s.last.Load() >= int64(time.Second) {
		s.last.Store(endNanos)
	}
}

// recycleHour makes hs hold hour h. It reports false when hs already holds a
// newer hour: the request is older than the ring and is dropped. A request
// that read the old epoch just before the reset may land in the new hour; it
// is at least 26 hours late, so this is the accepted imprecision.
func (s *series) recycleHour(hs *hourSlot, h uint32) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := hs.epoch.Load()
	if cur == h {
		return true
	}
	if cur > h {
		return false
	}
	hs.reqs.Store(0)
	hs.errs.Store(0)
	hs.epoch.Store(h)
	return true
}

func (s *series) recycleBlock(lb *latBlock, b uint32) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := lb.epoch.Load()
	if cur == b {
		return true
	}
	if cur > b {
		return false
	}
	for i := range lb.buckets {
		lb.buckets[i].Store(0)
	}
	lb.epoch.Store(b)
	return true
}

// Handler returns middleware that records every request carrying a tenant
// (tenant.FromContext). Requests without one are passed through and counted
// in Untenanted. A response is a server error when its status is ≥ 500 or the
// handler panicked (the panic is not recovered). Recording never fails, so
// the Recorder never blocks a request. The ResponseWriter handed to next is
// pooled and implements Unwrap, Flush, FlushError, Hijack and ReadFrom; as net/http
// requires, next must not use it after returning.
func (r *Recorder) Handler(next http.Handler) http.Handler {
	return &recording{r: r, next: next}
}

// recording is the handler Recorder.Handler returns: a type rather than an
// http.HandlerFunc closure, which saves a call per request.
type recording struct {
	r    *Recorder
	next http.Handler
}

func (h *recording) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r := h.r
	// The Recorder needs only the ID, not a copy of the whole Tenant.
	id := tenant.IDFromContext(req.Context())
	if id.IsZero() {
		r.untenanted.Add(1)
		h.next.ServeHTTP(w, req)
		return
	}
	sw := r.pool.Get().(*statusWriter)
	sw.ResponseWriter, sw.status, sw.returned = w, 0, false
	start := r.clock()
	defer r.done(sw, id, start)
	h.next.ServeHTTP(sw, req)
	sw.returned = true
}

// done records the request that sw served, whether next returned or
// panicked, and recycles sw.
func (r *Recorder) done(sw *statusWriter, id tenant.ID, start time.Duration) {
	end := r.clock()
	// A status never written is an implicit 200: not an error.
	r.record(id, r.wall(end), end-start, !sw.returned || sw.status >= 500)
	sw.ResponseWriter = nil
	r.pool.Put(sw)
}

// statusWriter remembers the final status code written.
type statusWriter struct {
	http.ResponseWriter
	status   int
	returned bool // the handler returned rather than panicked
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush flushes the underlying writer when it supports flushing.
func (w *statusWriter) Flush() { _ = w.FlushError() }

// FlushError flushes the underlying writer and returns its error
// (http.ErrNotSupported when it cannot flush), which is what
// http.ResponseController.Flush reports.
func (w *statusWriter) FlushError() error {
	err := http.NewResponseController(w.ResponseWriter).Flush()
	// A flush sends the implicit 200 unless flushing is not supported at
	// all, in which case nothing was sent and the status is still open.
	if w.status == 0 && !errors.Is(err, http.ErrNotSupported) {
		w.status = http.StatusOK
	}
	return err
}

// Hijack hijacks the underlying connection when it supports it (for
// handlers that assert http.Hijacker rather than use ResponseController).
func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil && w.status == 0 {
		w.status = http.StatusSwitchingProtocols
	}
	return conn, rw, err
}

// ReadFrom copies r to the underlying writer, keeping its io.ReaderFrom
// fast path (sendfile) when it has one.
func (w *statusWriter) ReadFrom(r io.Reader) (int64, error) {
	n, err := io.Copy(w.ResponseWriter, r)
	// The first byte sent commits the implicit 200; an empty copy sends
	// nothing.
	if n > 0 && w.status == 0 {
		w.status = http.StatusOK
	}
	return n, err
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Stats is what a Recorder holds for one tenant over a time range.
type Stats struct {
	Requests uint64
	Errors   uint64
	// Latency merges every 6-hour block that overlaps the range, so it may
	// cover up to 6 hours more than the range on each side.
	Latency Histogram
	// Hours is the number of hour slots in the range the Recorder could
	// observe (at or after its creation, within the 26-hour ring, not in
	// the future); UpHours how many of them were up: at least one request
	// and at most half of them errors.
	Hours, UpHours int
	// LastActivity is the end of the tenant's latest request, to the second;
	// zero when none was recorded.
	LastActivity time.Time
}

// Stats returns what the Recorder holds for tenant id over the hour slots
// from the one containing from to the one containing to (both included).
// Data older than 26 hours is gone. A tenant that is not tracked has zero
// Stats.
func (r *Recorder) Stats(id tenant.ID, from, to time.Time) Stats {
	var st Stats
	r.rebase()
	s := r.lookup(id, r.hash(id))
	if s == nil {
		return st
	}
	if ns := s.last.Load(); ns != 0 {
		st.LastActivity = time.Unix(0, ns).UTC().Truncate(time.Second)
	}
	h0, h1 := r.hourOf(from), r.hourOf(to)
	if h0 == 0 {
		h0 = 1
	}
	if h1 < h0 {
		return st
	}
	// Observable hours: at or after the Recorder's creation, still in the
	// ring, and not in the future. Others are neither up nor down.
	nowHour := r.hourOf(r.now())
	oldest := r.hourOf(r.created)
	if nowHour >= hourSlots && nowHour-hourSlots+1 > oldest {
		oldest = nowHour - hourSlots + 1
	}
	for h := h0; h <= h1; h++ {
		hs := &s.hours[h%hourSlots]
		var reqs, errs uint64
		if hs.epoch.Load() == h {
			reqs, errs = uint64(hs.reqs.Load()), uint64(hs.errs.Load())
		}
		st.Requests += reqs
		st.Errors += errs
		if h >= oldest && h <= nowHour {
			st.Hours++
			if reqs > 0 && errs*2 <= reqs {
				st.UpHours++
			}
		}
	}
	for b := blockOf(h0); b <= blockOf(h1); b++ {
		lb := &s.lat[b%blockSlots]
		if lb.epoch.Load() != b {
			continue
		}
		for k := range lb.buckets {
			st.Latency.Counts[k] += uint64(lb.buckets[k].Load())
		}
	}
	return st
}

// Hourly returns the request counts of tenant id in the n hour slots ending
// with the one containing to, oldest first (n is capped at the ring's 26).
func (r *Recorder) Hourly(id tenant.ID, to time.Time, n int) []uint64 {
	n = max(0, min(n, hourSlots))
	out := make([]uint64, n)
	s := r.lookup(id, r.hash(id))
	h1 := r.hourOf(to)
	if s == nil || h1 == 0 {
		return out
	}
	for i := range n {
		h := h1 - uint32(n-1-i)
		if hs := &s.hours[h%hourSlots]; h > 0 && hs.epoch.Load() == h {
			out[i] = uint64(hs.reqs.Load())
		}
	}
	return out
}

// Since returns the Stats of tenant id from t to the Recorder's now. Today's
// calls in the Recorder's zone are Since(id, StartOfDay(now, loc)).
func (r *Recorder) Since(id tenant.ID, t time.Time) Stats { return r.Stats(id, t, r.now()) }

// Sweep stops tracking tenants that have no request in the ring (none for 26
// hours), making room under MaxTenants, and returns how many it dropped. The
// Recorder has no goroutine: call Sweep periodically (Alerter.Run does). A
// request of a tenant that races with its own removal may go uncounted; such
// a tenant had been idle for a day.
func (r *Recorder) Sweep() int {
	r.rebase()
	oldest := uint32(1)
	if now := r.hourOf(r.now()); now >= hourSlots {
		oldest = now - hourSlots + 1
	}
	dropped := 0
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.Lock()
		if old := sh.t.Load(); old != nil && old.any(func(s *series) bool { return !s.activeSince(oldest) }) {
			// filter decides each tenant once more: one that became
			// active since the check above is kept and not counted.
			t, stale := old.filter(func(s *series) bool { return s.activeSince(oldest) })
			sh.t.Store(t)
			r.tracked.Add(-int64(stale))
			dropped += stale
		}
		sh.mu.Unlock()
	}
	return dropped
}

// activeSince reports whether s has a request in hour h or later, or is new:
// no hour recorded yet, because its first request is between add and
// recycleHour. An hour's epoch is set only by a request about to count in
// it, so the epoch alone decides, before the count is visible.
func (s *series) activeSince(h uint32) bool {
	fresh := true
	for i := range s.hours {
		e := s.hours[i].epoch.Load()
		if e >= h {
			return true
		}
		fresh = fresh && e == 0
	}
	return fresh
}

// IDs returns the tracked tenant IDs, in no particular order.
func (r *Recorder) IDs() []tenant.ID {
	var ids []tenant.ID
	for i := range r.shards {
		if t := r.shards[i].t.Load(); t != nil {
			for _, e := range t.entries {
				if e.s != nil {
					ids = append(ids, e.s.id)
				}
			}
		}
	}
	return ids
}

// StartOfDay returns local midnight of t's calendar day in loc (or the first
// instant of that day when midnight does not exist because of DST).
func StartOfDay(t time.Time, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	return midnight(y, m, d, loc)
}

// midnight returns the first instant of the calendar day y-m-d (normalised
// like time.Date) in loc. Where DST starts at 00:00 (America/Santiago) that
// midnight does not exist and time.Date may land in the previous day; the
// day then starts at the transition.
func midnight(y int, m time.Month, d int, loc *time.Location) time.Time {
	y, m, d = time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Date()
	t := time.Date(y, m, d, 0, 0, 0, 0, loc)
	if ty, tm, td := t.Date(); ty != y || tm != m || td != d {
		if _, end := t.ZoneBounds(); !end.IsZero() {
			t = end
		}
	}
	return t
}
