package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/netip"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func runCLI(t *testing.T, ctx context.Context, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut syncBuffer
	code := run(ctx, &env{Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }}, args)
	return code, out.String(), errOut.String()
}

func TestCLIUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		out  string // in stdout, or in stderr for non-zero codes
	}{
		{[]string{"--help"}, 0, "Commands:"},
		{[]string{"help"}, 0, "serve"},
		{[]string{"serve", "--help"}, 0, "-addr"},
		{[]string{"seed", "-h"}, 0, "-size"},
		{[]string{"nosuch"}, 2, `unknown command "nosuch"`},
		{[]string{"--nosuch"}, 2, "flag provided but not defined"},
		{[]string{"serve", "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"seed", "--size", "huge"}, 2, "unknown size"},
		{[]string{"serve", "--size", "huge"}, 2, "unknown size"},
		{[]string{"serve", "--addr", "8080"}, 2, "want host:port"},
		{[]string{"serve", "--trust-tenant-header"}, 2, "needs --tenant-header"},
		{[]string{"serve", "--trusted-proxy", "10.0.0.0/8,proxy.internal"}, 2, `--trusted-proxy "proxy.internal": want a network`},
		{[]string{"serve", "--trusted-proxy", "fe80::1%eth0"}, 2, "want a network"},
		{[]string{"seed", "--db", ""}, 2, "empty database location"},
		{[]string{"seed", "--db", "host=db user=app dbname=demo"}, 2, "use a postgres://"},
		{[]string{"serve", "--db", "x.db", "--app-db", "postgres://app@db/demo"}, 2, "--app-db applies to PostgreSQL only"},
		{[]string{"serve", "--db", "mysql://h"}, 2, "mysql URL must name one database"},
	} {
		code, out, errOut := runCLI(t, t.Context(), c.args...)
		require.Equal(t, c.code, code, "%v: %s%s", c.args, out, errOut)
		if c.code == 0 {
			require.Contains(t, out, c.out, c.args)
		} else {
			require.Contains(t, errOut, c.out, c.args)
		}
	}
	// A bad flag of any subcommand is an error on stderr and nothing on
	// stdout; --help prints the usage once, on stdout.
	for _, cmd := range []string{"serve", "seed", "backup", "restore", "check", "health", "migrate"} {
		code, out, errOut := runCLI(t, t.Context(), cmd, "--bogus")
		require.Equal(t, 2, code, "%s --bogus: %s%s", cmd, out, errOut)
		require.Empty(t, out, "%s --bogus prints nothing on stdout", cmd)
		require.Contains(t, errOut, "flag provided but not defined: -bogus", cmd)
		code, out, _ = runCLI(t, t.Context(), cmd, "--help")
		require.Equal(t, 0, code, cmd)
		require.Equal(t, 1, strings.Count(out, "Usage:"), "%s --help prints its usage once: %s", cmd, out)
	}
}

// TestCLISeedAndServe: seed refuses to seed twice without --reset; serve
// reuses the seeded database, prints URLs with real slugs, serves them, and
// stops cleanly on cancellation.
func TestCLISeedAndServe(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "cli.db")
	code, out, errOut := runCLI(t, t.Context(), "seed", "--db", db, "--size", "small")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "4 organizations")

	code, _, errOut = runCLI(t, t.Context(), "seed", "--db", db, "--size", "small")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "already seeded")

	code, out, errOut = runCLI(t, t.Context(), "seed", "--db", db, "--size", "small", "--reset")
	require.Equal(t, 0, code, errOut)

	// The banner's $TOKEN: a token of acme with every scope.
	code, out, errOut = runCLI(t, t.Context(), "token", "create", "--db", db, "--tenant", "acme", "--scopes", strings.Join(demoScopes, ","))
	require.Equal(t, 0, code, errOut)
	token := strings.TrimSpace(out)

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, &env{Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }},
			[]string{"--db", db, "--addr", "127.0.0.1:0"}) // serve is the default command
	}()
	var base string
	require.Eventually(t, func() bool {
		m := regexp.MustCompile(`Listening on (http://\S+)`).FindStringSubmatch(stdout.String())
		if m != nil {
			base = m[1]
		}
		// The examples are printed after "Listening on": wait for the last one.
		return m != nil && strings.Contains(stdout.String(), "# no tenant: 404")
	}, 20*time.Second, 20*time.Millisecond, "stderr: %s", stderr.String())
	require.Contains(t, stderr.String(), "reusing seeded database")
	banner := stdout.String()
	require.Contains(t, banner, "/t/acme/api/properties")
	require.Contains(t, banner, "acme.localhost:")
	require.Contains(t, banner, "umbrella.localhost:")

	// Every GET URL of the banner answers as it says.
	for _, line := range strings.Split(banner, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "curl ") || strings.Contains(line, " -X ") {
			continue
		}
		var u string
		for _, f := range strings.Fields(line) {
			if f = strings.Trim(f, "'"); strings.HasPrefix(f, "http") {
				u = f
				break
			}
		}
		want := http.StatusOK
		switch {
		case strings.Contains(line, ": 404"):
			want = http.StatusNotFound
		case strings.Contains(line, ": 400"):
			want = http.StatusBadRequest
		case strings.Contains(line, ": 403"):
			want = http.StatusForbidden
		}
		// *.localhost names resolve to loopback in curl and browsers; here the
		// request goes to the listener with the Host header of the URL.
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		require.NoError(t, err)
		host := req.URL.Host
		req.URL.Host = strings.TrimPrefix(base, "http://")
		req.Host = host
		if strings.Contains(line, "$TOKEN") {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, want, resp.StatusCode, "%s: %s", line, body)
	}

	cancel()
	select {
	case code := <-done:
		require.Equal(t, 0, code, stderr.String())
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop after cancellation")
	}
}

