package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tenantkit/tenantkit/internal/testenv"
	"github.com/tenantkit/tenantkit/tenant"
)

// backend names a database the demo runs on and how a test gets a fresh one.
type backend struct {
	name string
	db   func(t *testing.T) string
}

var allBackends = []backend{
	{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "demo.db") }},
	{"postgres", func(t *testing.T) string { return testenv.PostgresDatabase(t) }},
	{"mysql", func(t *testing.T) string { return testenv.MySQLDatabase(t) }},
}

// forEachBackend runs fn once per backend, in parallel subtests.
func forEachBackend(t *testing.T, fn func(t *testing.T, b backend)) {
	for _, b := range allBackends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			fn(t, b)
		})
	}
}

// testLogger logs to t, so failures show the demo's own logs.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// openApp opens a small seeded demo on db and closes it when t ends.
func openApp(t *testing.T, cfg Config) *App {
	t.Helper()
	if cfg.Size == "" {
		cfg.Size = "small"
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	a, err := Open(t.Context(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, a.Close()) })
	return a
}

// response is a recorded response with its JSON body.
type response struct {
	Status int
	Body   []byte
	Header http.Header
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(r.Body, v), "body: %s", r.Body)
}

// errorCode returns the "error" member of an error body.
func (r response) errorCode(t *testing.T) string {
	t.Helper()
	var e struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	r.json(t, &e)
	require.NotEmpty(t, e.Message, "error body without message: %s", r.Body)
	return e.Error
}

// do sends one request to h. url is absolute: its host is the request's
// Host, so "http://acme.localhost/api/tenant" names tenant acme.
func do(t *testing.T, h http.Handler, method, url, body string, header ...string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequestWithContext(t.Context(), method, url, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return response{Status: rec.Code, Body: rec.Body.Bytes(), Header: rec.Header()}
}

func get(t *testing.T, h http.Handler, url string, header ...string) response {
	t.Helper()
	return do(t, h, http.MethodGet, url, "", header...)
}

// row is one element of a list or a detail body.
type row map[string]any

func (r row) id() int64       { return int64(r["id"].(float64)) }
func (r row) tenantID() int64 { return int64(r["tenant_id"].(float64)) }

type list struct {
	Data    []row `json:"data"`
	Page    int   `json:"page"`
	PerPage int   `json:"per_page"`
	Total   int   `json:"total"`
	Next    *int  `json:"next"`
}

// listAll follows "next" from page 1 and returns every row, checking that
// the pages add up to total.
func listAll(t *testing.T, h http.Handler, url string, perPage int) []row {
	t.Helper()
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	var out []row
	pageNo := 1
	total := -1
	for {
		r := get(t, h, url+sep+"per_page="+strconv.Itoa(perPage)+"&page="+strconv.Itoa(pageNo))
		require.Equal(t, http.StatusOK, r.Status, "%s: %s", url, r.Body)
		var l list
		r.json(t, &l)
		require.Equal(t, pageNo, l.Page)
		require.Equal(t, perPage, l.PerPage)
		if total >= 0 {
			require.Equal(t, total, l.Total, "total changed between pages")
		}
		total = l.Total
		out = append(out, l.Data...)
		if l.Next == nil {
			break
		}
		require.Equal(t, pageNo+1, *l.Next)
		require.Len(t, l.Data, perPage, "a page before the last is full")
		pageNo++
	}
	require.Len(t, out, total, "%s: pages add up to total", url)
	return out
}

// lookup returns the tenant of slug and a context that carries it.
func lookup(t *testing.T, a *App, slug string) (tenant.Tenant, context.Context) {
	t.Helper()
	tn, err := a.Directory.Lookup(t.Context(), slug)
	require.NoError(t, err)
	return tn, tenant.NewContext(t.Context(), tn)
}

func numericID(t *testing.T, tn tenant.Tenant) int64 {
	t.Helper()
	id, err := strconv.ParseInt(string(tn.ID), 10, 64)
	require.NoError(t, err)
	return id
}

// ownerCount counts rows as the schema owner in system mode: the ground
// truth the API's answers are checked against.
func ownerCount(t *testing.T, a *App, query string, args ...any) int {
	t.Helper()
	tx, err := a.Owner.BeginTx(t.Context(), nil)
	require.NoError(t, err)
	defer tx.Rollback() //nolint:errcheck // read only
	if a.Dialect.String() == "postgres" {
		_, err := tx.ExecContext(t.Context(), "SELECT set_config('app.cross_tenant', 'on', true)")
		require.NoError(t, err)
	}
	var n int
	require.NoError(t, tx.QueryRowContext(t.Context(), a.q(query), args...).Scan(&n))
	return n
}
