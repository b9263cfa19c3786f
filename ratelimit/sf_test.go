package ratelimit_test

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// sfItem is one member of an RFC 8941 List: a bare item with parameters.
type sfItem struct {
	Value  any // string (sf-string), sfToken, int64 or bool
	Params []sfParam
}

type sfParam struct {
	Key   string
	Value any
}

type sfToken string

func (it sfItem) param(k string) (any, bool) {
	for _, p := range it.Params {
		if p.Key == k {
			return p.Value, true
		}
	}
	return nil, false
}

// parseSFList is a strict RFC 8941 §4.2.1 List parser (items only: inner
// lists, decimals and byte sequences are rejected, as the rate-limit
// headers never use them).
func parseSFList(s string) ([]sfItem, error) {
	p := &sfParser{s: s}
	p.skipSP()
	var out []sfItem
	if p.eof() {
		return nil, errors.New("sf: empty list")
	}
	for {
		it, err := p.item()
		if err != nil {
			return nil, err
		}
		out = append(out, it)
		p.skipOWS()
		if p.eof() {
			return out, nil
		}
		if p.s[p.i] != ',' {
			return nil, fmt.Errorf("sf: want ',' at %d in %q", p.i, s)
		}
		p.i++
		p.skipOWS()
		if p.eof() {
			return nil, errors.New("sf: trailing comma")
		}
	}
}

type sfParser struct {
	s string
	i int
}

func (p *sfParser) eof() bool { return p.i >= len(p.s) }

func (p *sfParser) skipSP() {
	for !p.eof() && p.s[p.i] == ' ' {
		p.i++
	}
}

func (p *sfParser) skipOWS() {
	for !p.eof() && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *sfParser) item() (sfItem, error) {
	v, err := p.bare()
	if err != nil {
		return sfItem{}, err
	}
	it := sfItem{Value: v}
	seen := map[string]bool{}
	for !p.eof() && p.s[p.i] == ';' {
		p.i++
		p.skipSP()
		k, err := p.key()
		if err != nil {
			return sfItem{}, err
		}
		var pv any = true
		if !p.eof() && p.s[p.i] == '=' {
			p.i++
			if pv, err = p.bare(); err != nil {
				return sfItem{}, err
			}
		}
		if seen[k] {
			return sfItem{}, fmt.Errorf("sf: duplicate parameter %q", k)
		}
		seen[k] = true
		it.Params = append(it.Params, sfParam{k, pv})
	}
	return it, nil
}

func (p *sfParser) key() (string, error) {
	start := p.i
	if p.eof() || !(p.s[p.i] >= 'a' && p.s[p.i] <= 'z' || p.s[p.i] == '*') {
		return "", fmt.Errorf("sf: bad key at %d", p.i)
	}
	for !p.eof() {
		c := p.s[p.i]
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' || c == '*' {
			p.i++
			continue
		}
		break
	}
	return p.s[start:p.i], nil
}

func (p *sfParser) bare() (any, error) {
	if p.eof() {
		return nil, errors.New("sf: missing bare item")
	}
	c := p.s[p.i]
	switch {
	case c == '-' || c >= '0' && c <= '9':
		start := p.i
		if c == '-' {
			p.i++
		}
		d := p.i
		for !p.eof() && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
		}
		if p.i == d || p.i-d > 15 {
			return nil, fmt.Errorf("sf: bad integer at %d", start)
		}
		if !p.eof() && p.s[p.i] == '.' {
			return nil, errors.New("sf: decimals are not expected")
		}
		return strconv.ParseInt(p.s[start:p.i], 10, 64)
	case c == '"':
		p.i++
		var b strings.Builder
		for {
			if p.eof() {
				return nil, errors.New("sf: unterminated string")
			}
			c := p.s[p.i]
			p.i++
			switch {
			case c == '\\':
				if p.eof() || p.s[p.i] != '"' && p.s[p.i] != '\\' {
					return nil, errors.New("sf: bad escape")
				}
				b.WriteByte(p.s[p.i])
				p.i++
			case c == '"':
				return b.String(), nil
			case c < 0x20 || c > 0x7e:
				return nil, fmt.Errorf("sf: byte %#x in string", c)
			default:
				b.WriteByte(c)
			}
		}
	case c == '?':
		if p.i+1 < len(p.s) && (p.s[p.i+1] == '0' || p.s[p.i+1] == '1') {
			p.i += 2
			return p.s[p.i-1] == '1', nil
		}
		return nil, errors.New("sf: bad boolean")
	case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '*':
		start := p.i
		for !p.eof() && strings.IndexByte("!#$%&'*+-.^_`|~:/", p.s[p.i]) >= 0 || !p.eof() && isAlnum(p.s[p.i]) {
			p.i++
		}
		return sfToken(p.s[start:p.i]), nil
	}
	return nil, fmt.Errorf("sf: unexpected %q at %d", c, p.i)
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
