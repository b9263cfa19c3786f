package monitor

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantkit/tenantkit/tenant"
)

// Concurrent first requests of one new tenant, when it is the tenant that
// fills the cap, are all recorded: none is counted as overflow.
func TestRecorderConcurrentFirstRequestsAtCapAreRecorded(t *testing.T) {
	clk := newFakeClock(time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC))
	const goroutines, rounds = 16, 200
	for round := range rounds {
		rec := NewRecorder(&RecorderOptions{Now: clk.Now, MaxTenants: 1})
		id := tenant.ID(fmt.Sprintf("new-%d", round))
		var start, wg sync.WaitGroup
		start.Add(1)
		for range goroutines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				start.Wait()
				rec.Record(id, clk.Now(), time.Millisecond, false)
			}()
		}
		start.Done()
		wg.Wait()
		require.Zero(t, rec.Overflow(), "round %d: a request of the tracked tenant counted as overflow", round)
		require.Equal(t, uint64(goroutines), rec.Since(id, clk.Now().Add(-time.Hour)).Requests, "round %d", round)
	}
}

// A tenant whose first request is between creating its series and counting
// into it has not been idle for a day: Sweep keeps it.
func TestRecorderSweepKeepsTenantBeingAdded(t *testing.T) {
	clk := newFakeClock(time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC))
	rec := NewRecorder(&RecorderOptions{Now: clk.Now})
	h := rec.hash("fresh")
	s := rec.add("fresh", h) // the first request, paused just after add
	require.NotNil(t, s)
	require.Zero(t, rec.Sweep())
	require.Same(t, s, rec.lookup("fresh", h), "the new tenant's series is still the table's")
	require.Equal(t, 1, rec.Tracked())
}

// Requests dated before 1970 are not recorded, and so create no tenant that
// no Sweep could ever drop.
func TestRecorderPre1970RequestCreatesNoTenant(t *testing.T) {
	clk := newFakeClock(time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC))
	rec := NewRecorder(&RecorderOptions{Now: clk.Now, MaxTenants: 1})
	rec.Record("old", time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC), time.Millisecond, false)
	require.Zero(t, rec.Tracked())
	rec.Record("new", clk.Now(), time.Millisecond, false)
	require.Equal(t, 1, rec.Tracked())
	require.Zero(t, rec.Overflow())
}

// A fake clock near the Unix epoch (a common test start) must not make Sweep
// drop tenants that are active.
func TestRecorderSweepWithClockNearEpoch(t *testing.T) {
	for _, start := range []time.Time{time.Unix(0, 0), time.Unix(5*3600+17, 0), time.Unix(25*3600, 0)} {
		clk := newFakeClock(start)
		rec := NewRecorder(&RecorderOptions{Now: clk.Now})
		rec.Record("a", clk.Now(), time.Millisecond, false)
		require.Zero(t, rec.Sweep(), "clock at %v", start)
		require.Equal(t, uint64(1), rec.Since("a", start).Requests, "clock at %v", start)
	}
}

// noFlushWriter is a ResponseWriter that cannot flush or hijack.
type noFlushWriter struct {
	h      http.Header
	status int
}

func (w *noFlushWriter) Header() http.Header { return w.h }
func (w *noFlushWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = 200
	}
	return len(b), nil
}
func (w *noFlushWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

// failFlushWriter flushes with an error, as net/http's writer does when the
// client has gone.
type failFlushWriter struct{ noFlushWriter }

var errGone = errors.New("client gone")

func (w *failFlushWriter) FlushError() error {
	if w.status == 0 {
		w.status = 200
	}
	return errGone
}

// http.ResponseController.Flush through the wrapper reports what the
// underlying writer reports: not supported, or its flush error.
func TestRecorderResponseControllerFlushReportsErrors(t *testing.T) {
	rec := NewRecorder(nil)
	var got error
	h := rec.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = http.NewResponseController(w).Flush()
	}))
	req := withTenant(httptest.NewRequest("GET", "/", nil), "a")

	h.ServeHTTP(&noFlushWriter{h: http.Header{}}, req)
	require.ErrorIs(t, got, http.ErrNotSupported)

	h.ServeHTTP(&failFlushWriter{noFlushWriter{h: http.Header{}}}, req)
	require.ErrorIs(t, got, errGone)

	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, req)
	require.NoError(t, got)
	require.True(t, rr.Flushed)
}

