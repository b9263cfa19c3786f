package backup

import (
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tenantkit/tenantkit/internal/sqldialect"
)

// kind is how a column's values are represented in a backup file. It is
// derived from the declared type and the dialect, and recorded in the
// manifest so a reader needs no database to decode a file.
type kind uint8

const (
	kText        kind = iota // any string; also the fallback for unknown types
	kInt                     // integer of any width, as a decimal string
	kDecimal                 // exact numeric, as its decimal text (NaN allowed)
	kFloat                   // binary floating point, shortest exact text (NaN, Infinity allowed)
	kBool                    // true or false
	kBytes                   // raw bytes (base64 in JSON Lines)
	kJSON                    // JSON document kept as its exact text
	kTimestampTZ             // instant with an offset
	kTimestamp               // naive date and time, no offset
	kDate                    // calendar date
	kTime                    // time of day
)

var kindNames = [...]string{"text", "int", "decimal", "float", "bool", "bytes", "json", "timestamptz", "timestamp", "date", "time"}

func (k kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

func parseKind(s string) (kind, bool) {
	for i, n := range kindNames {
		if n == s {
			return kind(i), true
		}
	}
	return 0, false
}

// kindOf classifies a declared column type (lower-case, as the catalog
// reports it) of dialect d.
func kindOf(d sqldialect.Dialect, typ string) kind {
	t := strings.ToLower(strings.TrimSpace(typ))
	base := t
	if i := strings.IndexByte(base, '('); i >= 0 {
		base = strings.TrimSpace(base[:i]) + base[strings.IndexByte(base, ')')+1:]
	}
	base = strings.TrimSpace(base)
	switch d {
	case sqldialect.Postgres:
		switch {
		case strings.HasSuffix(base, "[]"):
			return kText
		case base == "smallint" || base == "integer" || base == "bigint" || base == "int2" || base == "int4" || base == "int8":
			return kInt
		case base == "numeric" || base == "decimal" || base == "money":
			if base == "money" {
				return kText
			}
			return kDecimal
		case base == "real" || base == "double precision" || base == "float4" || base == "float8":
			return kFloat
		case base == "boolean" || base == "bool":
			return kBool
		case base == "bytea":
			return kBytes
		case base == "json" || base == "jsonb":
			return kJSON
		case strings.HasPrefix(base, "timestamp") && strings.HasSuffix(base, "with time zone") || base == "timestamptz":
			return kTimestampTZ
		case strings.HasPrefix(base, "timestamp"):
			return kTimestamp
		case base == "date":
			return kDate
		}
		return kText
	case sqldialect.MySQL:
		base = strings.TrimSpace(strings.TrimSuffix(strings.TrimSuffix(base, " zerofill"), " unsigned"))
		switch base {
		case "tinyint", "smallint", "mediumint", "int", "integer", "bigint":
			return kInt
		case "decimal", "numeric", "dec", "fixed":
			return kDecimal
		case "float", "double", "double precision", "real":
			return kFloat
		case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob", "bit":
			return kBytes
		case "json":
			return kJSON
		case "timestamp":
			return kTimestampTZ
		case "datetime":
			return kTimestamp
		case "date":
			return kDate
		case "time":
			return kTime
		}
		return kText
	case sqldialect.SQLite:
		// SQLite stores what it is given; the declared type only sets an
		// affinity. Temporal and JSON types keep their exact text.
		switch {
		case strings.Contains(base, "int"):
			return kInt
		case strings.Contains(base, "char"), strings.Contains(base, "clob"), strings.Contains(base, "text"):
			return kText
		case strings.Contains(base, "blob"):
			return kBytes
		case strings.Contains(base, "real"), strings.Contains(base, "floa"), strings.Contains(base, "doub"):
			return kFloat
		case strings.Contains(base, "json"):
			return kJSON
		case strings.Contains(base, "time"), strings.Contains(base, "date"):
			return kText
		case strings.Contains(base, "bool"):
			return kInt
		case base == "":
			return kText
		}
		return kDecimal
	}
	return kText
}

// value is one column value of a row: NULL, or its canonical text. For
// kBytes the text is the raw bytes. Canonical text is what the backup file
// carries (JSON Lines strings, SQL literals are derived from it).
type value struct {
	null bool
	s    string
}

var nullValue = value{null: true}

// canonical turns what a driver returned for a column of kind k (selected
// as the export query selects it) into the canonical text.
func canonical(d sqldialect.Dialect, k kind, v any) (value, error) {
	var s string
	switch x := v.(type) {
	case nil:
		return nullValue, nil
	case string:
		s = x
	case []byte:
		s = string(x)
	case int64:
		s = strconv.FormatInt(x, 10)
	case int32:
		s = strconv.FormatInt(int64(x), 10)
	case int:
		s = strconv.Itoa(x)
	case uint64:
		s = strconv.FormatUint(x, 10)
	case float64:
		s = formatFloat(x, 64)
	case float32:
		s = formatFloat(float64(x), 32)
	case bool:
		s = strconv.FormatBool(x)
	case time.Time:
		return value{s: formatTime(k, x)}, nil
	default:
		return value{}, fmt.Errorf("unsupported driver value %T", v)
	}
	switch k {
	case kBytes:
		if d == sqldialect.Postgres { // selected as bytea::text, hex format
			if !strings.HasPrefix(s, `\x`) {
				return value{}, fmt.Errorf("bytea text %q is not in hex format", truncate(s))
			}
			b, err := hex.DecodeString(s[2:])
			if err != nil {
				return value{}, fmt.Errorf("bytea text: %w", err)
			}
			s = string(b)
		}
	case kTimestampTZ:
		if d != sqldialect.SQLite {
			s = isoTimestamp(s, true)
		}
	case kTimestamp:
		if d != sqldialect.SQLite {
			s = isoTimestamp(s, false)
		}
	case kBool:
		switch s {
		case "t", "true", "1":
			s = "true"
		case "f", "false", "0":
			s = "false"
		}
	}
	return value{s: s}, nil
}

func formatFloat(f float64, bits int) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return strconv.FormatFloat(f, 'g', -1, bits)
}

