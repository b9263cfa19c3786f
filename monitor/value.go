package monitor

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// Value is a number that may be absent: a percentage of a quota of 0, a
// latency quantile of a tenant without traffic, an uptime before anything was
// observed. The zero Value is absent.
//
// Value exists because JSON cannot encode NaN or ±Inf: an absent or
// non-finite Value marshals as null, so no API built on this package ever
// emits NaN, and callers cannot mistake "no data" for 0.
type Value struct {
	V     float64 // the number; meaningful only when Valid
	Valid bool    // false means absent
}

// Some returns a present Value, or an absent one when v is NaN or ±Inf.
func Some(v float64) Value {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return Value{}
	}
	return Value{V: v, Valid: true}
}

// Or returns v's number, or def when v is absent.
func (v Value) Or(def float64) float64 {
	if !v.Valid {
		return def
	}
	return v.V
}

// String formats v with up to two decimals, or "n/a" when absent.
func (v Value) String() string {
	if !v.Valid {
		return "n/a"
	}
	r := math.Round(v.V*100) / 100
	if math.IsInf(r, 0) || math.IsNaN(r) {
		r = v.V
	}
	return strconv.FormatFloat(r, 'f', -1, 64)
}

// MarshalJSON encodes v as a number rounded to four decimals, or null when
// absent or not finite.
func (v Value) MarshalJSON() ([]byte, error) {
	if !v.Valid || math.IsNaN(v.V) || math.IsInf(v.V, 0) {
		return []byte("null"), nil
	}
	r := math.Round(v.V*1e4) / 1e4
	if math.IsInf(r, 0) || math.IsNaN(r) {
		r = v.V // too large to round: already an integer
	}
	return strconv.AppendFloat(nil, r, 'f', -1, 64), nil
}

// UnmarshalJSON decodes a number or null.
func (v *Value) UnmarshalJSON(b []byte) error {
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		*v = Value{}
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("monitor: value: %w", err)
	}
	*v = Some(f)
	return nil
}
