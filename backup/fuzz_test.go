package backup

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"io"
	"testing"
	"unicode/utf8"

	"github.com/tenantkit/tenantkit/internal/sqldialect"
)

// sampleManifest is a manifest with every kind, a closure table and a
// deferred (cyclic) column, for tests that need no database.
func sampleManifest(d sqldialect.Dialect, f Format) *Manifest {
	cols := func(kinds ...string) []ColumnManifest {
		var out []ColumnManifest
		for i, k := range kinds {
			out = append(out, ColumnManifest{Name: "c" + string(rune('a'+i)), Type: k, Kind: k, Nullable: i > 1})
		}
		return out
	}
	parent := TableManifest{Name: "parent", Kind: "tenant", PrimaryKey: []string{"ca"},
		Columns: append(cols("int", "int"), ColumnManifest{Name: "peer", Type: "int", Kind: "int", Nullable: true}), Deferred: []string{"peer"}}
	parent.Columns[1].Name = "tenant_id"
	odd := TableManifest{Name: "odd \"table\"", Kind: "tenant", PrimaryKey: []string{"ca"},
		Columns: cols("int", "int", "text", "decimal", "float", "bool", "bytes", "json", "timestamptz", "timestamp", "date", "time")}
	odd.Columns[1].Name = "tenant_id"
	child := TableManifest{Name: "child", Kind: "closure", PrimaryKey: []string{"ca"}, Columns: cols("int", "int", "text"),
		TenantPath: []PathStep{{Table: "child", Columns: []string{"cb"}, RefTable: "parent", RefColumns: []string{"ca"}}}}
	return &Manifest{Format: FormatName, Version: FormatVersion, Codec: f.String(), Tenant: "7", TenantColumn: "tenant_id",
		TenantTable: "organizations", TenantKey: "id", Dialect: d.String(), Fingerprint: "f", Tables: []TableManifest{parent, odd, child}}
}

