package monitor

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tenantkit/tenantkit/tenant"
)

func withTenant(r *http.Request, id tenant.ID) *http.Request {
	return r.WithContext(tenant.NewContext(r.Context(), tenant.Tenant{ID: id, Status: tenant.StatusActive}))
}

func TestBucketBoundaries(t *testing.T) {
	require.Equal(t, 2000*time.Millisecond, BucketUpperBound(SlowBucket))
	require.Equal(t, SlowBucket, bucketOf(2000*time.Millisecond))
	require.Equal(t, SlowBucket+1, bucketOf(2000*time.Millisecond+1))
	require.Equal(t, 0, bucketOf(0))
	require.Equal(t, 0, bucketOf(-time.Second))
	require.Equal(t, NumBuckets-1, bucketOf(time.Hour))
	require.Equal(t, NumBuckets-1, bucketOf(time.Duration(1<<62)))
	for k := 0; k < NumBuckets-1; k++ {
		ub := BucketUpperBound(k)
		require.Equal(t, k, bucketOf(ub), "upper bound of %d", k)
		require.Equal(t, k+1, bucketOf(ub+1), "just above bound of %d", k)
	}
	var h Histogram
	h.Observe(2000 * time.Millisecond)
	h.Observe(2001 * time.Millisecond)
	require.Equal(t, uint64(1), h.CountAbove(2000*time.Millisecond))
}

func TestHistogramQuantile(t *testing.T) {
	var h Histogram
	require.False(t, h.Quantile(0.5).Valid)
	require.False(t, h.Mean().Valid)
	for i := 0; i < 95; i++ {
		h.Observe(10 * time.Millisecond)
	}
	for i := 0; i < 5; i++ {
		h.Observe(3 * time.Second)
	}
	p50 := h.Quantile(0.5)
	require.True(t, p50.Valid)
	require.Greater(t, p50.V, 7.8)
	require.LessOrEqual(t, p50.V, 15.7)
	require.LessOrEqual(t, h.Quantile(0.95).V, 15.7)
	require.Greater(t, h.Quantile(0.99).V, 2000.0)
	require.False(t, h.Quantile(0).Valid)
	require.False(t, h.Quantile(1.5).Valid)
	h.Observe(time.Hour)
	require.Equal(t, 16000.0, h.Quantile(1).V)
}

func TestRecorderHandlerCountsErrorsAndStatus(t *testing.T) {
	clk := newFakeClock(time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC))
	rec := NewRecorder(&RecorderOptions{Now: clk.Now})
	codes := []int{200, 201, 404, 500, 503, 0}
	h := rec.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := tenant.FromContext(r.Context()); ok {
			_, unwraps := w.(interface{ Unwrap() http.ResponseWriter })
			require.True(t, unwraps)
		}
		if len(codes) == 0 {
			return
		}
		code := codes[0]
		codes = codes[1:]
		clk.Advance(30 * time.Millisecond)
		if code == 0 {
			_, _ = w.Write([]byte("implicit 200"))
			return
		}
		w.WriteHeader(http.StatusEarlyHints)
		w.WriteHeader(code)
	}))
	for range 6 {
		h.ServeHTTP(httptest.NewRecorder(), withTenant(httptest.NewRequest("GET", "/", nil), "a"))
	}
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	st := rec.Since("a", clk.Now().Add(-time.Hour))
	require.Equal(t, uint64(6), st.Requests)
	require.Equal(t, uint64(2), st.Errors, "500 and 503 are errors, 404 is not")
	require.Equal(t, uint64(6), st.Latency.Total())
	require.Equal(t, uint64(6), st.Latency.Counts[bucketOf(30*time.Millisecond)])
	require.Equal(t, uint64(1), rec.Untenanted())
	require.Equal(t, clk.Now().Truncate(time.Second), st.LastActivity)
}

func TestRecorderPanicCountsAsError(t *testing.T) {
	rec := NewRecorder(nil)
	h := rec.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }))
	require.Panics(t, func() {
		h.ServeHTTP(httptest.NewRecorder(), withTenant(httptest.NewRequest("GET", "/", nil), "a"))
	})
	st := rec.Since("a", time.Now().Add(-time.Minute))
	require.Equal(t, uint64(1), st.Requests)
	require.Equal(t, uint64(1), st.Errors)
}

