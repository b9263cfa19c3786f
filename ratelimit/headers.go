package ratelimit

import (
	"strconv"
	"time"
)

// Header names, in Go's canonical form (HTTP header names are
// case-insensitive; RateLimit-Policy and Ratelimit-Policy are one header).
const (
	HeaderPolicy     = "Ratelimit-Policy"      // RateLimit-Policy, draft-ietf-httpapi-ratelimit-headers
	HeaderRateLimit  = "Ratelimit"             // RateLimit, same draft
	HeaderLimit      = "X-Ratelimit-Limit"     // legacy: units per window
	HeaderRemaining  = "X-Ratelimit-Remaining" // legacy: units left now
	HeaderReset      = "X-Ratelimit-Reset"     // legacy: delta seconds (or Unix time, see Options.ResetUnix)
	HeaderRetryAfter = "Retry-After"
)

// sfMaxInt is the largest RFC 8941 integer (15 digits). Larger counts, such
// as a quota Max used as "unlimited", are shown capped so the fields still
// parse; the legacy headers are capped alike so they agree.
const sfMaxInt = 999_999_999_999_999

// sfInt clamps v to the RFC 8941 integer range used here: 0..sfMaxInt.
func sfInt(v int64) int64 { return min(max(v, 0), sfMaxInt) }

// appendSFString appends s as an RFC 8941 sf-string. Characters outside
// printable ASCII, which an sf-string cannot carry, become '?'.
func appendSFString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20 || c > 0x7e:
			b = append(b, '?')
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// ceilSeconds rounds d up to whole seconds, never below 0.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	s := int64(d / time.Second) // d + time.Second - 1 would overflow near the largest Duration
	if d%time.Second != 0 {
		s++
	}
	return s
}

// appendPolicy appends one RateLimit-Policy item: name;q=quota;w=window.
// The window is rounded up to whole seconds (at least 1).
func appendPolicy(b []byte, name string, quota int64, window time.Duration) []byte {
	b = append(b, name...)
	b = append(b, ";q="...)
	b = strconv.AppendInt(b, sfInt(quota), 10)
	b = append(b, ";w="...)
	return strconv.AppendInt(b, sfInt(max(ceilSeconds(window), 1)), 10)
}

// appendRateLimit appends one RateLimit item: name;r=remaining;t=seconds.
func appendRateLimit(b []byte, name string, remaining, reset int64) []byte {
	b = append(b, name...)
	b = append(b, ";r="...)
	b = strconv.AppendInt(b, sfInt(remaining), 10)
	b = append(b, ";t="...)
	return strconv.AppendInt(b, sfInt(reset), 10)
}
