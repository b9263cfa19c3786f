package migrate_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tenantkit/tenantkit/migrate"
)

var classifyCases = []struct {
	sql  string
	want bool
}{
	{"ALTER TABLE meters ADD COLUMN x INT", true},
	{"  alter table meters drop column x", true},
	{"CREATE INDEX i ON t (a)", true},
	{"CREATE UNIQUE INDEX i ON t (a)", true},
	{"CREATE TABLE t (a INT)", true},
	{"CREATE TEMPORARY TABLE t (a INT)", false},
	{"DROP TEMPORARY TABLE t", false},
	{"DROP TABLE t", true},
	{"DROP INDEX i ON t", true},
	{"RENAME TABLE a TO b", true},
	{"TRUNCATE TABLE t", true},
	{"TRUNCATE t", true},
	{"LOCK TABLES t WRITE", true},
	{"UNLOCK TABLES", true},
	{"GRANT SELECT ON *.* TO x", true},
	{"ANALYZE TABLE t", true},
	{"OPTIMIZE TABLE t", true},
	{"CHECK TABLE t", true},
	{"LOAD INDEX INTO CACHE t", true},
	{"LOAD DATA INFILE 'x' INTO TABLE t", false},
	{"START TRANSACTION", true},
	{"SET autocommit = 1", true},
	{"SET @@session.sql_mode = ''", false},
	{"SET SESSION autocommit = 1", true},
	{"SET PASSWORD = 'x'", true},
	{"INSERT INTO t VALUES ('ALTER TABLE x')", false},
	{"UPDATE t SET a = 1", false},
	{"DELETE FROM t", false},
	{"SELECT 1", false},
	{"(SELECT 1)", false},
	{"WITH x AS (SELECT 1) SELECT * FROM x", false},
	{"-- ALTER TABLE t\nINSERT INTO t VALUES (1)", false},
	{"# DROP TABLE t\nINSERT INTO t VALUES (1)", false},
	{"/* DROP TABLE t */ INSERT INTO t VALUES (1)", false},
	{"/* note */ ALTER TABLE t ADD x INT", true},
	{"/*!40101 ALTER TABLE t ADD x INT */", true},
	{"/*!ALTER TABLE t ADD x INT */", true},
	{"INSERT INTO t VALUES (1); ALTER TABLE t ADD y INT", true},
	{"INSERT INTO t VALUES ('a;b'); UPDATE t SET a = 2", false},
	{"INSERT INTO t VALUES ('it''s; DROP TABLE t')", false},
	{`INSERT INTO t VALUES ("x\"; DROP TABLE t")`, false},
	{"INSERT INTO `drop;table` VALUES (1)", false},
	{"UPDATE t SET a = a--1;\nDROP TABLE x", true}, // --1 is not a comment on MySQL
	{"--\nALTER TABLE t ADD x INT", true},
	{"SET @@autocommit = 1", true},
	{"SET @@SESSION.autocommit = 1", true},
	{"set @@local.AUTOCOMMIT=1", true},
	{"SET @x = 1", false},
	{"/*M!100101 ALTER TABLE t ADD x INT */", true},
	{"", false},
	{";;", false},
	{"/* unterminated DROP TABLE", false},
}

func TestImplicitCommit(t *testing.T) {
	for _, c := range classifyCases {
		require.Equal(t, c.want, migrate.ImplicitCommit(c.sql), c.sql)
	}
}

func FuzzImplicitCommit(f *testing.F) {
	for _, c := range classifyCases {
		f.Add(c.sql)
	}
	f.Add("\x00ALTER")
	f.Add("/*!")
	f.Add("'unterminated")
	f.Add("--")
	f.Fuzz(func(t *testing.T, s string) {
		got := migrate.ImplicitCommit(s)
		require.Equal(t, got, migrate.ImplicitCommit(s), "deterministic")
		// Leading white space and comments never change the answer.
		require.Equal(t, got, migrate.ImplicitCommit(" \n/* c */ "+s), "%q", s)
		if !strings.Contains(s, "\n") {
			require.Equal(t, got, migrate.ImplicitCommit("-- c\n"+s), "%q", s)
		}
		// Appending a DDL statement after a complete statement commits.
		if !strings.ContainsAny(s, "'\"`#-/*") {
			require.True(t, migrate.ImplicitCommit(s+"; ALTER TABLE t ADD x INT"), "%q", s)
		}
	})
}
