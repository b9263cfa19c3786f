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
