package redisstore

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tenantkit/tenantkit/ratelimit"
)

func TestEscapeKey(t *testing.T) {
	cases := map[string]string{
		"":              "%",
		"tenant-42":     "tenant-42",
		"a}b":           "a%7Db",
		"{x}":           "%7Bx%7D",
		"%":             "%25",
		"a:q:b":         "a%3Aq%3Ab",
		"2001:db8::/64": "2001%3Adb8%3A%3A/64",
	}
	for in, want := range cases {
		require.Equal(t, want, escapeKey(in), "escapeKey(%q)", in)
	}
}

func TestKeyLayout(t *testing.T) {
	base := keyBase("tk:rl:", "acme")
	require.Equal(t, "tk:rl:{acme}:gcra", gcraKey(base))
	day := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	require.Equal(t, "tk:rl:{acme}:q:api_calls:d:2026-12-03", quotaKey(base, "api_calls", ratelimit.Day, day))
	require.Equal(t, "tk:rl:{acme}:q:api_calls:m:2026-12", quotaKey(base, "api_calls", ratelimit.Month, day))
	tokyo := time.FixedZone("JST", 9*3600)
	require.Equal(t, "tk:rl:{acme}:q:api_calls:d:2026-12-03+09:00", quotaKey(base, "api_calls", ratelimit.Day, day.In(tokyo).Add(-9*time.Hour)))
	require.Equal(t, "tk:rl:{acme}:q:api_calls:m:2026-12-03:30", quotaKey(base, "api_calls", ratelimit.Month, time.Date(2026, 12, 1, 0, 0, 0, 0, time.FixedZone("NST", -(3*3600+1800)))))

	// A key and a quota name that would splice into another pair's Redis
	// key are kept apart by the escaping.
	a := quotaKey(keyBase("p", "a}:q:b"), "c", ratelimit.Day, day)
	b := quotaKey(keyBase("p", "a"), "b}:q:c", ratelimit.Day, day)
	require.NotEqual(t, a, b)
}

func TestSpanFor(t *testing.T) {
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	require.NoError(t, err)
	q := ratelimit.Quota{Name: "api_calls", Period: ratelimit.Day, Location: tokyo}
	midnight := time.Date(2026, 12, 4, 0, 0, 0, 0, tokyo)

	// Mid-day: one candidate, no boundary.
	s, earlierKey, laterKey := spanWithKeys(&q, midnight.Add(-12*time.Hour), time.Minute)
	require.True(t, s.boundary.IsZero())
	require.Equal(t, earlierKey, laterKey)
	require.Equal(t, "p:{t}:q:api_calls:d:2026-12-03+09:00", earlierKey)
	require.True(t, s.earlierEnd.Equal(midnight))

	// 30 s before midnight: today and tomorrow, the server clock decides.
	s, earlierKey, laterKey = spanWithKeys(&q, midnight.Add(-30*time.Second), time.Minute)
	require.True(t, s.boundary.Equal(midnight))
	require.Equal(t, "p:{t}:q:api_calls:d:2026-12-03+09:00", earlierKey)
	require.Equal(t, "p:{t}:q:api_calls:d:2026-12-04+09:00", laterKey)
	require.True(t, s.laterEnd.Equal(midnight.AddDate(0, 0, 1)))

	// 30 s after midnight: yesterday and today.
	s, earlierKey, laterKey = spanWithKeys(&q, midnight.Add(30*time.Second), time.Minute)
	require.True(t, s.boundary.Equal(midnight))
	require.Equal(t, "p:{t}:q:api_calls:d:2026-12-03+09:00", earlierKey)
	require.Equal(t, "p:{t}:q:api_calls:d:2026-12-04+09:00", laterKey)

	// Negative skew: the process clock alone.
	s, earlierKey, laterKey = spanWithKeys(&q, midnight.Add(-30*time.Second), -1)
	require.True(t, s.boundary.IsZero())

	// Months across a year end, in UTC, and a DST day in New York.
	m := ratelimit.Quota{Name: "api_calls", Period: ratelimit.Month}
	s, earlierKey, laterKey = spanWithKeys(&m, time.Date(2026, 12, 31, 23, 59, 30, 0, time.UTC), time.Minute)
	require.Equal(t, "p:{t}:q:api_calls:m:2026-12", earlierKey)
	require.Equal(t, "p:{t}:q:api_calls:m:2027-01", laterKey)
	ny, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)
	dq := ratelimit.Quota{Name: "x", Period: ratelimit.Day, Location: ny}
	s, earlierKey, laterKey = spanWithKeys(&dq, time.Date(2026, 3, 8, 12, 0, 0, 0, ny), time.Minute)
	require.Equal(t, 23*time.Hour, s.earlierEnd.Sub(time.Date(2026, 3, 8, 0, 0, 0, 0, ny)), "spring-forward day is 23 h")
	for _, at := range []time.Time{time.Date(2026, 3, 8, 12, 0, 0, 0, ny), time.Date(2026, 11, 1, 0, 0, 30, 0, ny)} {
		start, next := dq.PeriodBounds(at)
		s := spanFor(&dq, at, 0)
		require.True(t, s.earlierEnd.Equal(next) || s.laterEnd.Equal(next), "%v: agrees with Quota.PeriodBounds", at)
		require.True(t, s.earlierStart.Equal(start) || s.laterStart.Equal(start))
	}
}

