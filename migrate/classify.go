package migrate

import "strings"

// ImplicitCommit reports whether running query on MySQL/MariaDB commits the
// current transaction implicitly: DDL (CREATE, ALTER, DROP, RENAME,
// TRUNCATE, but not CREATE/DROP TEMPORARY TABLE), LOCK and UNLOCK TABLES,
// account management (GRANT, REVOKE, SET PASSWORD), table maintenance
// (ANALYZE, CHECK, OPTIMIZE, REPAIR, CACHE INDEX, LOAD INDEX), FLUSH, RESET,
// INSTALL/UNINSTALL, replication control, and transaction control itself
// (BEGIN, START TRANSACTION, SET autocommit). A query holding several
// statements separated by semicolons commits if any of them does. Leading
// white space and comments are skipped ("--" only when white space follows,
// as on MySQL); executable comments (MySQL /*! ... */, MariaDB /*M! ... */)
// count as code, because the server runs them. SET @@autocommit and
// @@SESSION.autocommit are SET autocommit.
//
// It is conservative: a statement it cannot read (empty, or starting with an
// unknown word) is reported as not committing, so callers should treat the
// answer as "known to commit".
func ImplicitCommit(query string) bool {
	for _, s := range splitStatements(query) {
		if implicitCommit(leadingWords(s, 4)) {
			return true
		}
	}
	return false
}

// transactionControl reports whether query contains a statement that
// starts, ends or manipulates a transaction (BEGIN, START TRANSACTION,
// COMMIT, ROLLBACK, SAVEPOINT, RELEASE, SET TRANSACTION, SET autocommit,
// END, ABORT, XA). Run refuses such statements in a step: the transaction
// is Run's.
func transactionControl(query string) bool {
	for _, s := range splitStatements(query) {
		w := leadingWords(s, 3)
		if len(w) == 0 {
			continue
		}
		switch w[0] {
		case "begin", "commit", "rollback", "savepoint", "release", "end", "abort", "xa":
			return true
		case "start":
			if len(w) > 1 && w[1] == "transaction" {
				return true
			}
		case "set":
			if len(w) > 1 && (w[1] == "autocommit" || w[1] == "transaction") {
				return true
			}
			if len(w) > 2 && (w[1] == "session" || w[1] == "local") && (w[2] == "autocommit" || w[2] == "transaction") {
				return true
			}
		}
	}
	return false
}

func implicitCommit(w []string) bool {
	if len(w) == 0 {
		return false
	}
	switch w[0] {
	case "create", "drop":
		// CREATE/DROP TEMPORARY TABLE do not commit; everything else that
		// creates or drops an object does.
		return !(len(w) > 1 && w[1] == "temporary")
	case "alter", "rename", "truncate", "grant", "revoke", "lock", "unlock",
		"analyze", "optimize", "repair", "flush", "reset", "install", "uninstall",
		"begin", "cache", "change":
		return true
	case "check":
		return len(w) > 1 && w[1] == "table"
	case "load":
		return len(w) > 1 && w[1] == "index"
	case "start":
		return len(w) > 1 && (w[1] == "transaction" || w[1] == "replica" || w[1] == "slave")
	case "stop":
		return len(w) > 1 && (w[1] == "replica" || w[1] == "slave")
	case "set":
		if len(w) > 1 && w[1] == "password" {
			return true
		}
		// SET autocommit = 1 commits; SET autocommit = 0 does not, but a
		// step has no business changing either.
		return len(w) > 1 && (w[1] == "autocommit" || (len(w) > 2 && (w[1] == "session" || w[1] == "local") && w[2] == "autocommit"))
	}
	return false
}

// splitStatements splits query at semicolons that are outside string
// literals, quoted identifiers and comments.
func splitStatements(query string) []string {
	var out []string
	start := 0
	for i := 0; i < len(query); {
		switch c := query[i]; {
		case c == '\'' || c == '"' || c == '`':
			i = skipQuoted(query, i)
		case c == '-' && lineComment(query, i), c == '#':
			i = skipLine(query, i)
		case c == '/' && strings.HasPrefix(query[i:], "/*"):
			if end := strings.Index(query[i+2:], "*/"); end >= 0 {
				i += end + 4
			} else {
				i = len(query)
			}
		case c == ';':
			out = append(out, query[start:i])
			i++
			start = i
		default:
			i++
		}
	}
	return append(out, query[start:])
}

func skipQuoted(s string, i int) int {
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			if q != '`' {
				j++ // MySQL backslash escape; harmless elsewhere for splitting
			}
		case q:
			if j+1 < len(s) && s[j+1] == q {
				j++ // doubled quote
				continue
			}
			return j + 1
		}
	}
	return len(s)
}

// lineComment reports whether s[i:] starts a "-- " comment. MySQL needs
// white space (or the end) after the dashes: a--1 is a minus a minus.
func lineComment(s string, i int) bool {
	if !strings.HasPrefix(s[i:], "--") {
		return false
	}
	if i+2 == len(s) {
		return true
	}
	c := s[i+2]
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

func skipLine(s string, i int) int {
	if j := strings.IndexByte(s[i:], '\n'); j >= 0 {
		return i + j + 1
	}
	return len(s)
}

// leadingWords returns up to n leading lower-case words of one statement,
// skipping white space, comments and parentheses; the body of a MySQL
// executable comment /*!NNNNN ... */ is read as code.
func leadingWords(s string, n int) []string {
	var words []string
	for i := 0; i < len(s) && len(words) < n; {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' || c == '(':
			i++
		case c == '-' && lineComment(s, i), c == '#':
			i = skipLine(s, i)
		case c == '/' && (strings.HasPrefix(s[i:], "/*!") || strings.HasPrefix(s[i:], "/*M!")):
			i += strings.IndexByte(s[i:], '!') + 1
			for i < len(s) && s[i] >= '0' && s[i] <= '9' {
				i++
			}
		case c == '@' && strings.HasPrefix(s[i:], "@@"):
			// A system variable: SET @@autocommit, @@session.autocommit and
			// @@local.autocommit all name the session's autocommit.
			i += 2
			for _, p := range []string{"session.", "local."} {
				if len(s)-i >= len(p) && strings.EqualFold(s[i:i+len(p)], p) {
					i += len(p)
				}
			}
		case c == '/' && strings.HasPrefix(s[i:], "/*"):
			if end := strings.Index(s[i+2:], "*/"); end >= 0 {
				i += end + 4
			} else {
				i = len(s)
			}
		case c == '*' && strings.HasPrefix(s[i:], "*/"):
			i += 2 // end of an executable comment
		case isWord(c):
			j := i
			for j < len(s) && isWord(s[j]) {
				j++
			}
			words = append(words, strings.ToLower(s[i:j]))
			i = j
		default:
			return words
		}
	}
	return words
}

func isWord(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
