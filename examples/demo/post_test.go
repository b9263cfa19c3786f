package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// firstMeter returns the tenant's first meter that is (or is not) cumulative.
func firstMeter(t *testing.T, a *App, ctx context.Context, cumulative bool) Meter {
	t.Helper()
	props, _, err := a.Properties(ctx, page{Page: 1, PerPage: 100})
	require.NoError(t, err)
	for _, p := range props {
		meters, _, err := a.PropertyMeters(ctx, p.ID, page{Page: 1, PerPage: 100})
		require.NoError(t, err)
		for _, m := range meters {
			if m.Cumulative == cumulative {
				return m
			}
		}
	}
	t.Fatalf("no meter with cumulative=%v", cumulative)
	return Meter{}
}

// lastReading returns the newest reading of a meter.
func lastReading(t *testing.T, a *App, ctx context.Context, meter int64) Reading {
	t.Helper()
	_, total, err := a.Readings(ctx, meter, time.Time{}, time.Time{}, page{Page: 1, PerPage: 1})
	require.NoError(t, err)
	require.Positive(t, total)
	rs, _, err := a.Readings(ctx, meter, time.Time{}, time.Time{}, page{Page: total, PerPage: 1})
	require.NoError(t, err)
	require.Len(t, rs, 1)
	return rs[0]
}

// TestPostReading covers the validation of POST /api/meters/{id}/readings
// on every backend.
func TestPostReading(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		a := openApp(t, Config{DB: b.db(t)})
		h := authed(t, a)
		_, acme := lookup(t, a, "acme")
		_, globex := lookup(t, a, "globex")
		cum := firstMeter(t, a, acme, true)
		last := lastReading(t, a, acme, cum.ID)
		foreign := firstMeter(t, a, globex, true)
		url := func(id int64) string { return fmt.Sprintf("http://acme.localhost/api/meters/%d/readings", id) }
		count := func(id int64) int {
			return ownerCount(t, a, "SELECT COUNT(*) FROM meter_readings WHERE meter_id = ?", id)
		}
		before := count(cum.ID)

		cases := []struct {
			name   string
			meter  int64
			body   string
			status int
			code   string
		}{
			{"unknown meter", 987654321, `{"value": 1}`, http.StatusNotFound, codeNotFound},
			{"malformed id", 0, `{"value": 1}`, http.StatusNotFound, codeNotFound},
			{"another tenant's meter", foreign.ID, fmt.Sprintf(`{"value": %f}`, last.Value+1e6), http.StatusNotFound, codeNotFound},
			{"malformed JSON", cum.ID, `{"value": `, http.StatusBadRequest, codeMalformedJSON},
			{"not an object", cum.ID, `[1,2]`, http.StatusBadRequest, codeMalformedJSON},
			{"value is a string", cum.ID, `{"value": "12"}`, http.StatusBadRequest, codeMalformedJSON},
			{"unknown field", cum.ID, `{"value": 1, "tenant_id": 2}`, http.StatusBadRequest, codeMalformedJSON},
			{"trailing data", cum.ID, `{"value": 1} {"value": 2}`, http.StatusBadRequest, codeMalformedJSON},
			{"empty body", cum.ID, ``, http.StatusBadRequest, codeMalformedJSON},
			{"bad read_at", cum.ID, `{"value": 1, "read_at": "yesterday"}`, http.StatusBadRequest, codeInvalidDate},
			{"read_at without zone", cum.ID, `{"value": 1, "read_at": "2026-01-02T10:00:00"}`, http.StatusBadRequest, codeInvalidDate},
			{"missing value", cum.ID, `{"read_at": "2026-01-02T10:00:00Z"}`, http.StatusUnprocessableEntity, codeInvalidReading},
			{"negative value", cum.ID, `{"value": -1}`, http.StatusUnprocessableEntity, codeInvalidReading},
			{"huge value", cum.ID, `{"value": 1e300}`, http.StatusUnprocessableEntity, codeInvalidReading},
			{"bad source", cum.ID, `{"value": 1, "source": "guess"}`, http.StatusUnprocessableEntity, codeInvalidReading},
			{"future read_at", cum.ID, fmt.Sprintf(`{"value": %f, "read_at": %q}`, last.Value+1, time.Now().Add(time.Hour).UTC().Format(time.RFC3339)),
				http.StatusUnprocessableEntity, codeInvalidReading},
			{"lower than previous (cumulative)", cum.ID, fmt.Sprintf(`{"value": %f}`, last.Value-0.5), http.StatusUnprocessableEntity, codeReadingOrder},
			{"back-dated above a later reading (cumulative)", cum.ID,
				fmt.Sprintf(`{"value": %f, "read_at": %q}`, last.Value+100, last.ReadAt.Add(-time.Hour).Format(time.RFC3339)),
				http.StatusUnprocessableEntity, codeReadingOrder},
		}
		for _, c := range cases {
			path := url(c.meter)
			if c.meter == 0 {
				path = "http://acme.localhost/api/meters/abc/readings"
			}
			r := do(t, h, http.MethodPost, path, c.body)
			if c.body == "" {
				r = do(t, h, http.MethodPost, path, "", "Content-Type", "application/json")
			}
			require.Equal(t, c.status, r.Status, "%s: %s", c.name, r.Body)
			require.Equal(t, c.code, r.errorCode(t), c.name)
		}
		require.Equal(t, before, count(cum.ID), "a rejected reading was stored")

		r := do(t, h, http.MethodPost, url(cum.ID), `{"value": 1}`, "Content-Type", "text/plain")
		require.Equal(t, http.StatusUnsupportedMediaType, r.Status)
		r = do(t, h, http.MethodPost, url(cum.ID), `{"value": `+strings.Repeat("1", maxBodyBytes+10)+`}`)
		require.Equal(t, http.StatusBadRequest, r.Status, "oversized body")

		// Accepted: equal to the last value is allowed (no consumption), then higher.
		for _, v := range []float64{last.Value, last.Value + 42.125} {
			r := do(t, h, http.MethodPost, url(cum.ID), fmt.Sprintf(`{"value": %f, "source": "manual"}`, v))
			require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
			var got row
			r.json(t, &got)
			require.InDelta(t, v, got["value"].(float64), 0.001)
			require.Equal(t, float64(cum.ID), got["meter_id"])
			require.NotEmpty(t, r.Header.Get("Location"))
		}
		require.Equal(t, before+2, count(cum.ID))
		require.InDelta(t, last.Value+42.125, lastReading(t, a, acme, cum.ID).Value, 0.001)

		// An interval (non-cumulative) meter takes any non-negative value.
		interval := firstMeter(t, a, acme, false)
		r = do(t, h, http.MethodPost, url(interval.ID), `{"value": 0.5}`)
		require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
		a.jobs.Wait()
	})
}