func formatTime(k kind, t time.Time) string {
	switch k {
	case kTimestampTZ:
		return t.Format("2006-01-02T15:04:05.999999999Z07:00")
	case kDate:
		return t.Format("2006-01-02")
	case kTime:
		return t.Format("15:04:05.999999999")
	}
	return t.Format("2006-01-02T15:04:05.999999999")
}

// isoTimestamp rewrites the server's "2006-01-02 15:04:05.999+00" into
// ISO 8601 "2006-01-02T15:04:05.999+00:00" (withZone) or
// "2006-01-02T15:04:05.999" (naive). Values of any other shape
// (infinity, BC dates) pass through unchanged.
func isoTimestamp(s string, withZone bool) string {
	if len(s) < 19 || s[4] != '-' || s[7] != '-' || (s[10] != ' ' && s[10] != 'T') || s[13] != ':' {
		return s
	}
	if strings.HasSuffix(s, " BC") {
		return s
	}
	b := []byte(s)
	b[10] = 'T'
	if withZone {
		// A trailing ±HH gets its minutes.
		n := len(b)
		if n >= 3 && (b[n-3] == '+' || b[n-3] == '-') && isDigit(b[n-2]) && isDigit(b[n-1]) {
			b = append(b, ':', '0', '0')
		}
	}
	return string(b)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// checkValue verifies that canonical text s is well-formed for kind k, so
// a damaged or hostile file is refused before anything is written.
func checkValue(k kind, v value) error {
	if v.null {
		return nil
	}
	s := v.s
	switch k {
	case kInt:
		if !isInteger(s) {
			return fmt.Errorf("%q is not an integer", truncate(s))
		}
	case kDecimal, kFloat:
		if !isNumber(s) {
			return fmt.Errorf("%q is not a number", truncate(s))
		}
	case kBool:
		if s != "true" && s != "false" {
			return fmt.Errorf("%q is not a boolean", truncate(s))
		}
	case kBytes:
		return nil
	default:
		if !utf8.ValidString(s) {
			return fmt.Errorf("text value is not valid UTF-8")
		}
	}
	return nil
}

func isInteger(s string) bool {
	if s != "" && (s[0] == '-' || s[0] == '+') {
		s = s[1:]
	}
	if s == "" || len(s) > 40 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// isNumber accepts a decimal or exponent literal and the special values
// NaN, Infinity and -Infinity.
func isNumber(s string) bool {
	switch s {
	case "NaN", "Infinity", "-Infinity", "+Infinity", "inf", "-inf":
		return true
	}
	if len(s) > 200 {
		return false
	}
	i := 0
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		i++
	}
	digits := 0
	for i < len(s) && isDigit(s[i]) {
		i++
		digits++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && isDigit(s[i]) {
			i++
			digits++
		}
	}
	if digits == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '-' || s[i] == '+') {
			i++
		}
		ed := 0
		for i < len(s) && isDigit(s[i]) {
			i++
			ed++
		}
		if ed == 0 {
			return false
		}
	}
	return i == len(s)
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
