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
	if s != "" && !strings.ContainsAny(s, "%{}:") {
		return s
	}
	return string(appendEscaped(make([]byte, 0, len(s)+8), s))
}

// appendEscaped appends escapeKey(s) to dst.
func appendEscaped(dst []byte, s string) []byte {
	if s == "" {
		return append(dst, '%')
	}
	if !strings.ContainsAny(s, "%{}:") {
		return append(dst, s...)
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '%':
			dst = append(dst, "%25"...)
		case '{':
			dst = append(dst, "%7B"...)
		case '}':
			dst = append(dst, "%7D"...)
		case ':':
			dst = append(dst, "%3A"...)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// keyBase is prefix + "{" + escaped key + "}", the head of every Redis key of
// one limiter key.
func keyBase(prefix, key string) string {
	return string(appendKeyBase(nil, prefix, key))
}

// appendKeyBase appends keyBase(prefix, key) to dst.
func appendKeyBase(dst []byte, prefix, key string) []byte {
	dst = append(dst, prefix...)
	dst = append(dst, '{')
	dst = appendEscaped(dst, key)
	return append(dst, '}')
}

// gcraKey is the Redis key of the GCRA state of one limiter key.
func gcraKey(base string) string { return base + gcraSuffix }

const gcraSuffix = ":gcra"

// quotaKey is the Redis key of one quota counter for the period starting at
// start: base:q:<name>:d:2006-01-02 or base:q:<name>:m:2006-01, followed by
// the start's UTC offset (+09:00) when it is not zero. The offset keeps one
// quota name's counters in two zones apart, as the memory store does (it
// identifies a counter by its period's start instant), also when the
// tenant's zone changes.
func quotaKey(base, name string, p ratelimit.QuotaPeriod, start time.Time) string {
	return string(appendQuotaKey([]byte(base), name, p, start))
}

// appendQuotaKey appends to dst, which ends with a key base, the rest of
// quotaKey.
func appendQuotaKey(dst []byte, name string, p ratelimit.QuotaPeriod, start time.Time) []byte {
	dst = append(dst, ":q:"...)
	dst = appendEscaped(dst, name)
	if p == ratelimit.Month {
		dst = start.AppendFormat(append(dst, ":m:"...), "2006-01")
	} else {
		dst = start.AppendFormat(append(dst, ":d:"...), "2006-01-02")
	}
	if _, off := start.Zone(); off != 0 {
		layout := "-07:00"
		if off%60 != 0 {
			layout = "-07:00:00" // a historical offset in seconds
		}
		dst = start.AppendFormat(dst, layout)
	}
	return dst
}

// quotaSpan is what the script needs for one quota: two candidate periods and
// the instant (by the Redis clock) at which the later takes over. Far from a
// boundary both candidates are the current period.
type quotaSpan struct {
	boundary                 time.Time // zero: always the earlier period
	earlierEnd, laterEnd     time.Time // ResetAt of each candidate
	earlierStart, laterStart time.Time
}

// spanFor picks the candidate periods of q around the client's now. Within
// skew of a boundary the Redis server's clock decides, so every process,
// whatever its own clock, moves to the new period at the same instant.
func spanFor(q *ratelimit.Quota, now time.Time, skew time.Duration) quotaSpan {
	// PeriodBounds is the memory store's calendar too, so both stores agree
	// on every day, DST changes that skip or repeat midnight included.
	start, end := q.PeriodBounds(now)
	var s quotaSpan
	switch {
	case skew > 0 && now.Before(start.Add(skew)):
		prev, _ := q.PeriodBounds(start.Add(-time.Nanosecond))
		s.earlierStart, s.earlierEnd = prev, start
		s.laterStart, s.laterEnd = start, end
		s.boundary = start
	case skew > 0 && !now.Before(end.Add(-skew)):
		_, after := q.PeriodBounds(end)
		s.earlierStart, s.earlierEnd = start, end
		s.laterStart, s.laterEnd = end, after
		s.boundary = end
	default:
		s.earlierStart, s.earlierEnd = start, end
		s.laterStart, s.laterEnd = start, end
	}
	return s
}

// callKeys is the KEYS of one script call: the GCRA key, then per quota
// the counter of its earlier and of its later candidate period (the same
// key twice away from a boundary). All are built in buf and converted to
// one string, which keys slice: one allocation for every key of the call.
func callKeys(buf []byte, keys []string, prefix, key string, quotas []ratelimit.Quota, spans []quotaSpan) ([]byte, []string) {
	buf = appendKeyBase(buf[:0], prefix, key)
	base := len(buf)
	buf = append(buf, gcraSuffix...)
	// ends[i] is where key i of the call ends in buf; a later key equal to
	// the earlier one ends where the earlier does.
	var endBuf [1 + 2*4]int
	ends := append(endBuf[:0], len(buf))
	for i := range quotas {
		buf = append(buf, buf[:base]...)
		buf = appendQuotaKey(buf, quotas[i].Name, quotas[i].Period, spans[i].earlierStart)
		ends = append(ends, len(buf))
		if !spans[i].boundary.IsZero() {
			buf = append(buf, buf[:base]...)
			buf = appendQuotaKey(buf, quotas[i].Name, quotas[i].Period, spans[i].laterStart)
		}
		ends = append(ends, len(buf))
	}
	all := string(buf)
	keys = append(keys[:0], all[:ends[0]])
	for i := 1; i < len(ends); i += 2 {
		earlier := all[ends[i-1]:ends[i]]
		later := earlier
		if ends[i+1] > ends[i] {
			later = all[ends[i]:ends[i+1]]
		}
		keys = append(keys, earlier, later)
	}
	return buf, keys
}
