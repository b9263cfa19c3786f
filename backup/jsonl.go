package backup

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// JSON Lines row encoding. A row is a JSON array, one element per column:
//
//	null                      NULL (distinct from "", the empty string)
//	true / false              bool columns
//	"…"                       every other kind, as its canonical text:
//	                          integers and decimals as strings (no float
//	                          rounding), timestamps with their offset,
//	                          naive timestamps without one, bytes in base64
//	{…} [ … ] 1 "…"           JSON columns, raw (the document itself)
//	{"$tkv1text":"…"}         a JSON column whose text cannot be embedded as
//	                          it is (not valid JSON, has line breaks or
//	                          surrounding space, or starts with {"$tkv1)
//	{"$tkv1b64":"…"}          a text value that is not valid UTF-8
const (
	wrapText = `{"$tkv1text":`
	wrapB64  = `{"$tkv1b64":`
)

func appendJSONRow(b []byte, kinds []kind, vals []value) []byte {
	b = append(b, '[')
	for i, v := range vals {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONValue(b, kinds[i], v)
	}
	return append(b, ']', '\n')
}

func appendJSONValue(b []byte, k kind, v value) []byte {
	if v.null {
		return append(b, "null"...)
	}
	switch k {
	case kBool:
		if v.s == "true" || v.s == "false" {
			return append(b, v.s...)
		}
	case kBytes:
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, []byte(v.s))
		return append(b, '"')
	case kJSON:
		if rawJSONOK(v.s) {
			return append(b, v.s...)
		}
		if utf8.ValidString(v.s) {
			b = append(b, wrapText...)
			b = appendJSONString(b, v.s)
			return append(b, '}')
		}
	}
	if !utf8.ValidString(v.s) {
		b = append(b, wrapB64...)
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, []byte(v.s))
		return append(b, '"', '}')
	}
	return appendJSONString(b, v.s)
}

// rawJSONOK reports whether s can be written into a row as it is and read
// back byte for byte.
func rawJSONOK(s string) bool {
	if s == "" || len(s) > 1<<20 {
		return false
	}
	if isSpace(s[0]) || isSpace(s[len(s)-1]) || len(s) >= 7 && s[:7] == `{"$tkv1` {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' || s[i] == '\r' {
			return false
		}
	}
	return json.Valid([]byte(s))
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

const hexDigits = "0123456789abcdef"

func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c != 0x7f {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

var errJSONSyntax = errors.New("invalid JSON")

// parseJSONRow decodes one row line (without its newline) into vals,
// which must have one slot per column. Values are checked against their
// kind.
func parseJSONRow(line []byte, kinds []kind, vals []value) error {
	p := jsonParser{b: line}
	p.ws()
	if !p.eat('[') {
		return fmt.Errorf("row is not a JSON array")
	}
	for i := range kinds {
		p.ws()
		if i > 0 {
			if !p.eat(',') {
				if p.peek() == ']' {
					return fmt.Errorf("row has %d values, want %d", i, len(kinds))
				}
				return fmt.Errorf("column %d: expected ','", i+1)
			}
			p.ws()
		}
		v, err := p.value(kinds[i])
		if err != nil {
			return fmt.Errorf("column %d: %w", i+1, err)
		}
		if err := checkValue(kinds[i], v); err != nil {
			return fmt.Errorf("column %d: %w", i+1, err)
		}
		vals[i] = v
	}
	p.ws()
	if !p.eat(']') {
		if p.peek() == ',' {
			return fmt.Errorf("row has more than %d values", len(kinds))
		}
		return fmt.Errorf("expected ']' at offset %d", p.i)
	}
	p.ws()
	if p.i != len(p.b) {
		return fmt.Errorf("trailing data after the row")
	}
	return nil
}

type jsonParser struct {
	b []byte
	i int
}

func (p *jsonParser) ws() {
	for p.i < len(p.b) && isSpace(p.b[p.i]) {
		p.i++
	}
}

func (p *jsonParser) peek() byte {
	if p.i < len(p.b) {
		return p.b[p.i]
	}
	return 0
}

func (p *jsonParser) eat(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *jsonParser) lit(s string) bool {
	if bytes.HasPrefix(p.b[p.i:], []byte(s)) {
		p.i += len(s)
		return true
	}
	return false
}

func (p *jsonParser) value(k kind) (value, error) {
	switch c := p.peek(); {
	case c == 'n':
		if p.lit("null") {
			return nullValue, nil
		}
	case c == 't' || c == 'f':
		if k == kJSON {
			return p.raw()
		}
		if k != kBool {
			return value{}, fmt.Errorf("boolean for a %s column", k)
		}
		if p.lit("true") {
			return value{s: "true"}, nil
		}
		if p.lit("false") {
			return value{s: "false"}, nil
		}
	case c == '"':
		if k == kJSON {
			return p.raw()
		}
		s, err := p.str()
		if err != nil {
			return value{}, err
		}
		if k == kBytes {
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return value{}, fmt.Errorf("bytes: invalid base64: %w", err)
			}
			return value{s: string(b)}, nil
		}
		return value{s: s}, nil
	case c == '{':
		if bytes.HasPrefix(p.b[p.i:], []byte(wrapText)) && k == kJSON {
			p.i += len(wrapText)
			s, err := p.str()
			if err != nil {
				return value{}, err
			}
			if !p.eat('}') {
				return value{}, fmt.Errorf("malformed %s wrapper", wrapText)
			}
			return value{s: s}, nil
		}
		if bytes.HasPrefix(p.b[p.i:], []byte(wrapB64)) {
			p.i += len(wrapB64)
			s, err := p.str()
			if err != nil {
				return value{}, err
			}
			if !p.eat('}') {
				return value{}, fmt.Errorf("malformed %s wrapper", wrapB64)
			}
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return value{}, fmt.Errorf("invalid base64: %w", err)
			}
			return value{s: string(b)}, nil
		}
		if k == kJSON {
			return p.raw()
		}
		return value{}, fmt.Errorf("object for a %s column", k)
	case c == '[' || c == '-' || isDigit(c):
		if k == kJSON {
			return p.raw()
		}
		return value{}, fmt.Errorf("unquoted %s value (numbers are written as strings)", k)
	case c == 0:
		return value{}, fmt.Errorf("row ends early")
	}
	return value{}, fmt.Errorf("unexpected %q", p.peek())
}