func sampleFile(t testing.TB, d sqldialect.Dialect, f Format, compress bool) []byte {
	m := sampleManifest(d, f)
	p, err := planFromManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	fw, err := newFileWriter(&buf, f, d, compress, gzip.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	s := func(x string) value { return value{s: x} }
	must(fw.writeHeader(m))
	must(fw.begin("parent", false))
	must(fw.row(p.tables[0], []value{s("1"), s("7"), nullValue}))
	must(fw.row(p.tables[0], []value{s("2"), s("7"), nullValue}))
	_, _, err = fw.end("parent", false)
	must(err)
	must(fw.begin(`odd "table"`, false))
	must(fw.row(p.tables[1], []value{s("1"), s("7"), s("o'brien\\ \"q\"\n\t\x00é"), s("-0.0000000001"), s("NaN"), s("true"), s("\x00\xff"),
		s(`{"a":9007199254740993}`), s("2024-03-09T21:00:00.123456+00:00"), s("2024-03-10T02:30:00.654321"), s("2024-03-10"), s("10:00:00")}))
	must(fw.row(p.tables[1], []value{s("2"), s("7"), s(""), nullValue, nullValue, nullValue, s(""), s(" {\"b\" :\n1} "), nullValue, nullValue, nullValue, nullValue}))
	_, _, err = fw.end(`odd "table"`, false)
	must(err)
	must(fw.begin("child", false))
	must(fw.row(p.tables[2], []value{s("10"), s("1"), s("x")}))
	_, _, err = fw.end("child", false)
	must(err)
	must(fw.begin("parent", true))
	must(fw.fixup(p.tables[0], []value{s("1"), s("2")}))
	_, _, err = fw.end("parent", true)
	must(err)
	must(fw.finish())
	return buf.Bytes()
}

// readAll reads a file through the verifying reader.
func readAll(data []byte) (*Manifest, int, error) {
	fr, err := newFileReader(bytes.NewReader(data), 1<<20)
	if err != nil {
		return nil, 0, err
	}
	n := 0
	for {
		rec, err := fr.read()
		if errors.Is(err, io.EOF) {
			return fr.manifest(), n, nil
		}
		if err != nil {
			return nil, n, err
		}
		for i, v := range rec.values {
			k := kText
			if !rec.fixup {
				k = rec.table.kinds[i]
			}
			if k == kText && !v.null && !utf8.ValidString(v.s) && fr.format == JSONL {
				return nil, n, errors.New("invalid UTF-8 accepted")
			}
		}
		n++
	}
}

func TestSampleFiles(t *testing.T) {
	for _, d := range []sqldialect.Dialect{sqldialect.Postgres, sqldialect.MySQL, sqldialect.SQLite} {
		for _, f := range []Format{JSONL, SQL} {
			for _, gz := range []bool{false, true} {
				m, n, err := readAll(sampleFile(t, d, f, gz))
				if err != nil {
					t.Fatalf("%v %v gzip=%v: %v", d, f, gz, err)
				}
				if n != 6 || m.TotalRows() != 5 || m.Tables[0].Fixups != 1 {
					t.Fatalf("%v %v: %d records, %d rows", d, f, n, m.TotalRows())
				}
			}
		}
	}
}

// FuzzReader feeds arbitrary bytes to the backup file reader (both codecs,
// compressed or not): it must never panic, and what it accepts must be
// consistent with its own counts.
func FuzzReader(f *testing.F) {
	for _, d := range []sqldialect.Dialect{sqldialect.Postgres, sqldialect.MySQL, sqldialect.SQLite} {
		for _, fm := range []Format{JSONL, SQL} {
			plain := sampleFile(f, d, fm, false)
			f.Add(plain)
			f.Add(sampleFile(f, d, fm, true))
			f.Add(plain[:len(plain)/2])
			var zl bytes.Buffer
			zw := zlib.NewWriter(&zl)
			zw.Write(plain)
			zw.Close()
			f.Add(zl.Bytes())
		}
	}
	f.Add([]byte{})
	f.Add([]byte("{}\n"))
	f.Add([]byte("-- tenantkit-backup {}\n"))
	f.Add([]byte("\x1f\x8b\x08\x00\x00\x00\x00\x00"))
	f.Add([]byte("BZh91AY&SY"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, _, err := readAll(data)
		if err != nil {
			return
		}
		var sum int64
		for _, tm := range m.Tables {
			sum += tm.Rows
			if tm.Rows > 0 && len(tm.SHA256) != 64 {
				t.Fatalf("table %q accepted without a checksum", tm.Name)
			}
		}
		if sum != m.TotalRows() {
			t.Fatal("inconsistent totals")
		}
	})
}

// FuzzCodecRoundTrip: any value a column of any kind can hold is written
// and read back byte for byte by both codecs in every dialect.
func FuzzCodecRoundTrip(f *testing.F) {
	for i, s := range []string{"", "-9223372036854775808", "12345678901234567.891", "NaN", "-Infinity", "o'brien", `a\b`,
		"line\nbreak\r\t", "\x00\xff", `{"a":9007199254740993}`, ` {"b":1} `, `{"$tkv1text":"x"}`,
		"2024-03-09T21:00:00.123456+00:00", "é\u2028", "\x7f"} {
		for k := range uint8(len(kindNames)) {
			f.Add(s, k, uint8(i+int(k)), false)
		}
	}
	f.Add("x", uint8(0), uint8(0), true)
	f.Fuzz(func(t *testing.T, s string, k, dd uint8, null bool) {
		kd := kind(k % uint8(len(kindNames)))
		d := []sqldialect.Dialect{sqldialect.Postgres, sqldialect.MySQL, sqldialect.SQLite}[dd%3]
		v := value{s: s, null: null}
		if null {
			v.s = ""
		}
		if checkValue(kd, v) != nil {
			return
		}
		// JSON Lines
		line := appendJSONRow(nil, []kind{kd}, []value{v})
		got := make([]value, 1)
		if err := parseJSONRow(line[:len(line)-1], []kind{kd}, got); err != nil {
			t.Fatalf("jsonl %s %q: %v (line %s)", kd, s, err, line)
		}
		if got[0] != v {
			t.Fatalf("jsonl %s: wrote %q, read %q (line %s)", kd, s, got[0].s, line)
		}
		if bytes.IndexByte(line[:len(line)-1], '\n') >= 0 {
			t.Fatalf("jsonl line holds a newline: %q", line)
		}
		// SQL (MySQL rewrites timestamps into its own literal form).
		if d == sqldialect.MySQL && (kd == kTimestamp || kd == kTimestampTZ) {
			return
		}
		m := &Manifest{Dialect: d.String(), TenantColumn: "t", Tables: []TableManifest{{Name: "x", Kind: "tenant",
			Columns: []ColumnManifest{{Name: "t", Kind: "int"}, {Name: "v", Kind: kd.String()}}}}}
		p, err := planFromManifest(m)
		if err != nil {
			t.Fatal(err)
		}
		vals := []value{{s: "1"}, v}
		stmt := appendInsert(nil, d, p.tables[0], vals)
		if bytes.IndexByte(stmt[:len(stmt)-1], '\n') >= 0 || bytes.IndexByte(stmt, '\r') >= 0 {
			t.Fatalf("sql line holds a line break: %q", stmt)
		}
		got = make([]value, 2)
		if err := parseInsert(stmt[:len(stmt)-1], d, p.tables[0], got); err != nil {
			t.Fatalf("sql %v %s %q: %v (%s)", d, kd, s, err, stmt)
		}
		if got[1] != v {
			t.Fatalf("sql %v %s: wrote %q, read %q (%s)", d, kd, s, got[1].s, stmt)
		}
	})
}
