package backup

import (
	"encoding/hex"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tenantkit/tenantkit/internal/sqldialect"
)

// SQL codec. Every data line is one statement of a restricted grammar,
// written by this package and parsed back by it (a restore never hands the
// file to the database):
//
//	INSERT INTO <ident> (<ident>, ...) [OVERRIDING SYSTEM VALUE] VALUES (<literal>, ...);
//	UPDATE <ident> SET <ident> = <literal>, ... WHERE <ident> = <literal> AND ...;
//
// Literals: NULL, TRUE, FALSE, a decimal number, a '…' string ('' for a
// quote), E'…' (PostgreSQL, backslash escapes), X'…' hex bytes and, on
// SQLite, CAST(X'…' AS TEXT) for text with control characters. Strings are
// written so that each dialect's own client reads the same bytes: no
// backslashes in MySQL strings (text holding one goes out as X'…'), no
// control characters on any line.

// sqlPreamble and sqlPostamble are the only other statements a SQL backup
// holds; the reader accepts exactly these lines.
func sqlPreamble(d sqldialect.Dialect) []string {
	switch d {
	case sqldialect.Postgres:
		return []string{"SET client_encoding = 'UTF8';", "SET standard_conforming_strings = on;", "SET TimeZone = 'UTC';", "BEGIN;"}
	case sqldialect.MySQL:
		return []string{"SET NAMES utf8mb4;", "SET time_zone = '+00:00';", "START TRANSACTION;"}
	}
	return []string{"BEGIN;"}
}

func sqlPostamble(sqldialect.Dialect) []string { return []string{"COMMIT;"} }

func appendSQLLiteral(b []byte, d sqldialect.Dialect, k kind, v value) []byte {
	if v.null {
		return append(b, "NULL"...)
	}
	s := v.s
	switch k {
	case kBytes:
		if d == sqldialect.Postgres {
			b = append(b, `'\x`...)
			b = hex.AppendEncode(b, []byte(s))
			return append(b, '\'')
		}
		b = append(b, "X'"...)
		b = hex.AppendEncode(b, []byte(s))
		return append(b, '\'')
	case kInt, kDecimal, kFloat:
		if isPlainNumber(s) {
			return append(b, s...)
		}
	case kBool:
		if d == sqldialect.Postgres && (s == "true" || s == "false") {
			return append(b, strings.ToUpper(s)...)
		}
	case kTimestampTZ, kTimestamp:
		if d == sqldialect.MySQL {
			s = mysqlTime(s)
		}
	}
	return appendSQLString(b, d, s)
}

// isPlainNumber: digits with an optional sign, point and exponent (no NaN
// or Infinity, which must be quoted).
func isPlainNumber(s string) bool {
	return s != "" && (isDigit(s[0]) || s[0] == '-' && len(s) > 1 && isDigit(s[1])) && isNumber(s)
}

func needsEscape(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return true
		}
	}
	return false
}

func appendSQLString(b []byte, d sqldialect.Dialect, s string) []byte {
	switch d {
	case sqldialect.MySQL:
		if needsEscape(s) || strings.IndexByte(s, '\\') >= 0 || !utf8.ValidString(s) {
			b = append(b, "X'"...)
			b = hex.AppendEncode(b, []byte(s))
			return append(b, '\'')
		}
	case sqldialect.SQLite:
		if needsEscape(s) || !utf8.ValidString(s) {
			b = append(b, "CAST(X'"...)
			b = hex.AppendEncode(b, []byte(s))
			return append(b, "' AS TEXT)"...)
		}
	case sqldialect.Postgres:
		if needsEscape(s) {
			b = append(b, "E'"...)
			for i := 0; i < len(s); i++ {
				switch c := s[i]; {
				case c == '\\' || c == '\'':
					b = append(b, '\\', c)
				case c == '\n':
					b = append(b, '\\', 'n')
				case c == '\r':
					b = append(b, '\\', 'r')
				case c == '\t':
					b = append(b, '\\', 't')
				case c < 0x20 || c == 0x7f:
					b = append(b, '\\', 'x', hexDigits[c>>4], hexDigits[c&0xf])
				default:
					b = append(b, c)
				}
			}
			return append(b, '\'')
		}
	}
	b = append(b, '\'')
	for {
		i := strings.IndexByte(s, '\'')
		if i < 0 {
			break
		}
		b = append(b, s[:i+1]...)
		b = append(b, '\'')
		s = s[i+1:]
	}
	b = append(b, s...)
	return append(b, '\'')
}