func TestRecorderRingRecyclesOldHours(t *testing.T) {
	start := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	clk := newFakeClock(start)
	rec := NewRecorder(&RecorderOptions{Now: clk.Now})
	rec.Record("a", start.Add(10*time.Minute), time.Millisecond, false)
	// 26 hours later the slot is reused: the old count is gone, not added.
	later := start.Add(26*time.Hour + 10*time.Minute)
	rec.Record("a", later, time.Millisecond, true)
	st := rec.Stats("a", start, later)
	require.Equal(t, uint64(1), st.Requests)
	require.Equal(t, uint64(1), st.Errors)
	// A request older than the ring is dropped, not mixed into a newer hour.
	rec.Record("a", start.Add(20*time.Minute), time.Millisecond, false)
	require.Equal(t, uint64(1), rec.Stats("a", later, later).Requests)
}

func TestRecorderTokyoDailyResetAtLocalMidnight(t *testing.T) {
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	require.NoError(t, err)
	// 23:30 in Tokyo is 14:30 UTC.
	beforeMidnight := time.Date(2026, 6, 1, 23, 30, 0, 0, tokyo)
	clk := newFakeClock(beforeMidnight.Add(-48 * time.Hour))
	rec := NewRecorder(&RecorderOptions{Now: clk.Now, Location: tokyo})
	clk.Set(beforeMidnight)
	for range 5 {
		rec.Record("a", clk.Now(), time.Millisecond, false)
	}
	require.Equal(t, uint64(5), rec.Since("a", StartOfDay(clk.Now(), tokyo)).Requests)
	clk.Set(time.Date(2026, 6, 2, 0, 10, 0, 0, tokyo))
	require.Equal(t, uint64(0), rec.Since("a", StartOfDay(clk.Now(), tokyo)).Requests,
		"a new local day starts at Tokyo midnight (15:00 UTC)")
	rec.Record("a", clk.Now(), time.Millisecond, false)
	require.Equal(t, uint64(1), rec.Since("a", StartOfDay(clk.Now(), tokyo)).Requests)
	// The UTC calendar day has not changed: UTC-based counting would give 6.
	require.Equal(t, uint64(6), rec.Since("a", StartOfDay(clk.Now(), time.UTC)).Requests)
}

func TestRecorderHalfHourZoneAlignsSlots(t *testing.T) {
	kolkata, err := time.LoadLocation("Asia/Kolkata")
	require.NoError(t, err)
	clk := newFakeClock(time.Date(2026, 6, 1, 23, 45, 0, 0, kolkata))
	rec := NewRecorder(&RecorderOptions{Now: clk.Now, Location: kolkata})
	rec.Record("a", clk.Now(), time.Millisecond, false)
	clk.Set(time.Date(2026, 6, 2, 0, 15, 0, 0, kolkata))
	require.Equal(t, uint64(0), rec.Since("a", StartOfDay(clk.Now(), kolkata)).Requests)
}

func TestRecorderCapAndOverflow(t *testing.T) {
	const capTenants = 1000
	clk := newFakeClock(time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC))
	rec := NewRecorder(&RecorderOptions{Now: clk.Now, MaxTenants: capTenants})
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	const n = 200000
	for i := range n {
		rec.Record(tenant.ID(fmt.Sprintf("tenant-%06d", i)), clk.Now(), time.Millisecond, false)
		if i%10000 == 0 {
			require.LessOrEqual(t, rec.Tracked(), capTenants)
		}
	}
	require.Equal(t, capTenants, rec.Tracked())
	require.Equal(t, uint64(n-capTenants), rec.Overflow())
	require.Len(t, rec.IDs(), capTenants)
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	// 1000 tenants at ≤ 1 KiB each plus map overhead; 200,000 would be ~200 MB.
	require.Less(t, grown, int64(4<<20), "heap grew %d bytes", grown)

	// Tracked tenants keep recording; overflowed ones stay out.
	rec.Record("tenant-000001", clk.Now(), time.Millisecond, false)
	require.Equal(t, uint64(2), rec.Since("tenant-000001", clk.Now().Add(-time.Hour)).Requests)
	require.Zero(t, rec.Since("tenant-199999", clk.Now().Add(-time.Hour)).Requests)

	// After 26 idle hours Sweep frees the room.
	clk.Advance(27 * time.Hour)
	require.Equal(t, capTenants, rec.Sweep())
	require.Zero(t, rec.Tracked())
	rec.Record("tenant-199999", clk.Now(), time.Millisecond, false)
	require.Equal(t, 1, rec.Tracked())
}

