package redisstore

import (
	"strings"
	"time"

	"github.com/tenantkit/tenantkit/ratelimit"
)

// quotaRetention is how long a quota counter outlives its period, so a late
// writer whose clock lags still finds it and a reader can see the last period.
const quotaRetention = time.Hour

// escapeKey makes a caller's key safe inside a hash tag: '%', '{', '}' and ':'
// are percent-encoded, so the tag is exactly the key (all of one key's Redis
// keys share a slot) and no two (key, quota name) pairs map to the same Redis
// key. The empty key becomes "%" (never produced by encoding).
func escapeKey(s string) string {
	if s == "" {
		return "%"
	}
	if !strings.ContainsAny(s, "%{}:") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '%':
			b.WriteString("%25")
		case '{':
			b.WriteString("%7B")
		case '}':
			b.WriteString("%7D")
		case ':':
			b.WriteString("%3A")
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// keyBase is prefix + "{" + escaped key + "}", the head of every Redis key of
// one limiter key.
func keyBase(prefix, key string) string {
	return prefix + "{" + escapeKey(key) + "}"
}

// gcraKey is the Redis key of the GCRA state of one limiter key.
func gcraKey(base string) string { return base + ":gcra" }

// quotaKey is the Redis key of one quota counter for the period starting at
// start: base:q:<name>:d:2006-01-02 or base:q:<name>:m:2006-01, followed by
// the start's UTC offset (+09:00) when it is not zero. The offset keeps one
// quota name's counters in two zones apart, as the memory store does (it
// identifies a counter by its period's start instant), also when the
// tenant's zone changes.
func quotaKey(base, name string, p ratelimit.QuotaPeriod, start time.Time) string {
	var buf [len(":d:2006-01-02-07:00:00")]byte
	var suffix []byte
	if p == ratelimit.Month {
		suffix = start.AppendFormat(append(buf[:0], ":m:"...), "2006-01")
	} else {
		suffix = start.AppendFormat(append(buf[:0], ":d:"...), "2006-01-02")
	}
	if _, off := start.Zone(); off != 0 {
		layout := "-07:00"
		if off%60 != 0 {
			layout = "-07:00:00" // a historical offset in seconds
		}
		suffix = start.AppendFormat(suffix, layout)
	}
	return base + ":q:" + escapeKey(name) + string(suffix)
}

// periodStart is the start of the calendar period containing t, in loc.
func periodStart(t time.Time, p ratelimit.QuotaPeriod, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	if p == ratelimit.Month {
		return midnight(y, m, 1, loc)
	}
	return midnight(y, m, d, loc)
}

// periodAfter is the start of the period after the one starting at start.
func periodAfter(start time.Time, p ratelimit.QuotaPeriod, loc *time.Location) time.Time {
	y, m, d := start.In(loc).Date()
	if p == ratelimit.Month {
		return midnight(y, m+1, 1, loc)
	}
	return midnight(y, m, d+1, loc) // time.Date normalizes month ends and Feb 29
}

// midnight is the first instant of day y-m-d (normalized) in loc: local
// midnight, or where a DST change skips midnight (America/Santiago,
// Asia/Beirut) the end of the skipped hour. time.Date answers such a
// midnight with an instant of the previous day, which would name the new
// day's counter after the old day, so that the day never resets.
func midnight(y int, m time.Month, d int, loc *time.Location) time.Time {
	t := time.Date(y, m, d, 0, 0, 0, 0, loc)
	if t.Hour() >= 12 { // landed on the previous day
		if _, end := t.ZoneBounds(); !end.IsZero() {
			t = end
		}
	}
	return t
}

// quotaSpan is what the script needs for one quota: two candidate periods and
// the instant (by the Redis clock) at which the later takes over. Far from a
// boundary both candidates are the current period.
type quotaSpan struct {
	earlierKey, laterKey     string
	boundary                 time.Time // zero: always the earlier key
	earlierEnd, laterEnd     time.Time // ResetAt of each candidate
	earlierStart, laterStart time.Time
}

// spanFor picks the candidate periods of q around the client's now. Within
// skew of a boundary the Redis server's clock decides, so every process,
// whatever its own clock, moves to the new period at the same instant.
func spanFor(base string, q *ratelimit.Quota, now time.Time, skew time.Duration) quotaSpan {
	loc := q.Location
	if loc == nil {
		loc = time.UTC
	}
	start := periodStart(now, q.Period, loc)
	end := periodAfter(start, q.Period, loc)
	var s quotaSpan
	switch {
	case skew > 0 && now.Before(start.Add(skew)):
		prev := periodStart(start.Add(-time.Nanosecond), q.Period, loc)
		s.earlierStart, s.earlierEnd = prev, start
		s.laterStart, s.laterEnd = start, end
		s.boundary = start
	case skew > 0 && !now.Before(end.Add(-skew)):
		s.earlierStart, s.earlierEnd = start, end
		s.laterStart, s.laterEnd = end, periodAfter(end, q.Period, loc)
		s.boundary = end
	default:
		s.earlierStart, s.earlierEnd = start, end
		s.laterStart, s.laterEnd = start, end
	}
	s.earlierKey = quotaKey(base, q.Name, q.Period, s.earlierStart)
	if s.boundary.IsZero() {
		s.laterKey = s.earlierKey
	} else {
		s.laterKey = quotaKey(base, q.Name, q.Period, s.laterStart)
	}
	return s
}
