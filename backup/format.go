package backup

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"

	"github.com/tenantkit/tenantkit/internal/sqldialect"
)

// File layout (both codecs; in SQL every control record is a comment line
// "-- tenantkit <json>", the header "-- tenantkit-backup <json>"):
//
//	header        the Manifest without row counts and checksums
//	[SQL preamble statements]
//	per table, in restore order:
//	  {"table":"t"}                                   begin
//	  row lines                                       one per row
//	  {"table_end":"t","rows":N,"sha256":"…"}         count and SHA-256 of the row lines
//	per table with deferred columns, in the same order:
//	  {"fixups":"t"}
//	  fixup lines                                     primary key, then the deferred values
//	  {"fixups_end":"t","rows":N,"sha256":"…"}
//	[SQL postamble: COMMIT;]
//	{"end":"tenantkit-backup","tables":N,"rows":N,"header_sha256":"…"}
//
// Counts and checksums trail their rows because they are only known once
// the rows have streamed; the footer proves the file is complete. A table
// checksum is SHA-256 over its row lines exactly as they appear in the
// decompressed file, newline included.

type control struct {
	Table        string `json:"table,omitempty"`
	TableEnd     string `json:"table_end,omitempty"`
	Fixups       string `json:"fixups,omitempty"`
	FixupsEnd    string `json:"fixups_end,omitempty"`
	End          string `json:"end,omitempty"`
	Rows         *int64 `json:"rows,omitempty"`
	Tables       *int   `json:"tables,omitempty"`
	SHA256       string `json:"sha256,omitempty"`
	HeaderSHA256 string `json:"header_sha256,omitempty"`
}

const (
	sqlHeaderPrefix  = "-- tenantkit-backup "
	sqlControlPrefix = "-- tenantkit "
)

// fileWriter writes one backup file.
type fileWriter struct {
	format Format
	d      sqldialect.Dialect
	bw     *bufio.Writer
	gz     *gzip.Writer
	sum    hash.Hash
	buf    []byte
	rows   int64
	total  int64
	tables int
	header string
}

func newFileWriter(w io.Writer, f Format, d sqldialect.Dialect, compress bool, level int) (*fileWriter, error) {
	fw := &fileWriter{format: f, d: d, sum: sha256.New()}
	if compress {
		gz, err := gzip.NewWriterLevel(w, level)
		if err != nil {
			return nil, fmt.Errorf("backup: gzip: %w", err)
		}
		fw.gz = gz
		w = gz
	}
	fw.bw = bufio.NewWriterSize(w, 256<<10)
	return fw, nil
}

func (fw *fileWriter) line(b []byte) error {
	_, err := fw.bw.Write(b)
	return err
}

func (fw *fileWriter) controlLine(c control) error {
	j, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if fw.format == SQL {
		j = append([]byte(sqlControlPrefix), j...)
	}
	return fw.line(append(j, '\n'))
}

func (fw *fileWriter) writeHeader(m *Manifest) error {
	j, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("backup: manifest: %w", err)
	}
	if fw.format == SQL {
		j = append([]byte(sqlHeaderPrefix), j...)
	}
	j = append(j, '\n')
	s := sha256.Sum256(j)
	fw.header = hex.EncodeToString(s[:])
	if err := fw.line(j); err != nil {
		return err
	}
	if fw.format == SQL {
		lines := []string{
			"-- A tenantkit backup of one tenant. Load it as it is into a database that has the schema",
			"-- (psql -v ON_ERROR_STOP=1 -f FILE; mariadb DB < FILE; sqlite3 DB < FILE), or restore",
			"-- it with backup.Restore, which validates it first and never executes it as-is.",
		}
		lines = append(lines, sqlPreamble(fw.d)...)
		for _, l := range lines {
			if err := fw.line([]byte(l + "\n")); err != nil {
				return err
			}
		}
	}
	return nil
}

func (fw *fileWriter) begin(table string, fixups bool) error {
	fw.sum.Reset()
	fw.rows = 0
	if fixups {
		return fw.controlLine(control{Fixups: table})
	}
	fw.tables++
	return fw.controlLine(control{Table: table})
}

func (fw *fileWriter) row(t *ptable, vals []value) error {
	b := fw.buf[:0]
	if fw.format == SQL {
		b = appendInsert(b, fw.d, t, vals)
	} else {
		b = appendJSONRow(b, t.kinds, vals)
	}
	fw.buf = b
	fw.sum.Write(b)
	fw.rows++
	fw.total++
	return fw.line(b)
}