// An attempt that sent nothing (a flush or hijack the writer does not
// support, an empty ReadFrom) does not fix the status: a server error
// written afterwards is still counted.
func TestRecorderUnsentAttemptsDoNotHideServerError(t *testing.T) {
	cases := map[string]func(w http.ResponseWriter){
		"flush":             func(w http.ResponseWriter) { w.(http.Flusher).Flush() },
		"controller flush":  func(w http.ResponseWriter) { _ = http.NewResponseController(w).Flush() },
		"hijack":            func(w http.ResponseWriter) { _, _, _ = w.(http.Hijacker).Hijack() },
		"controller hijack": func(w http.ResponseWriter) { _, _, _ = http.NewResponseController(w).Hijack() },
		"empty ReadFrom":    func(w http.ResponseWriter) { _, _ = w.(io.ReaderFrom).ReadFrom(strings.NewReader("")) },
	}
	for name, attempt := range cases {
		t.Run(name, func(t *testing.T) {
			rec := NewRecorder(nil)
			h := rec.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				attempt(w)
				http.Error(w, "broken", http.StatusServiceUnavailable)
			}))
			inner := &noFlushWriter{h: http.Header{}}
			h.ServeHTTP(inner, withTenant(httptest.NewRequest("GET", "/", nil), "a"))
			require.Equal(t, http.StatusServiceUnavailable, inner.status)
			require.Equal(t, uint64(1), rec.Since("a", time.Now().Add(-time.Hour)).Errors)
		})
	}
}

// Many goroutines, adversarial IDs (shared prefixes and suffixes, lengths
// across every branch of the hash, bytes that differ only in the middle),
// Sweep and readers running all the while: no request of a tenant under the
// cap is lost, none is counted under another tenant.
func TestRecorderHostileConcurrency(t *testing.T) {
	clk := newFakeClock(time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC))
	var ids []tenant.ID
	for _, n := range []int{1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 64, 100} {
		for v := range 6 {
			b := []byte(strings.Repeat("x", n))
			b[n/2] = byte('a' + v) // differ only in the middle byte
			ids = append(ids, tenant.ID(b))
		}
	}
	ids = append(ids, "\x00", "\x00\x00", "a\x00", "\x00a")
	seen := map[tenant.ID]bool{}
	uniq := ids[:0]
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			uniq = append(uniq, id)
		}
	}
	ids = uniq
	rec := NewRecorder(&RecorderOptions{Now: clk.Now, MaxTenants: len(ids)})
	const goroutines, per = 8, 3000
	want := make([]uint64, len(ids))
	wantErr := make([]uint64, len(ids))
	for g := range goroutines {
		for i := range per {
			k := (g*7919 + i*31) % len(ids)
			want[k]++
			if i%3 == 0 {
				wantErr[k]++
			}
		}
	}
	stop := make(chan struct{})
	var bg sync.WaitGroup
	loop := func(f func()) {
		bg.Add(1)
		go func() {
			defer bg.Done()
			for {
				select {
				case <-stop:
					return
				default:
					f()
				}
			}
		}()
	}
	loop(func() { assert.Zero(t, rec.Sweep(), "Sweep dropped a live tenant") })
	loop(func() {
		for _, id := range rec.IDs() {
			rec.Since(id, clk.Now().Add(-time.Hour))
		}
	})
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				k := (g*7919 + i*31) % len(ids)
				rec.Record(ids[k], clk.Now(), time.Duration(i)*time.Microsecond, i%3 == 0)
			}
		}()
	}
	wg.Wait()
	close(stop)
	bg.Wait()
	require.Zero(t, rec.Overflow())
	require.Equal(t, len(ids), rec.Tracked())
	for k, id := range ids {
		st := rec.Since(id, clk.Now().Add(-time.Hour))
		require.Equal(t, want[k], st.Requests, "tenant %q", id)
		require.Equal(t, wantErr[k], st.Errors, "tenant %q", id)
		require.Equal(t, want[k], st.Latency.Total(), "tenant %q", id)
	}
}

// Two IDs whose hashes are equal keep separate data: the table compares the
// whole ID.
func TestRecorderEqualHashesKeepSeparateData(t *testing.T) {
	rec := NewRecorder(nil)
	// Zero keys make every ID of length 9..16 whose first 8 bytes are zero
	// hash alike (the multiply-fold mixes a zero factor), so the collision
	// is real, not simulated.
	rec.keys = hashKeys{0, 0}
	a, b := tenant.ID("\x00\x00\x00\x00\x00\x00\x00\x00A"), tenant.ID("\x00\x00\x00\x00\x00\x00\x00\x00B")
	require.Equal(t, rec.hash(a), rec.hash(b))
	now := time.Now()
	rec.Record(a, now, time.Millisecond, false)
	rec.Record(b, now, time.Millisecond, true)
	rec.Record(b, now, time.Millisecond, true)
	require.Equal(t, uint64(1), rec.Since(a, now.Add(-time.Hour)).Requests)
	require.Zero(t, rec.Since(a, now.Add(-time.Hour)).Errors)
	require.Equal(t, uint64(2), rec.Since(b, now.Add(-time.Hour)).Errors)
	require.Equal(t, 2, rec.Tracked())
}
