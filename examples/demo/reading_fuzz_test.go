package main

import (
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// FuzzDecodeReading: any POST body is either rejected with a 4xx status and
// an error code, or yields a finite, non-negative value, a known source and
// a time not in the future.
func FuzzDecodeReading(f *testing.F) {
	for _, s := range []string{
		`{"value": 1}`, `{"value": 1.5, "read_at": "2026-01-02T03:04:05Z", "source": "auto"}`,
		`{"value": -1}`, `{"value": 1e400}`, `{"value": "1"}`, `{"value": 1}{}`, `[]`, `null`, ``,
		`{"value": 1, "read_at": "2026-01-02T03:04:05+14:00"}`, `{"value":1,"read_at":"0000-01-01T00:00:00Z"}`,
		`{"value": 1, "x": 1}`, "{\"value\": 1}\n", `{"value": 1, "value": -5}`,
	} {
		f.Add(s)
	}
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body string) {
		in, status, code, err := decodeReading(strings.NewReader(body), now)
		if err != nil {
			require.True(t, status == http.StatusBadRequest || status == http.StatusUnprocessableEntity, "status %d", status)
			require.NotEmpty(t, code)
			return
		}
		require.False(t, math.IsNaN(in.Value) || math.IsInf(in.Value, 0))
		require.GreaterOrEqual(t, in.Value, 0.0)
		require.Contains(t, []string{"manual", "auto", "estimate"}, in.Source)
		require.False(t, in.ReadAt.After(now.Add(maxClockSkew)))
		require.Equal(t, time.UTC, in.ReadAt.Location())
	})
}

// FuzzListQuery: any query string either fails page/date parsing with an
// error or yields a page within bounds and UTC times.
func FuzzListQuery(f *testing.F) {
	for _, s := range []string{
		"page=2&per_page=10", "page=0", "per_page=101", "page=-1", "page=1e3", "page=99999999999999999999",
		"from=2026-01-02", "from=2026-01-02T03:04:05Z&to=2026-02-01", "to=2026-13-45", "from=%00", "from=2026-01-02T03:04:05-25:00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rawQuery string) {
		r, err := http.NewRequest(http.MethodGet, "http://acme.localhost/api/properties", nil)
		require.NoError(t, err)
		r.URL.RawQuery = rawQuery
		if pg, err := parsePage(r); err == nil {
			require.GreaterOrEqual(t, pg.Page, 1)
			require.True(t, pg.PerPage >= 1 && pg.PerPage <= maxPerPage)
			require.GreaterOrEqual(t, pg.offset(), 0)
		}
		for _, name := range []string{"from", "to"} {
			if v := r.URL.Query().Get(name); v != "" {
				if tm, err := parseTime(name, v); err == nil {
					require.Equal(t, time.UTC, tm.Location())
				} else {
					require.Contains(t, err.Error(), name)
				}
			}
		}
	})
}