// fixup writes one fixup: the primary key values, then the deferred ones.
func (fw *fileWriter) fixup(t *ptable, vals []value) error {
	b := fw.buf[:0]
	if fw.format == SQL {
		b = appendUpdate(b, fw.d, t, vals)
	} else {
		kinds := make([]kind, 0, len(vals))
		for _, c := range t.pk {
			kinds = append(kinds, t.kinds[c])
		}
		for _, c := range t.deferred {
			kinds = append(kinds, t.kinds[c])
		}
		b = appendJSONRow(b, kinds, vals)
	}
	fw.buf = b
	fw.sum.Write(b)
	fw.rows++
	return fw.line(b)
}

func (fw *fileWriter) end(table string, fixups bool) (int64, string, error) {
	n := fw.rows
	s := hex.EncodeToString(fw.sum.Sum(nil))
	c := control{TableEnd: table, Rows: &n, SHA256: s}
	if fixups {
		c = control{FixupsEnd: table, Rows: &n, SHA256: s}
	}
	return n, s, fw.controlLine(c)
}

func (fw *fileWriter) finish() error {
	if fw.format == SQL {
		for _, l := range sqlPostamble(fw.d) {
			if err := fw.line([]byte(l + "\n")); err != nil {
				return err
			}
		}
	}
	n, t := fw.total, fw.tables
	if err := fw.controlLine(control{End: FormatName, Rows: &n, Tables: &t, HeaderSHA256: fw.header}); err != nil {
		return err
	}
	if err := fw.bw.Flush(); err != nil {
		return err
	}
	if fw.gz != nil {
		return fw.gz.Close()
	}
	return nil
}

// record is one data line read from a file.
type record struct {
	table  *ptable
	fixup  bool  // a fixup (primary key + deferred values), else a row
	row    int64 // 1-based within its section
	line   int64 // 1-based line of the decompressed file
	values []value
}

// fileReader reads and verifies one backup file: the header, the structure
// of the sections, each section's count and SHA-256, the footer, and for
// gzip the CRC of every member (by reading to EOF).
type fileReader struct {
	br       *bufio.Reader
	comp     compression
	format   Format
	p        *plan
	maxLine  int
	lineNo   int64
	header   string
	sum      hash.Hash
	cur      *ptable
	inFixups bool
	rows     int64
	total    int64
	next     int // index of the next table section expected
	nextFix  int // index into p.tables of the next fixups section expected
	tables   int
	done     bool
	post     int // SQL postamble lines seen
	pre      int // SQL preamble lines seen
	vals     []value
	lineBuf  []byte
}

func newFileReader(r io.Reader, maxLine int) (*fileReader, error) {
	plain, comp, err := openPlain(r)
	if err != nil {
		return nil, err
	}
	fr := &fileReader{br: bufio.NewReaderSize(plain, 256<<10), comp: comp, maxLine: maxLine, sum: sha256.New()}
	line, raw, err := fr.readLine()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: no header line", ErrNotBackup)
		}
		return nil, err
	}
	switch {
	case bytes.HasPrefix(line, []byte(sqlHeaderPrefix)):
		fr.format = SQL
		line = line[len(sqlHeaderPrefix):]
	case len(line) > 0 && line[0] == '{':
		fr.format = JSONL
	default:
		return nil, fmt.Errorf("%w: the first line is not a tenantkit header", ErrNotBackup)
	}
	s := sha256.Sum256(raw)
	fr.header = hex.EncodeToString(s[:])
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrNotBackup, err)
	}
	if m.Format != FormatName {
		return nil, fmt.Errorf("%w: header format is %q", ErrNotBackup, m.Format)
	}
	if m.Version != FormatVersion {
		return nil, fmt.Errorf("%w: file has version %d, this reader reads %d", ErrVersion, m.Version, FormatVersion)
	}
	if m.Codec != fr.format.String() {
		return nil, fmt.Errorf("%w: header says codec %q but the file is %s", ErrCorrupt, m.Codec, fr.format)
	}
	if m.Tenant == "" {
		return nil, fmt.Errorf("%w: header names no tenant", ErrCorrupt)
	}
	for i := range m.Tables {
		m.Tables[i].Rows, m.Tables[i].SHA256, m.Tables[i].Fixups, m.Tables[i].FixupsSHA256 = 0, "", 0, ""
	}
	if fr.p, err = planFromManifest(&m); err != nil {
		return nil, err
	}
	return fr, nil
}