func TestRecorderConcurrent(t *testing.T) {
	rec := NewRecorder(&RecorderOptions{MaxTenants: 50})
	h := rec.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }))
	done := make(chan struct{})
	for g := range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 1000 {
				id := tenant.ID(fmt.Sprintf("t%d", (g*1000+i)%100))
				h.ServeHTTP(httptest.NewRecorder(), withTenant(httptest.NewRequest("GET", "/", nil), id))
			}
		}()
	}
	for range 8 {
		<-done
	}
	var total uint64
	for _, id := range rec.IDs() {
		st := rec.Since(id, time.Now().Add(-time.Hour))
		require.Equal(t, st.Requests, st.Errors)
		total += st.Requests
	}
	require.Equal(t, 50, rec.Tracked())
	require.Equal(t, uint64(8000), total+rec.Overflow())
}

func TestRecorderHotPathDoesNotAllocate(t *testing.T) {
	rec := NewRecorder(nil)
	h := rec.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	req := withTenant(httptest.NewRequest("GET", "/", nil), "a")
	w := &nopWriter{h: http.Header{}}
	h.ServeHTTP(w, req) // creates the tenant's series
	allocs := testing.AllocsPerRun(1000, func() { h.ServeHTTP(w, req) })
	require.Zero(t, allocs, "recording a request of a tracked tenant allocates nothing")
	allocs = testing.AllocsPerRun(1000, func() { rec.Record("a", time.Now(), time.Millisecond, true) })
	require.Zero(t, allocs)
}

func TestRecorderMemoryPerTenantUnderOneKiB(t *testing.T) {
	const n = 20000
	ids := make([]tenant.ID, n)
	for i := range ids {
		ids[i] = tenant.ID(fmt.Sprintf("3f2c9a1e-7b4d-4e8a-9c1f-%012d", i))
	}
	now := time.Now()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	rec := NewRecorder(&RecorderOptions{MaxTenants: n})
	for _, id := range ids {
		rec.Record(id, now, time.Millisecond, false)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / n
	t.Logf("%.0f bytes per tracked tenant (series and table entry; the ID strings are the caller's)", per)
	require.LessOrEqual(t, per, 1024.0)
	runtime.KeepAlive(rec)
}

func TestRecorderWriterUnwrapsAndFlushes(t *testing.T) {
	rec := NewRecorder(nil)
	var inner http.ResponseWriter
	h := rec.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inner = w.(interface{ Unwrap() http.ResponseWriter }).Unwrap()
		require.NoError(t, http.NewResponseController(w).Flush())
		w.(http.Flusher).Flush()
	}))
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, withTenant(httptest.NewRequest("GET", "/", nil), "a"))
	require.Same(t, rr, inner)
	require.True(t, rr.Flushed)
	require.Equal(t, uint64(0), rec.Since("a", time.Now().Add(-time.Hour)).Errors, "a flushed response is a 200")
}

func TestRecorderWriterHijackAndReadFrom(t *testing.T) {
	rec := NewRecorder(nil)
	h := rec.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ws" {
			conn, _, err := w.(http.Hijacker).Hijack()
			assert.NoError(t, err)
			_, _ = conn.Write([]byte("HTTP/1.1 101 Switching Protocols\r\n\r\n"))
			conn.Close()
			return
		}
		n, err := w.(io.ReaderFrom).ReadFrom(strings.NewReader("hello"))
		assert.NoError(t, err)
		assert.Equal(t, int64(5), n)
	}))
	mux := http.NewServeMux()
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, withTenant(r, "a"))
	}))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/file")
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, "hello", string(b))
	resp, err = http.Get(srv.URL + "/ws")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	// The hijacked response reaches the client before the handler returns.
	require.Eventually(t, func() bool { return rec.Since("a", time.Now().Add(-time.Hour)).Requests == 2 }, 5*time.Second, time.Millisecond)
	require.Zero(t, rec.Since("a", time.Now().Add(-time.Hour)).Errors)
}