// mysqlTime turns a canonical timestamp into MySQL's literal form: a space
// instead of T and, for a value with an offset, the UTC wall time (the
// file and the restore both set time_zone = '+00:00').
func mysqlTime(s string) string {
	if len(s) < 19 || s[10] != 'T' {
		return s
	}
	if strings.HasSuffix(s, "+00:00") || strings.HasSuffix(s, "Z") {
		s = strings.TrimSuffix(strings.TrimSuffix(s, "+00:00"), "Z")
	} else if i := strings.LastIndexAny(s, "+-"); i > 18 {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t.UTC().Format("2006-01-02 15:04:05.999999")
		}
	}
	return s[:10] + " " + s[11:]
}

func appendInsert(b []byte, d sqldialect.Dialect, t *ptable, vals []value) []byte {
	b = append(b, "INSERT INTO "...)
	b = append(b, t.qname...)
	b = append(b, " ("...)
	b = append(b, t.qcols...)
	if d == sqldialect.Postgres && overridingIdentity(t) {
		// psql must keep a GENERATED ALWAYS identity's key as it was.
		b = append(b, ") OVERRIDING SYSTEM VALUE VALUES ("...)
	} else {
		b = append(b, ") VALUES ("...)
	}
	for i, v := range vals {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = appendSQLLiteral(b, d, t.kinds[i], v)
	}
	return append(b, ");\n"...)
}

// appendUpdate writes a fixup: vals holds the primary key values, then
// the deferred columns' values.
func appendUpdate(b []byte, d sqldialect.Dialect, t *ptable, vals []value) []byte {
	b = append(b, "UPDATE "...)
	b = append(b, t.qname...)
	b = append(b, " SET "...)
	npk := len(t.pk)
	for i, c := range t.deferred {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, d.Quote(t.m.Columns[c].Name)...)
		b = append(b, " = "...)
		b = appendSQLLiteral(b, d, t.kinds[c], vals[npk+i])
	}
	b = append(b, " WHERE "...)
	for i, c := range t.pk {
		if i > 0 {
			b = append(b, " AND "...)
		}
		b = append(b, d.Quote(t.m.Columns[c].Name)...)
		b = append(b, " = "...)
		b = appendSQLLiteral(b, d, t.kinds[c], vals[i])
	}
	return append(b, ";\n"...)
}

// sqlParser reads the restricted grammar.
type sqlParser struct {
	d sqldialect.Dialect
	b []byte
	i int
}

func (p *sqlParser) ws() {
	for p.i < len(p.b) && (p.b[p.i] == ' ' || p.b[p.i] == '\t') {
		p.i++
	}
}

func (p *sqlParser) keyword(kw string) bool {
	p.ws()
	if len(p.b)-p.i >= len(kw) && strings.EqualFold(string(p.b[p.i:p.i+len(kw)]), kw) {
		end := p.i + len(kw)
		if end == len(p.b) || !isIdentChar(p.b[end]) {
			p.i = end
			return true
		}
	}
	return false
}