// raw takes one JSON value as it is written.
func (p *jsonParser) raw() (value, error) {
	start := p.i
	if err := p.skip(0); err != nil {
		return value{}, err
	}
	s := p.b[start:p.i]
	if !json.Valid(s) {
		return value{}, fmt.Errorf("JSON column: %w", errJSONSyntax)
	}
	return value{s: string(s)}, nil
}

func (p *jsonParser) skip(depth int) error {
	if depth > 512 {
		return fmt.Errorf("JSON nested too deeply")
	}
	p.ws()
	switch c := p.peek(); {
	case c == '"':
		_, err := p.str()
		return err
	case c == '{' || c == '[':
		end := byte('}')
		if c == '[' {
			end = ']'
		}
		p.i++
		p.ws()
		if p.eat(end) {
			return nil
		}
		for {
			if c == '{' {
				p.ws()
				if _, err := p.str(); err != nil {
					return err
				}
				p.ws()
				if !p.eat(':') {
					return errJSONSyntax
				}
			}
			if err := p.skip(depth + 1); err != nil {
				return err
			}
			p.ws()
			if p.eat(end) {
				return nil
			}
			if !p.eat(',') {
				return errJSONSyntax
			}
		}
	case c == 't':
		if p.lit("true") {
			return nil
		}
	case c == 'f':
		if p.lit("false") {
			return nil
		}
	case c == 'n':
		if p.lit("null") {
			return nil
		}
	case c == '-' || isDigit(c):
		for p.i < len(p.b) && (isDigit(p.b[p.i]) || bytes.IndexByte([]byte("+-.eE"), p.b[p.i]) >= 0) {
			p.i++
		}
		return nil
	}
	return errJSONSyntax
}

// str parses a JSON string at p.i.
func (p *jsonParser) str() (string, error) {
	if !p.eat('"') {
		return "", fmt.Errorf("expected a string")
	}
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		if c == '"' {
			s := string(p.b[start:p.i])
			p.i++
			return s, nil
		}
		if c == '\\' {
			return p.strSlow(start)
		}
		if c < 0x20 {
			return "", fmt.Errorf("control character in string")
		}
		p.i++
	}
	return "", fmt.Errorf("unterminated string")
}

func (p *jsonParser) strSlow(start int) (string, error) {
	out := append([]byte(nil), p.b[start:p.i]...)
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return string(out), nil
		case c < 0x20:
			return "", fmt.Errorf("control character in string")
		case c != '\\':
			out = append(out, c)
			p.i++
			continue
		}
		p.i++
		if p.i >= len(p.b) {
			break
		}
		e := p.b[p.i]
		p.i++
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return "", fmt.Errorf("bad \\u escape")
			}
			if utf16.IsSurrogate(r) {
				if p.i+1 < len(p.b) && p.b[p.i] == '\\' && p.b[p.i+1] == 'u' {
					p.i += 2
					r2, ok := p.hex4()
					if !ok {
						return "", fmt.Errorf("bad \\u escape")
					}
					r = utf16.DecodeRune(r, r2)
				} else {
					r = utf8.RuneError
				}
			}
			out = utf8.AppendRune(out, r)
		default:
			return "", fmt.Errorf("bad escape \\%c", e)
		}
	}
	return "", fmt.Errorf("unterminated string")
}

func (p *jsonParser) hex4() (rune, bool) {
	if p.i+4 > len(p.b) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(p.b[p.i:p.i+4]), 16, 32)
	if err != nil {
		return 0, false
	}
	p.i += 4
	return rune(n), true
}