// spanWithKeys is spanFor and the two keys callKeys gives the quota, for
// prefix "p:" and key "t".
func spanWithKeys(q *ratelimit.Quota, now time.Time, skew time.Duration) (s quotaSpan, earlier, later string) {
	s = spanFor(q, now, skew)
	_, keys := callKeys(nil, nil, "p:", "t", []ratelimit.Quota{*q}, []quotaSpan{s})
	return s, keys[1], keys[2]
}

// callKeys lays out the GCRA key and two keys per quota, the later one a
// separate key only near a boundary, each the key that quotaKey names, also
// when a buffer is reused for another call.
func TestCallKeys(t *testing.T) {
	tokyo := time.FixedZone("JST", 9*3600)
	quotas := []ratelimit.Quota{
		{Name: "api_calls", Period: ratelimit.Day},
		{Name: "a:b", Period: ratelimit.Month, Location: tokyo},
		{Name: "x", Period: ratelimit.Day, Location: tokyo},
	}
	now := time.Date(2026, 12, 31, 23, 59, 30, 0, time.UTC) // near midnight in UTC only
	spans := make([]quotaSpan, len(quotas))
	for i := range quotas {
		spans[i] = spanFor(&quotas[i], now, time.Minute)
	}
	buf, keys := callKeys(nil, nil, "tk:", "a}b", quotas, spans)
	base := keyBase("tk:", "a}b")
	want := []string{gcraKey(base)}
	for i, q := range quotas {
		want = append(want, quotaKey(base, q.Name, q.Period, spans[i].earlierStart), quotaKey(base, q.Name, q.Period, spans[i].laterStart))
	}
	require.Equal(t, want, keys)
	require.Equal(t, "tk:{a%7Db}:q:api_calls:d:2026-12-31", keys[1])
	require.Equal(t, "tk:{a%7Db}:q:api_calls:d:2027-01-01", keys[2])
	require.Equal(t, keys[3], keys[4], "away from a boundary both candidates are one key")

	first := slices.Clone(keys)
	_, again := callKeys(buf, keys, "tk:", "k", quotas[:1], spans[:1])
	require.Equal(t, []string{"tk:{k}:gcra", "tk:{k}:q:api_calls:d:2026-12-31", "tk:{k}:q:api_calls:d:2027-01-01"}, again)
	require.Equal(t, want, first, "the key strings of an earlier call stay intact when its buffer is reused")
}

// FuzzEscapeKey checks that escaping is injective and leaves no character
// that would end the hash tag or split the key layout.
func FuzzEscapeKey(f *testing.F) {
	for _, s := range []string{"", "%", "%25", "a}b", "{", "}", "{}", ":", "a:b", "tenant-42", "\x00\xff", "%7B", "2001:db8::1"} {
		f.Add(s, s+"x")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ea, eb := escapeKey(a), escapeKey(b)
		if strings.ContainsAny(ea, "{}:") {
			t.Fatalf("escapeKey(%q) = %q keeps a brace or colon", a, ea)
		}
		if a != b && ea == eb {
			t.Fatalf("escapeKey(%q) == escapeKey(%q) == %q", a, b, ea)
		}
	})
}