func isIdentChar(c byte) bool {
	return c == '_' || isDigit(c) || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

func (p *sqlParser) punct(c byte) bool {
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// ident reads a quoted identifier of the dialect.
func (p *sqlParser) ident() (string, error) {
	p.ws()
	q := byte('"')
	if p.d == sqldialect.MySQL {
		q = '`'
	}
	if p.i >= len(p.b) || p.b[p.i] != q {
		return "", fmt.Errorf("expected a %c-quoted identifier at offset %d", q, p.i)
	}
	p.i++
	var out []byte
	for p.i < len(p.b) {
		c := p.b[p.i]
		p.i++
		if c == q {
			if p.i < len(p.b) && p.b[p.i] == q {
				out = append(out, q)
				p.i++
				continue
			}
			return string(out), nil
		}
		out = append(out, c)
	}
	return "", fmt.Errorf("unterminated identifier")
}

// literal reads one literal and returns the canonical value for kind k.
func (p *sqlParser) literal(k kind) (value, error) {
	p.ws()
	if p.i >= len(p.b) {
		return value{}, fmt.Errorf("statement ends early")
	}
	var (
		s       string
		isBytes bool
		quoted  bool
	)
	switch c := p.b[p.i]; {
	case p.keyword("NULL"):
		return nullValue, nil
	case p.keyword("TRUE"):
		s = "true"
	case p.keyword("FALSE"):
		s = "false"
	case c == '-' || isDigit(c):
		start := p.i
		p.i++
		for p.i < len(p.b) && (isDigit(p.b[p.i]) || strings.IndexByte("+-.eE", p.b[p.i]) >= 0) {
			p.i++
		}
		s = string(p.b[start:p.i])
		if !isNumber(s) {
			return value{}, fmt.Errorf("bad number %q", truncate(s))
		}
		if k != kInt && k != kDecimal && k != kFloat {
			return value{}, fmt.Errorf("number for a %s column", k)
		}
	case (c == 'X' || c == 'x') && p.i+1 < len(p.b) && p.b[p.i+1] == '\'':
		p.i++
		h, err := p.quoted(false)
		if err != nil {
			return value{}, err
		}
		b, err := hex.DecodeString(h)
		if err != nil {
			return value{}, fmt.Errorf("bad hex literal: %w", err)
		}
		s, isBytes = string(b), true
	case (c == 'E' || c == 'e') && p.d == sqldialect.Postgres && p.i+1 < len(p.b) && p.b[p.i+1] == '\'':
		p.i++
		v, err := p.quoted(true)
		if err != nil {
			return value{}, err
		}
		s, quoted = v, true
	case c == '\'':
		v, err := p.quoted(false)
		if err != nil {
			return value{}, err
		}
		s, quoted = v, true
	case p.d == sqldialect.SQLite && p.keyword("CAST"):
		if !p.punct('(') {
			return value{}, fmt.Errorf("expected ( after CAST")
		}
		p.ws()
		if p.i+1 >= len(p.b) || (p.b[p.i] != 'X' && p.b[p.i] != 'x') || p.b[p.i+1] != '\'' {
			return value{}, fmt.Errorf("CAST takes only a hex literal")
		}
		p.i++
		h, err := p.quoted(false)
		if err != nil {
			return value{}, err
		}
		b, err := hex.DecodeString(h)
		if err != nil {
			return value{}, fmt.Errorf("bad hex literal: %w", err)
		}
		if !p.keyword("AS") || !p.keyword("TEXT") || !p.punct(')') {
			return value{}, fmt.Errorf("expected AS TEXT)")
		}
		s, quoted = string(b), true
	default:
		return value{}, fmt.Errorf("unexpected %q in a literal", c)
	}
	switch k {
	case kBytes:
		if p.d == sqldialect.Postgres {
			if !quoted || !strings.HasPrefix(s, `\x`) {
				return value{}, fmt.Errorf("bytea literal must be '\\x…'")
			}
			b, err := hex.DecodeString(s[2:])
			if err != nil {
				return value{}, fmt.Errorf("bad bytea literal: %w", err)
			}
			s = string(b)
		} else if !isBytes {
			return value{}, fmt.Errorf("bytes column needs a X'…' literal")
		}
	case kTimestampTZ:
		if p.d == sqldialect.MySQL && len(s) >= 19 && s[10] == ' ' {
			s = s[:10] + "T" + s[11:] + "+00:00"
		}
	case kTimestamp:
		if p.d == sqldialect.MySQL && len(s) >= 19 && s[10] == ' ' {
			s = s[:10] + "T" + s[11:]
		}
	}
	v := value{s: s}
	if err := checkValue(k, v); err != nil {
		return value{}, err
	}
	return v, nil
}

// quoted reads a '…' string at p.i; escapes enables PostgreSQL E” escapes.
func (p *sqlParser) quoted(escapes bool) (string, error) {
	if p.i >= len(p.b) || p.b[p.i] != '\'' {
		return "", fmt.Errorf("expected a quote")
	}
	p.i++
	var out []byte
	for p.i < len(p.b) {
		c := p.b[p.i]
		p.i++
		switch {
		case c == '\'':
			if p.i < len(p.b) && p.b[p.i] == '\'' {
				out = append(out, '\'')
				p.i++
				continue
			}
			return string(out), nil
		case c == '\\' && escapes:
			if p.i >= len(p.b) {
				return "", fmt.Errorf("unterminated escape")
			}
			e := p.b[p.i]
			p.i++
			switch e {
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'x':
				if p.i+2 > len(p.b) {
					return "", fmt.Errorf("bad \\x escape")
				}
				h, err := hex.DecodeString(string(p.b[p.i : p.i+2]))
				if err != nil {
					return "", fmt.Errorf("bad \\x escape")
				}
				out = append(out, h[0])
				p.i += 2
			case '\\', '\'':
				out = append(out, e)
			default:
				return "", fmt.Errorf("unsupported escape \\%c", e)
			}
		case c == '\\' && p.d == sqldialect.MySQL:
			// mysql's client would read this as an escape; the writer never
			// produces it, so a file holding one was not written here.
			return "", fmt.Errorf("backslash in a MySQL string literal")
		default:
			out = append(out, c)
		}
	}
	return "", fmt.Errorf("unterminated string literal")
}

func (p *sqlParser) end() error {
	if !p.punct(';') {
		return fmt.Errorf("expected ';' at offset %d", p.i)
	}
	p.ws()
	if p.i != len(p.b) {
		return fmt.Errorf("trailing text after ';'")
	}
	return nil
}

// overridingIdentity reports whether t's INSERT lines carry OVERRIDING
// SYSTEM VALUE on PostgreSQL: when it has an identity or serial column
// (the clause is what lets psql insert a GENERATED ALWAYS key; it is
// harmless for the others).
func overridingIdentity(t *ptable) bool {
	_, ok := identity(t)
	return ok
}

// parseInsert parses one INSERT line for table t into vals (on PostgreSQL
// an optional OVERRIDING SYSTEM VALUE before VALUES).
func parseInsert(line []byte, d sqldialect.Dialect, t *ptable, vals []value) error {
	p := sqlParser{d: d, b: line}
	if !p.keyword("INSERT") || !p.keyword("INTO") {
		return fmt.Errorf("expected INSERT INTO")
	}
	name, err := p.ident()
	if err != nil {
		return err
	}
	if name != t.m.Name {
		return fmt.Errorf("INSERT into %q inside the section of %q", name, t.m.Name)
	}
	if !p.punct('(') {
		return fmt.Errorf("expected a column list")
	}
	for i, c := range t.m.Columns {
		if i > 0 && !p.punct(',') {
			return fmt.Errorf("column list: expected ','")
		}
		n, err := p.ident()
		if err != nil {
			return err
		}
		if n != c.Name {
			return fmt.Errorf("column %d is %q, the manifest says %q", i+1, n, c.Name)
		}
	}
	if !p.punct(')') {
		return fmt.Errorf("column list has more columns than the manifest")
	}
	if d == sqldialect.Postgres && p.keyword("OVERRIDING") && (!p.keyword("SYSTEM") || !p.keyword("VALUE")) {
		return fmt.Errorf("expected OVERRIDING SYSTEM VALUE")
	}
	if !p.keyword("VALUES") || !p.punct('(') {
		return fmt.Errorf("expected VALUES (")
	}
	for i := range t.kinds {
		if i > 0 && !p.punct(',') {
			return fmt.Errorf("values: expected ',' before value %d", i+1)
		}
		v, err := p.literal(t.kinds[i])
		if err != nil {
			return fmt.Errorf("column %q: %w", t.m.Columns[i].Name, err)
		}
		vals[i] = v
	}
	if !p.punct(')') {
		return fmt.Errorf("more values than columns")
	}
	return p.end()
}

// parseUpdate parses one fixup line into vals (primary key, then the
// deferred columns).
func parseUpdate(line []byte, d sqldialect.Dialect, t *ptable, vals []value) error {
	p := sqlParser{d: d, b: line}
	if !p.keyword("UPDATE") {
		return fmt.Errorf("expected UPDATE")
	}
	name, err := p.ident()
	if err != nil {
		return err
	}
	if name != t.m.Name {
		return fmt.Errorf("UPDATE of %q inside the fixups of %q", name, t.m.Name)
	}
	if !p.keyword("SET") {
		return fmt.Errorf("expected SET")
	}
	npk := len(t.pk)
	assign := func(col int, slot int) error {
		n, err := p.ident()
		if err != nil {
			return err
		}
		if n != t.m.Columns[col].Name {
			return fmt.Errorf("column %q, want %q", n, t.m.Columns[col].Name)
		}
		if !p.punct('=') {
			return fmt.Errorf("expected '='")
		}
		v, err := p.literal(t.kinds[col])
		if err != nil {
			return fmt.Errorf("column %q: %w", n, err)
		}
		vals[slot] = v
		return nil
	}
	for i, c := range t.deferred {
		if i > 0 && !p.punct(',') {
			return fmt.Errorf("expected ','")
		}
		if err := assign(c, npk+i); err != nil {
			return err
		}
	}
	if !p.keyword("WHERE") {
		return fmt.Errorf("expected WHERE")
	}
	for i, c := range t.pk {
		if i > 0 && !p.keyword("AND") {
			return fmt.Errorf("expected AND")
		}
		if err := assign(c, i); err != nil {
			return err
		}
		if vals[i].null {
			return fmt.Errorf("NULL primary key")
		}
	}
	return p.end()
}
