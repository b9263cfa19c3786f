package backup_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// reseal recomputes the counts and checksums of a plain (uncompressed)
// backup after a test edited its rows, so the edit reaches the checks
// behind the checksums.
func reseal(t testing.TB, file []byte) []byte {
	t.Helper()
	lines := strings.SplitAfter(string(file), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	isSQL := strings.HasPrefix(lines[0], "-- tenantkit-backup ")
	ctl := func(l string) (map[string]any, bool) {
		body := l
		if isSQL {
			if !strings.HasPrefix(l, "-- tenantkit ") {
				return nil, false
			}
			body = strings.TrimPrefix(l, "-- tenantkit ")
		} else if !strings.HasPrefix(l, "{") {
			return nil, false
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(body), &m))
		return m, true
	}
	enc := func(m map[string]any) string {
		b, err := json.Marshal(m)
		require.NoError(t, err)
		if isSQL {
			return "-- tenantkit " + string(b) + "\n"
		}
		return string(b) + "\n"
	}
	hs := sha256.Sum256([]byte(lines[0]))
	var out bytes.Buffer
	out.WriteString(lines[0])
	h := sha256.New()
	var n, total int64
	in := false
	for _, l := range lines[1:] {
		m, ok := ctl(l)
		switch {
		case ok && (m["table"] != nil || m["fixups"] != nil):
			h.Reset()
			n, in = 0, true
		case ok && (m["table_end"] != nil || m["fixups_end"] != nil):
			m["rows"], m["sha256"] = n, hex.EncodeToString(h.Sum(nil))
			if m["table_end"] != nil {
				total += n
			}
			l, in = enc(m), false
		case ok && m["end"] != nil:
			m["rows"], m["header_sha256"] = total, hex.EncodeToString(hs[:])
			l = enc(m)
		case !ok && in:
			h.Write([]byte(l))
			n++
		}
		out.WriteString(l)
	}
	return out.Bytes()
}

// editLine replaces the first line containing old (whole-line match on
// its prefix) with repl; repl "" deletes it, dup=true duplicates it.
//
// JSON rows are given compact (["1","2"]); a row written with ", "
// separators (which readers accept) is tried too.
func replaceOnce(t testing.TB, file []byte, old, repl string) []byte {
	t.Helper()
	s := string(file)
	if !strings.Contains(s, old) && strings.HasPrefix(old, "[") {
		old, repl = strings.ReplaceAll(old, `","`, `", "`), strings.ReplaceAll(repl, `","`, `", "`)
		old = strings.ReplaceAll(strings.ReplaceAll(old, `",null`, `", null`), `null,"`, `null, "`)
		repl = strings.ReplaceAll(strings.ReplaceAll(repl, `",null`, `", null`), `null,"`, `null, "`)
	}
	if !strings.Contains(s, old) {
		t.Fatalf("the file has no %s", old)
	}
	return []byte(strings.Replace(s, old, repl, 1))
}