// readLine returns the next line without its newline, and with it (raw).
// Both are valid until the next call.
func (fr *fileReader) readLine() (line, raw []byte, err error) {
	fr.lineBuf = fr.lineBuf[:0]
	for {
		chunk, err := fr.br.ReadSlice('\n')
		fr.lineBuf = append(fr.lineBuf, chunk...)
		if len(fr.lineBuf) > fr.maxLine {
			return nil, nil, fr.corrupt(fmt.Sprintf("line %d is longer than %d bytes", fr.lineNo+1, fr.maxLine))
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF {
			if len(fr.lineBuf) == 0 {
				return nil, nil, io.EOF
			}
			return nil, nil, fr.truncated()
		}
		if err != nil {
			return nil, nil, fr.readErr(err)
		}
		break
	}
	fr.lineNo++
	raw = fr.lineBuf
	return raw[:len(raw)-1], raw, nil
}

func (fr *fileReader) readErr(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fr.truncated()
	}
	var ce flate.CorruptInputError
	if errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) || errors.As(err, &ce) {
		return &ValidationError{Line: fr.lineNo + 1, Reason: "gzip: " + err.Error(), Err: ErrCorrupt}
	}
	return fmt.Errorf("backup: read: %w", err)
}

func (fr *fileReader) truncated() error {
	return &ValidationError{Line: fr.lineNo + 1, Reason: "the file ends early (truncated): no footer", Err: ErrCorrupt}
}

func (fr *fileReader) corrupt(reason string) error {
	t := ""
	if fr.cur != nil {
		t = fr.cur.m.Name
	}
	return &ValidationError{Table: t, Line: fr.lineNo, Reason: reason, Err: ErrCorrupt}
}

// manifest returns the manifest, with the counts and checksums of the
// sections read so far.
func (fr *fileReader) manifest() *Manifest { return fr.p.m }

// next returns the next data record, or io.EOF once the footer has been
// read and verified and the input is exhausted. The record's values are
// reused by the next call.
func (fr *fileReader) read() (*record, error) {
	for {
		if fr.done {
			return nil, io.EOF
		}
		line, raw, err := fr.readLine()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, fr.truncated()
			}
			return nil, err
		}
		isControl := false
		ctl := line
		if fr.format == SQL {
			if bytes.HasPrefix(line, []byte(sqlControlPrefix)) {
				isControl, ctl = true, line[len(sqlControlPrefix):]
			}
		} else if len(line) > 0 && line[0] == '{' {
			isControl = true
		}
		if isControl {
			if err := fr.control(ctl); err != nil {
				return nil, err
			}
			continue
		}
		if fr.format == SQL && fr.cur == nil {
			if err := fr.sqlOther(line); err != nil {
				return nil, err
			}
			continue
		}
		if fr.cur == nil {
			return nil, fr.corrupt("a data line outside any table section")
		}
		fr.sum.Write(raw)
		fr.rows++
		t := fr.cur
		rec := &record{table: t, fixup: fr.inFixups, row: fr.rows, line: fr.lineNo}
		n := len(t.kinds)
		if fr.inFixups {
			n = len(t.pk) + len(t.deferred)
		}
		if cap(fr.vals) < n {
			fr.vals = make([]value, n)
		}
		rec.values = fr.vals[:n]
		if err := fr.parse(rec, line); err != nil {
			what := "row"
			if rec.fixup {
				what = "fixup"
			}
			return nil, &ValidationError{Table: t.m.Name, Row: rec.row, Line: rec.line, Reason: what + ": " + err.Error(), Err: ErrCorrupt}
		}
		return rec, nil
	}
}

func (fr *fileReader) parse(rec *record, line []byte) error {
	t := rec.table
	if fr.format == SQL {
		if rec.fixup {
			return parseUpdate(line, fr.p.d, t, rec.values)
		}
		return parseInsert(line, fr.p.d, t, rec.values)
	}
	if !rec.fixup {
		return parseJSONRow(line, t.kinds, rec.values)
	}
	kinds := make([]kind, 0, len(rec.values))
	for _, c := range t.pk {
		kinds = append(kinds, t.kinds[c])
	}
	for _, c := range t.deferred {
		kinds = append(kinds, t.kinds[c])
	}
	if err := parseJSONRow(line, kinds, rec.values); err != nil {
		return err
	}
	for i := range t.pk {
		if rec.values[i].null {
			return fmt.Errorf("NULL primary key")
		}
	}
	return nil
}

// sqlOther accepts the SQL file's comment lines, blank lines and the
// exact preamble and postamble statements; anything else is refused.
func (fr *fileReader) sqlOther(line []byte) error {
	s := string(bytes.TrimRight(line, " \t\r"))
	if s == "" || len(s) >= 3 && s[:3] == "-- " && !bytes.HasPrefix(line, []byte("-- tenantkit")) {
		return nil
	}
	if pre := sqlPreamble(fr.p.d); fr.next == 0 && fr.pre < len(pre) && s == pre[fr.pre] {
		fr.pre++
		return nil
	}
	if post := sqlPostamble(fr.p.d); fr.next == len(fr.p.tables) && fr.post < len(post) && s == post[fr.post] {
		fr.post++
		return nil
	}
	return fr.corrupt(fmt.Sprintf("unexpected statement outside a table section: %q", truncate(s)))
}

