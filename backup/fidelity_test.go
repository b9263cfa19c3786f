package backup_test

import (
	"bytes"
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tenantkit/tenantkit/backup"
	"github.com/tenantkit/tenantkit/internal/sqldialect"
)

// oddityText renders every column of oddities as the database prints it,
// so a comparison catches any change of value (or of NULL into ”).
func oddityText(t testing.TB, db *sql.DB, d sqldialect.Dialect) []string {
	t.Helper()
	var q string
	switch d {
	case sqldialect.Postgres:
		q = `SELECT concat_ws('|', id, coalesce(big::text,'<null>'), coalesce(num::text,'<null>'), coalesce(flt::text,'<null>'),
			coalesce(encode(bin,'hex'),'<null>'), coalesce('['||txt||']','<null>'), coalesce(js::text,'<null>'),
			coalesce(tstz::text,'<null>'), coalesce(ts::text,'<null>'), coalesce(flag::text,'<null>')) FROM oddities ORDER BY id`
	case sqldialect.MySQL:
		q = `SELECT concat_ws('|', id, coalesce(CAST(big AS CHAR),'<null>'), coalesce(CAST(num AS CHAR),'<null>'), coalesce(CAST(flt AS CHAR),'<null>'),
			coalesce(HEX(bin),'<null>'), coalesce(concat('[',txt,']'),'<null>'), coalesce(js,'<null>'),
			coalesce(CAST(tstz AS CHAR),'<null>'), coalesce(CAST(ts AS CHAR),'<null>'), coalesce(flag,'<null>')) FROM oddities ORDER BY id`
	default:
		q = `SELECT id || '|' || typeof(big) || quote(big) || '|' || typeof(num) || quote(num) || '|' || typeof(flt) || quote(flt) || '|' ||
			typeof(bin) || quote(bin) || '|' || typeof(txt) || quote(txt) || '|' || typeof(js) || quote(js) || '|' ||
			typeof(tstz) || quote(tstz) || '|' || typeof(ts) || quote(ts) || '|' || typeof(flag) || quote(flag) FROM oddities ORDER BY id`
	}
	rows, err := db.QueryContext(context.Background(), q)
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		out = append(out, s)
	}
	require.NoError(t, rows.Err())
	return out
}

// freshTarget returns a second database with the schema and the shared
// rows (tariffs) but no tenant.
func freshTarget(t testing.TB, c dbCase) *sql.DB {
	t.Helper()
	db := c.open(t)
	createSchema(t, db, c.d)
	mustExec(t, db, `INSERT INTO tariffs (id, name) VALUES (1, 'standard'), (2, 'night')`)
	return db
}

func TestTypeFidelity(t *testing.T) {
	forEachDB(t, func(t *testing.T, c dbCase, db *sql.DB) {
		ctx := context.Background()
		createSchema(t, db, c.d)
		seed(t, db, c.d)
		src := oddityText(t, db, c.d)
		// The values went in as intended (SQLite keeps what it is given,
		// and its NUMERIC affinity itself rounds 12345678901234567.891).
		switch c.d {
		case sqldialect.Postgres:
			require.Equal(t, `1|9007199254740993|12345678901234567.8910000000|NaN|00ff00|[]|{"a":9007199254740993}|2024-03-09 21:00:00.123456+00|2024-03-10 02:30:00.654321|true`, src[0])
			require.Equal(t, "2|-9223372036854775808|-0.0000000001|1e+300||[o'brien\\ \"q\" \\n\n\té]|  {\"b\" : [1, 2.50]}|-infinity|1999-12-31 23:59:59|false", src[1])
		case sqldialect.MySQL:
			require.Equal(t, `1|9007199254740993|12345678901234567.8910000000|1.5|00FF00|[]|{"a":9007199254740993}|2024-03-10 02:30:00.123456|2024-03-10 02:30:00.654321|1`, src[0])
			require.Contains(t, src[1], "2|-9223372036854775808|-0.0000000001|1e300||")
		}
		require.True(t, strings.HasSuffix(src[2], "nullNULL") || strings.HasSuffix(src[2], "<null>"), src[2])
		for _, f := range []backup.Format{backup.JSONL, backup.SQL} {
			t.Run(f.String(), func(t *testing.T) {
				file := exportBytes(t, db, "1", &backup.Options{Format: f, NoCompress: true})
				s := string(file)
				if f == backup.JSONL {
					// Big integers and decimals are strings, JSON is raw, bytes
					// are base64, timestamps carry an offset, naive ones none.
					contains(t, s, `"9007199254740993"`)
					contains(t, s, `"-9223372036854775808"`)
					contains(t, s, `{"a":9007199254740993}`)
					contains(t, s, `"AP8A"`)
					contains(t, s, `,"",`)
					contains(t, s, `,null,`)
					if c.d == sqldialect.Postgres {
						contains(t, s, `"NaN"`)
						contains(t, s, `"2024-03-09T21:00:00.123456+00:00"`)
						contains(t, s, `"2024-03-10T02:30:00.654321"`)
						contains(t, s, `"12345678901234567.8910000000"`)
						contains(t, s, `"-0.0000000001"`)
					}
				}
				target := freshTarget(t, c)
				_, err := backup.Restore(ctx, target, "1", bytes.NewReader(file), nil)
				require.NoError(t, err)
				require.Equal(t, src[:3], oddityText(t, target, c.d))
			})
		}
	})
}

// contains accepts the compact spelling of the encoder and ", "
// separators.
func contains(t testing.TB, s, sub string) {
	t.Helper()
	if !strings.Contains(s, sub) && !strings.Contains(s, strings.ReplaceAll(sub, ",", ", ")) {
		t.Fatalf("the file does not contain %s", sub)
	}
}