// TestQueryValidation: bad query parameters are 400 with the uniform body.
func TestQueryValidation(t *testing.T) {
	t.Parallel()
	a := openApp(t, Config{DB: allBackends[0].db(t)})
	h := authed(t, a)
	_, acme := lookup(t, a, "acme")
	m := firstMeter(t, a, acme, true)
	readings := fmt.Sprintf("http://acme.localhost/api/meters/%d/readings", m.ID)
	for _, c := range []struct {
		url, code string
	}{
		{"http://acme.localhost/api/properties?page=0", codeBadRequest},
		{"http://acme.localhost/api/properties?page=x", codeBadRequest},
		{"http://acme.localhost/api/properties?per_page=1000", codeBadRequest},
		{"http://acme.localhost/api/invoices?status=lost", codeBadRequest},
		{readings + "?from=2026-13-01", codeInvalidDate},
		{readings + "?to=tomorrow", codeInvalidDate},
		{readings + "?from=2026-02-01&to=2026-01-01", codeInvalidDate},
		{readings + "?from=2026-01-01&to=2026-01-01", codeInvalidDate},
	} {
		r := get(t, h, c.url)
		require.Equal(t, http.StatusBadRequest, r.Status, "%s: %s", c.url, r.Body)
		require.Equal(t, c.code, r.errorCode(t), c.url)
	}
	for _, url := range []string{"http://acme.localhost/api/nope", "http://acme.localhost/api/properties/abc", "http://acme.localhost/api/invoices/-1"} {
		r := get(t, h, url)
		require.Equal(t, http.StatusNotFound, r.Status, url)
		require.Equal(t, codeNotFound, r.errorCode(t))
	}

	// from/to select a window: every reading in it, none outside.
	last := lastReading(t, a, acme, m.ID)
	from := last.ReadAt.AddDate(0, 0, -30).Truncate(24 * time.Hour)
	to := last.ReadAt.AddDate(0, 0, -10).Truncate(24 * time.Hour)
	rows := listAll(t, h, readings+"?from="+from.Format(time.DateOnly)+"&to="+to.Format(time.RFC3339), 4)
	require.NotEmpty(t, rows)
	for _, r := range rows {
		at, err := time.Parse(time.RFC3339, r["read_at"].(string))
		require.NoError(t, err)
		require.False(t, at.Before(from), "%s before from", at)
		require.True(t, at.Before(to), "%s not before to", at)
	}
	require.Equal(t, ownerCount(t, a, "SELECT COUNT(*) FROM meter_readings WHERE meter_id = ? AND read_at >= ? AND read_at < ?", m.ID, from, to), len(rows))
}

// TestConcurrentPostsStayMonotonic: parallel posts to one cumulative meter
// are checked one after the other (the meter row is locked first), so the
// stored readings never decrease, whatever order the posts commit in.
func TestConcurrentPostsStayMonotonic(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		a := openApp(t, Config{DB: b.db(t)})
		_, acme := lookup(t, a, "acme")
		m := firstMeter(t, a, acme, true)
		start := lastReading(t, a, acme, m.ID).Value
		var wg sync.WaitGroup
		var mu sync.Mutex
		codes := map[string]int{}
		for g := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 4 {
					// Values interleave across goroutines, so some must be refused.
					v := start + float64((i*6+g)*10) + float64(5*(g%2))
					_, err := a.CreateReading(acme, m.ID, NewReading{Value: v, ReadAt: time.Now().UTC().Truncate(time.Second), Source: "auto"})
					key := "ok"
					if err != nil {
						key = err.Error()
						if errors.Is(err, errReadingDecrease) || errors.Is(err, errReadingOrder) {
							key = "refused"
						}
					}
					mu.Lock()
					codes[key]++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		require.Equal(t, 24, codes["ok"]+codes["refused"], "unexpected errors: %v", codes)
		require.Positive(t, codes["ok"])
		rs, _, err := a.Readings(acme, m.ID, time.Time{}, time.Time{}, page{Page: 1, PerPage: 100000})
		require.NoError(t, err)
		for i := 1; i < len(rs); i++ {
			require.GreaterOrEqual(t, rs[i].Value, rs[i-1].Value, "reading %d decreased", rs[i].ID)
		}
	})
}
