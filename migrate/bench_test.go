package migrate

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/sqldialect"
	"github.com/tenantkit/tenantkit/internal/testenv"
)

// BenchmarkChecks1M times every check on a 1,000,000-row table (readings)
// spread over 100 tenants, with and without an index led by tenant_id, on
// PostgreSQL and MariaDB/MySQL. The table is built once per variant in the
// benchmark's setup; the catalog is loaded once, so each sub-benchmark
// times exactly one check's queries. Run with, for example:
//
//	go test ./migrate -run '^$' -bench Checks1M -benchtime 20x
func BenchmarkChecks1M(b *testing.B) {
	for _, dial := range []string{"postgres", "mysql"} {
		for _, indexed := range []bool{true, false} {
			name := dial + "/no_tenant_index"
			if indexed {
				name = dial + "/tenant_index"
			}
			b.Run(name, func(b *testing.B) {
				var db *sql.DB
				var d sqldialect.Dialect
				if dial == "postgres" {
					db, d = testenv.PostgresDB(b), sqldialect.Postgres
				} else {
					db, d = testenv.MySQLDB(b), sqldialect.MySQL
				}
				ctx := context.Background()
				build1M(b, db, d, indexed)
				c, err := catalog.Load(ctx, db, d, nil)
				if err != nil {
					b.Fatal(err)
				}
				o := (&Options{Dialect: d}).withDefaults()
				checks, _ := plan(c, &o)
				for _, ch := range checks {
					if ch.res.Table != "readings" {
						continue
					}
					b.Run(string(ch.res.Check), func(b *testing.B) {
						b.ReportAllocs()
						b.Logf("%s: %s", ch.res.ID, ch.res.Plan)
						for b.Loop() {
							r := ch.res
							if err := ch.run(ctx, db, &r); err != nil {
								b.Fatal(err)
							}
							if r.Count != 0 {
								b.Fatalf("%s: %d violations on clean data", r.ID, r.Count)
							}
						}
					})
				}
			})
		}
	}
}

// build1M creates organizations (100), meters (10,000, each of one tenant)
// and readings (1,000,000, each of its meter's tenant), all clean.
func build1M(b *testing.B, db *sql.DB, d sqldialect.Dialect, indexed bool) {
	b.Helper()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	tenantFK := ""
	if indexed {
		tenantFK = " REFERENCES organizations(id)"
	}
	// meter m belongs to tenant (m % 100) + 1; reading n has meter
	// (n % 10000) + 1.
	var stmts []string
	if d == sqldialect.Postgres {
		stmts = []string{
			`CREATE TABLE organizations (id bigint PRIMARY KEY, name text NOT NULL)`,
			`INSERT INTO organizations SELECT g, 'org' || g FROM generate_series(1, 100) g`,
			`CREATE TABLE meters (id bigint PRIMARY KEY, tenant_id bigint NOT NULL REFERENCES organizations(id))`,
			`INSERT INTO meters SELECT g, (g % 100) + 1 FROM generate_series(1, 10000) g`,
			`CREATE TABLE readings (id bigint PRIMARY KEY, tenant_id bigint NOT NULL` + tenantFK + `,
				meter_id bigint NOT NULL REFERENCES meters(id), value numeric(12,3) NOT NULL, created_at timestamptz NOT NULL)`,
			`INSERT INTO readings SELECT g, (((g % 10000) + 1) % 100) + 1, (g % 10000) + 1, g * 0.5, now() - g * interval '1 second'
				FROM generate_series(1, 1000000) g`,
		}
		if indexed {
			stmts = append(stmts, `CREATE INDEX readings_tenant_created_idx ON readings (tenant_id, created_at)`)
		}
		stmts = append(stmts, `VACUUM ANALYZE organizations`, `VACUUM ANALYZE meters`, `VACUUM ANALYZE readings`)
	} else {
		num := `(SELECT a.i + b.i * 10 + c.i * 100 + d.i * 1000 + e.i * 10000 + f.i * 100000 AS n
			FROM digits a, digits b, digits c, digits d, digits e, digits f)`
		stmts = []string{
			`SET foreign_key_checks = 0`, `SET unique_checks = 0`,
			`CREATE TABLE digits (i INT PRIMARY KEY)`,
			`INSERT INTO digits VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9)`,
			`CREATE TABLE organizations (id BIGINT PRIMARY KEY, name VARCHAR(20) NOT NULL)`,
			`INSERT INTO organizations SELECT n + 1, CONCAT('org', n + 1) FROM (SELECT a.i + b.i * 10 AS n FROM digits a, digits b) x`,
			`CREATE TABLE meters (id BIGINT PRIMARY KEY, tenant_id BIGINT NOT NULL REFERENCES organizations(id))`,
			`INSERT INTO meters SELECT n + 1, ((n + 1) % 100) + 1 FROM (SELECT a.i + b.i * 10 + c.i * 100 + d.i * 1000 AS n FROM digits a, digits b, digits c, digits d) x`,
			`CREATE TABLE readings (id BIGINT PRIMARY KEY, tenant_id BIGINT NOT NULL` + tenantFK + `,
				meter_id BIGINT NOT NULL REFERENCES meters(id), value DECIMAL(12,3) NOT NULL, created_at DATETIME(6) NOT NULL)`,
			`INSERT INTO readings SELECT n + 1, (((n + 1) % 10000 + 1) % 100) + 1, ((n + 1) % 10000) + 1, (n + 1) * 0.5, NOW() - INTERVAL n SECOND FROM ` + num + ` x`,
			`DROP TABLE digits`,
		}
		if indexed {
			stmts = append(stmts, `CREATE INDEX readings_tenant_created_idx ON readings (tenant_id, created_at)`)
		}
		stmts = append(stmts, `SET foreign_key_checks = 1`, `SET unique_checks = 1`, `ANALYZE TABLE organizations, meters, readings`)
	}
	for _, s := range stmts {
		if strings.HasPrefix(s, "ANALYZE") {
			rows, err := conn.QueryContext(ctx, s)
			if err != nil {
				b.Fatal(err)
			}
			rows.Close()
			continue
		}
		if _, err := conn.ExecContext(ctx, s); err != nil {
			b.Fatal(fmt.Errorf("%.60s: %w", s, err))
		}
	}
}