func TestRecorderDefaultClockMeasuresLatency(t *testing.T) {
	rec := NewRecorder(nil) // the monotonic fast path
	h := rec.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { time.Sleep(25 * time.Millisecond) }))
	before := time.Now()
	h.ServeHTTP(httptest.NewRecorder(), withTenant(httptest.NewRequest("GET", "/", nil), "a"))
	st := rec.Since("a", before)
	require.Equal(t, uint64(1), st.Requests)
	k := -1
	for i, c := range st.Latency.Counts {
		if c == 1 {
			k = i
		}
	}
	require.GreaterOrEqual(t, k, bucketOf(25*time.Millisecond), "a 25 ms request is not faster than 25 ms")
	require.Less(t, k, SlowBucket, "nor slower than 2 s")
	require.WithinDuration(t, time.Now(), st.LastActivity, 2*time.Second, "wall time derived from the monotonic clock")
}

func TestRecorderHandlerStatusCases(t *testing.T) {
	cases := []struct {
		name    string
		handler http.HandlerFunc
		err     bool
	}{
		{"nothing written is a 200", func(http.ResponseWriter, *http.Request) {}, false},
		{"header only", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(502) }, true},
		{"informational then 200", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusContinue)
			_, _ = w.Write([]byte("ok"))
		}, false},
		{"status after body is ignored, as net/http does", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, "ok")
			w.WriteHeader(500)
		}, false},
		{"ReadFrom is a 200", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.(io.ReaderFrom).ReadFrom(strings.NewReader("ok"))
		}, false},
		{"flushed then panicked", func(w http.ResponseWriter, _ *http.Request) {
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock(time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC))
			rec := NewRecorder(&RecorderOptions{Now: clk.Now})
			h := rec.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				clk.Advance(3 * time.Second)
				tc.handler(w, r)
			}))
			func() {
				defer func() { _ = recover() }()
				h.ServeHTTP(httptest.NewRecorder(), withTenant(httptest.NewRequest("GET", "/", nil), "a"))
			}()
			st := rec.Since("a", clk.Now().Add(-time.Hour))
			require.Equal(t, uint64(1), st.Requests)
			require.Equal(t, tc.err, st.Errors == 1)
			require.Equal(t, uint64(1), st.Latency.CountAbove(2*time.Second), "latency from the injected clock")
		})
	}
}

func TestRecorderWriterWorksWithResponseController(t *testing.T) {
	rec := NewRecorder(nil)
	h := rec.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		// Reached through Unwrap: the wrapper has no such methods itself.
		assert.NoError(t, rc.SetReadDeadline(time.Now().Add(time.Minute)))
		assert.NoError(t, rc.SetWriteDeadline(time.Now().Add(time.Minute)))
		assert.NoError(t, rc.EnableFullDuplex())
		if r.URL.Path == "/hijack" {
			conn, _, err := rc.Hijack()
			if assert.NoError(t, err) {
				_, _ = conn.Write([]byte("HTTP/1.1 204 No Content\r\n\r\n"))
				conn.Close()
			}
			return
		}
		w.WriteHeader(503)
		assert.NoError(t, rc.Flush())
	}))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, withTenant(r, "a"))
	}))
	defer srv.Close()
	for _, path := range []string{"/flush", "/hijack"} {
		resp, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		resp.Body.Close()
	}
	require.Eventually(t, func() bool { return rec.Since("a", time.Now().Add(-time.Hour)).Requests == 2 }, 5*time.Second, time.Millisecond)
	require.Equal(t, uint64(1), rec.Since("a", time.Now().Add(-time.Hour)).Errors, "the 503; the hijacked response is not an error")
}