func (fr *fileReader) control(b []byte) error {
	var c control
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return fr.corrupt("bad control record: " + err.Error())
	}
	if dec.More() {
		return fr.corrupt("trailing data after a control record")
	}
	p := fr.p
	switch {
	case c.Table != "":
		if fr.cur != nil || fr.next >= len(p.tables) || fr.nextFix > 0 {
			return fr.corrupt(fmt.Sprintf("unexpected section of table %q", c.Table))
		}
		if want := p.tables[fr.next].m.Name; c.Table != want {
			return fr.corrupt(fmt.Sprintf("section of table %q where the manifest order expects %q", c.Table, want))
		}
		fr.cur, fr.inFixups, fr.rows = p.tables[fr.next], false, 0
		fr.sum.Reset()
	case c.Fixups != "":
		if fr.cur != nil || fr.next != len(p.tables) {
			return fr.corrupt(fmt.Sprintf("unexpected fixups of table %q", c.Fixups))
		}
		for fr.nextFix < len(p.tables) && len(p.tables[fr.nextFix].deferred) == 0 {
			fr.nextFix++
		}
		if fr.nextFix >= len(p.tables) || p.tables[fr.nextFix].m.Name != c.Fixups {
			return fr.corrupt(fmt.Sprintf("unexpected fixups of table %q", c.Fixups))
		}
		fr.cur, fr.inFixups, fr.rows = p.tables[fr.nextFix], true, 0
		fr.nextFix++
		fr.sum.Reset()
	case c.TableEnd != "" || c.FixupsEnd != "":
		name, fix := c.TableEnd, false
		if name == "" {
			name, fix = c.FixupsEnd, true
		}
		if fr.cur == nil || fr.cur.m.Name != name || fr.inFixups != fix || c.Rows == nil {
			return fr.corrupt(fmt.Sprintf("unexpected end record of %q", name))
		}
		got := hex.EncodeToString(fr.sum.Sum(nil))
		if *c.Rows != fr.rows {
			return fr.corrupt(fmt.Sprintf("the end record counts %d rows, the section holds %d", *c.Rows, fr.rows))
		}
		if c.SHA256 != got {
			return fr.corrupt(fmt.Sprintf("SHA-256 mismatch: the end record says %s, the rows hash to %s (the payload was altered)", short(c.SHA256), short(got)))
		}
		tm := &p.m.Tables[slices.Index(p.tables, fr.cur)]
		if fix {
			tm.Fixups, tm.FixupsSHA256 = fr.rows, got
		} else {
			tm.Rows, tm.SHA256 = fr.rows, got
			fr.total += fr.rows
			fr.tables++
			fr.next++
		}
		fr.cur = nil
	case c.End != "":
		if c.End != FormatName || fr.cur != nil || fr.next != len(p.tables) {
			return fr.corrupt("footer before every table section")
		}
		for fr.nextFix < len(p.tables) && len(p.tables[fr.nextFix].deferred) == 0 {
			fr.nextFix++
		}
		if fr.nextFix != len(p.tables) {
			return fr.corrupt(fmt.Sprintf("missing fixups of table %q", p.tables[fr.nextFix].m.Name))
		}
		if fr.format == SQL && fr.post != len(sqlPostamble(p.d)) {
			return fr.corrupt("missing COMMIT before the footer")
		}
		if c.Rows == nil || *c.Rows != fr.total || c.Tables == nil || *c.Tables != fr.tables {
			return fr.corrupt("footer totals do not match the sections")
		}
		if c.HeaderSHA256 != fr.header {
			return fr.corrupt("the header was altered (footer checksum mismatch)")
		}
		// Nothing may follow the footer; reading to EOF also makes gzip
		// verify its CRC.
		if _, _, err := fr.readLine(); !errors.Is(err, io.EOF) {
			if err == nil {
				return fr.corrupt("data after the footer")
			}
			return err
		}
		fr.done = true
	default:
		return fr.corrupt("unknown control record")
	}
	return nil
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// ReadManifest reads only the header of a backup (compressed or not) and
// returns its manifest, without row counts or checksums: enough to learn
// which tenant, dialect and tables a file holds. It verifies nothing
// beyond the header; Validate verifies the whole file.
func ReadManifest(r io.Reader) (*Manifest, error) {
	fr, err := newFileReader(r, 64<<20)
	if err != nil {
		return nil, err
	}
	return fr.manifest(), nil
}
