package redisstore

import (
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
	base := keyBase("p:", "t")
	midnight := time.Date(2026, 12, 4, 0, 0, 0, 0, tokyo)

	// Mid-day: one candidate, no boundary.
	s := spanFor(base, &q, midnight.Add(-12*time.Hour), time.Minute)
	require.True(t, s.boundary.IsZero())
	require.Equal(t, s.earlierKey, s.laterKey)
	require.Equal(t, "p:{t}:q:api_calls:d:2026-12-03+09:00", s.earlierKey)
	require.True(t, s.earlierEnd.Equal(midnight))

	// 30 s before midnight: today and tomorrow, the server clock decides.
	s = spanFor(base, &q, midnight.Add(-30*time.Second), time.Minute)
	require.True(t, s.boundary.Equal(midnight))
	require.Equal(t, "p:{t}:q:api_calls:d:2026-12-03+09:00", s.earlierKey)
	require.Equal(t, "p:{t}:q:api_calls:d:2026-12-04+09:00", s.laterKey)
	require.True(t, s.laterEnd.Equal(midnight.AddDate(0, 0, 1)))

	// 30 s after midnight: yesterday and today.
	s = spanFor(base, &q, midnight.Add(30*time.Second), time.Minute)
	require.True(t, s.boundary.Equal(midnight))
	require.Equal(t, "p:{t}:q:api_calls:d:2026-12-03+09:00", s.earlierKey)
	require.Equal(t, "p:{t}:q:api_calls:d:2026-12-04+09:00", s.laterKey)

	// Negative skew: the process clock alone.
	s = spanFor(base, &q, midnight.Add(-30*time.Second), -1)
	require.True(t, s.boundary.IsZero())

	// Months across a year end, in UTC, and a DST day in New York.
	m := ratelimit.Quota{Name: "api_calls", Period: ratelimit.Month}
	s = spanFor(base, &m, time.Date(2026, 12, 31, 23, 59, 30, 0, time.UTC), time.Minute)
	require.Equal(t, "p:{t}:q:api_calls:m:2026-12", s.earlierKey)
	require.Equal(t, "p:{t}:q:api_calls:m:2027-01", s.laterKey)
	ny, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)
	dq := ratelimit.Quota{Name: "x", Period: ratelimit.Day, Location: ny}
	s = spanFor(base, &dq, time.Date(2026, 3, 8, 12, 0, 0, 0, ny), time.Minute)
	require.Equal(t, 23*time.Hour, s.earlierEnd.Sub(time.Date(2026, 3, 8, 0, 0, 0, 0, ny)), "spring-forward day is 23 h")
	for _, at := range []time.Time{time.Date(2026, 3, 8, 12, 0, 0, 0, ny), time.Date(2026, 11, 1, 0, 0, 30, 0, ny)} {
		start, next := dq.PeriodBounds(at)
		s := spanFor(base, &dq, at, 0)
		require.True(t, s.earlierEnd.Equal(next) || s.laterEnd.Equal(next), "%v: agrees with Quota.PeriodBounds", at)
		require.True(t, s.earlierStart.Equal(start) || s.laterStart.Equal(start))
	}
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