// TestSecondOpenReuses: a second start finds the seeded marker and does
// not seed again.
func TestSecondOpenReuses(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "reuse.db")
	a := openApp(t, Config{DB: db})
	require.False(t, a.Reused)
	require.NoError(t, a.Close())
	b := openApp(t, Config{DB: db, Size: "large"}) // the size of a reused database does not matter
	require.True(t, b.Reused)
	require.Equal(t, "small", b.Seeded.Size)
	require.Equal(t, a.Seeded.Readings, b.Seeded.Readings)
	require.Equal(t, a.Seeded.Organizations, b.Seeded.Organizations)

	// NoSeed refuses an empty database.
	_, err := Open(t.Context(), Config{DB: filepath.Join(t.TempDir(), "empty.db"), NoSeed: true})
	require.ErrorContains(t, err, "empty")
}

// TestRefusesForeignDatabase: a database with an organizations table that
// the demo did not create is never touched.
func TestRefusesForeignDatabase(t *testing.T) {
	t.Parallel()
	src, err := parseDataSource(filepath.Join(t.TempDir(), "foreign.db"))
	require.NoError(t, err)
	db, err := openPool(t.Context(), src)
	require.NoError(t, err)
	defer db.Close()
	_, err = db.ExecContext(t.Context(), "CREATE TABLE organizations (id INTEGER PRIMARY KEY, important TEXT)")
	require.NoError(t, err)
	_, err = Open(t.Context(), Config{DB: src.Display})
	require.ErrorContains(t, err, "not a tenantkit demo database")
}

// TestInterruptedSeedStartsOver: tables without the seeded marker (a seed
// that died part-way on MySQL, whose DDL is not transactional) are dropped
// and seeded again.
func TestInterruptedSeedStartsOver(t *testing.T) {
	for _, b := range []backend{allBackends[0], allBackends[2]} {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			db := b.db(t)
			src, err := parseDataSource(db)
			require.NoError(t, err)
			pool, err := openPool(t.Context(), src)
			require.NoError(t, err)
			defer pool.Close()
			require.NoError(t, createTables(t.Context(), pool, src.Dialect))
			_, err = pool.ExecContext(t.Context(), "INSERT INTO organizations (id, slug, name, plan, status, storage_quota_bytes, storage_used_bytes, api_calls_per_day, max_users, created_at) VALUES (1, 'half', 'Half', 'basic', 'active', 1, 0, 1, 1, ?)", time.Now().UTC())
			require.NoError(t, err)
			a := openApp(t, Config{DB: db})
			require.False(t, a.Reused)
			require.Equal(t, 4, a.Seeded.Organizations)
			_, err = a.Directory.Lookup(t.Context(), "half")
			require.Error(t, err, "the half-seeded row is gone")
		})
	}
}

// TestResetDropsTokens: seed --reset reuses organization IDs, so tokens
// issued before it must stop working.
func TestResetDropsTokens(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "reset.db")
	code, _, errOut := runCLI(t, t.Context(), "seed", "--db", db, "--size", "small")
	require.Equal(t, 0, code, errOut)
	code, out, errOut := runCLI(t, t.Context(), "token", "create", "--db", db, "--tenant", "acme", "--scopes", strings.Join(demoScopes, ","))
	require.Equal(t, 0, code, errOut)
	old := strings.TrimSpace(out)

	a := openApp(t, Config{DB: db})
	r := get(t, a.Handler(), "http://acme.localhost/api/tenant", "Authorization", "Bearer "+old)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	require.NoError(t, a.Close())

	code, _, errOut = runCLI(t, t.Context(), "seed", "--db", db, "--size", "small", "--reset")
	require.Equal(t, 0, code, errOut)
	b := openApp(t, Config{DB: db})
	r = get(t, b.Handler(), "http://acme.localhost/api/tenant", "Authorization", "Bearer "+old)
	require.Equal(t, http.StatusUnauthorized, r.Status, "%s", r.Body)
}

func TestParseProxies(t *testing.T) {
	got, err := parseProxies([]string{"10.1.2.3/8", "127.0.0.1", "fd00::/8", "2001:db8::7"})
	require.NoError(t, err)
	require.Equal(t, []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32"),
		netip.MustParsePrefix("fd00::/8"), netip.MustParsePrefix("2001:db8::7/128"),
	}, got)
	got, err = parseProxies(nil)
	require.NoError(t, err)
	require.Empty(t, got)
}
