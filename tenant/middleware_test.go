package tenant

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// echo is the next handler of the tests: it reports the tenant and path it
// was served with.
type echoed struct {
	Tenant  string `json:"tenant"`
	Has     bool   `json:"has"`
	Path    string `json:"path"`
	RawPath string `json:"raw_path"`
}

var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	t, ok := FromContext(r.Context())
	_ = json.NewEncoder(w).Encode(echoed{Tenant: string(t.ID), Has: ok, Path: r.URL.Path, RawPath: r.URL.RawPath})
})

type errBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

func newTestMiddleware(t *testing.T, r Resolver, opts *MiddlewareOptions) (*Middleware, *fakeDirectory) {
	t.Helper()
	d := newFakeDirectory(acme, globx, susp, odd)
	return NewMiddleware(r, NewCache(d, nil), opts), d
}

func serve(h http.Handler, host, target string, header http.Header) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, "http://localhost"+target, nil)
	r.Host = host
	for k, v := range header {
		r.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

func TestMiddlewareStatuses(t *testing.T) {
	std := Chain(Subdomain("localhost"), PathPrefix("/t/"))
	hdr := Header("X-Tenant", true)
	errBoom := errors.New("boom")
	tests := []struct {
		name    string
		res     Resolver
		dirErr  error
		host    string
		target  string
		header  http.Header
		status  int
		code    string
		tenant  string
		path    string
		rawPath string
	}{
		{"subdomain", std, nil, "acme.localhost:8080", "/api/x", nil, 200, "", "1", "/api/x", ""},
		{"path", std, nil, "localhost:8080", "/t/globex/api/x", nil, 200, "", "2", "/api/x", ""},
		{"path root", std, nil, "localhost:8080", "/t/globex", nil, 200, "", "2", "/", ""},
		{"path keeps escaping", std, nil, "localhost", "/t/acme/files/a%2Fb", nil, 200, "", "1", "/files/a/b", "/files/a%2Fb"},
		{"both agree", std, nil, "acme.localhost", "/t/acme/api", nil, 200, "", "1", "/api", ""},
		{"header", hdr, nil, "localhost", "/api", http.Header{"X-Tenant": {"acme"}}, 200, "", "1", "/api", ""},

		{"no candidate host/path", std, nil, "localhost:8080", "/api/x", nil, 404, CodeTenantRequired, "", "", ""},
		{"no candidate ip host", std, nil, "127.0.0.1:8080", "/api/x", nil, 404, CodeTenantRequired, "", "", ""},
		{"no candidate header", hdr, nil, "localhost", "/api", nil, 400, CodeTenantRequired, "", "", ""},
		{"unknown subdomain", std, nil, "nope.localhost", "/", nil, 404, CodeUnknownTenant, "", "", ""},
		{"unknown path", std, nil, "localhost", "/t/nope/x", nil, 404, CodeUnknownTenant, "", "", ""},
		{"suspended", std, nil, "initech.localhost", "/", nil, 403, CodeTenantSuspended, "", "", ""},
		{"unrecognised status is suspended", std, nil, "umbrella.localhost", "/", nil, 403, CodeTenantSuspended, "", "", ""},
		{"conflict subdomain b path a", std, nil, "globex.localhost", "/t/acme/x", nil, 400, CodeTenantConflict, "", "", ""},
		{"conflicting header values", hdr, nil, "localhost", "/", http.Header{"X-Tenant": {"acme", "globex"}}, 400, CodeTenantConflict, "", "", ""},
		{"invalid host label", std, nil, "ac_me.localhost", "/", nil, 400, CodeInvalidTenant, "", "", ""},
		{"invalid path key", std, nil, "localhost", "/t/a%2Fb/x", nil, 400, CodeInvalidTenant, "", "", ""},
		{"invalid header", hdr, nil, "localhost", "/", http.Header{"X-Tenant": {"a b"}}, 400, CodeInvalidTenant, "", "", ""},
		{"directory down", std, errBoom, "acme.localhost", "/", nil, 503, CodeDirectoryFailed, "", "", ""},
		{"resolver failure", ResolverFunc(func(*http.Request) (Candidate, error) { return Candidate{}, errBoom }), nil, "localhost", "/", nil, 500, CodeResolverFailed, "", "", ""},
		{"resolver empty key", ResolverFunc(func(*http.Request) (Candidate, error) { return Candidate{Source: "x"}, nil }), nil, "localhost", "/", nil, 404, CodeTenantRequired, "", "", ""},
		{"bad strip prefix", ResolverFunc(func(*http.Request) (Candidate, error) {
			return Candidate{Key: "acme", Source: "x", StripPrefix: "/elsewhere"}, nil
		}), nil, "localhost", "/t/acme", nil, 500, CodeTenantPathMalformed, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, d := newTestMiddleware(t, tt.res, nil)
			d.fail(tt.dirErr)
			called := false
			h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				called = true
				echo(w, r)
			}))
			rec := serve(h, tt.host, tt.target, tt.header)
			require.Equal(t, tt.status, rec.Code, rec.Body.String())
			if tt.status == 200 {
				var got echoed
				require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
				require.Equal(t, echoed{Tenant: tt.tenant, Has: true, Path: tt.path, RawPath: tt.rawPath}, got)
				return
			}
			require.False(t, called, "next must not run on failure")
			require.Equal(t, "application/json; charset=utf-8", rec.Header().Get("Content-Type"))
			require.Equal(t, "nosniff", rec.Header().Get("X-Content-Type-Options"))
			var body errBody
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
			require.Equal(t, tt.code, body.Error)
			require.NotEmpty(t, body.Message)
			require.NotContains(t, rec.Body.String(), "boom", "causes are not shown to clients")

			// Resolve makes the same decision without HTTP.
			r := httptest.NewRequest(http.MethodGet, "http://localhost"+tt.target, nil)
			r.Host = tt.host
			for k, v := range tt.header {
				r.Header[k] = v
			}
			_, _, err := m.Resolve(r)
			var e *Error
			require.ErrorAs(t, err, &e)
			require.Equal(t, tt.status, e.Status)
			require.Equal(t, tt.code, e.Code)
			require.NotNil(t, e.Err)
		})
	}
}

func TestMiddlewareResolveWrapsCauses(t *testing.T) {
	m, d := newTestMiddleware(t, Chain(Subdomain("localhost"), PathPrefix("/t/")), nil)
	req := func(host, target string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "http://localhost"+target, nil)
		r.Host = host
		return r
	}
	got, c, err := m.Resolve(req("acme.localhost", "/x"))
	require.NoError(t, err)
	require.Equal(t, acme, got)
	require.Equal(t, Candidate{Key: "acme", Source: SourceHost}, c)

	_, _, err = m.Resolve(req("localhost", "/x"))
	require.ErrorIs(t, err, ErrNoCandidate)
	_, _, err = m.Resolve(req("nope.localhost", "/x"))
	require.ErrorIs(t, err, ErrNotFound)
	_, _, err = m.Resolve(req("b.localhost", "/t/a/x"))
	var ce *ConflictError
	require.ErrorAs(t, err, &ce)
	_, _, err = m.Resolve(req("-b.localhost", "/x"))
	require.ErrorIs(t, err, ErrInvalidKey)
	errDown := errors.New("down")
	d.fail(errDown)
	_, _, err = m.Resolve(req("globex.localhost", "/x"))
	require.ErrorIs(t, err, errDown)
}

func TestMiddlewareHeaderIgnoredUnlessTrusted(t *testing.T) {
	hdr := http.Header{"X-Tenant": {"globex"}}
	untrusted, _ := newTestMiddleware(t, Chain(Subdomain("localhost"), PathPrefix("/t/"), Header("X-Tenant", false)), nil)
	h := untrusted.Handler(echo)

	rec := serve(h, "acme.localhost", "/x", hdr)
	require.Equal(t, 200, rec.Code)
	require.Contains(t, rec.Body.String(), `"tenant":"1"`, "an untrusted header naming another tenant is ignored")

	rec = serve(h, "localhost", "/x", hdr)
	require.Equal(t, 404, rec.Code, "an untrusted header alone does not select a tenant")

	trusted, _ := newTestMiddleware(t, Chain(Subdomain("localhost"), Header("X-Tenant", true)), nil)
	rec = serve(trusted.Handler(echo), "acme.localhost", "/x", hdr)
	require.Equal(t, 400, rec.Code, "a trusted header that disagrees is a conflict")
	rec = serve(trusted.Handler(echo), "localhost", "/x", hdr)
	require.Equal(t, 200, rec.Code)
	require.Contains(t, rec.Body.String(), `"tenant":"2"`)
}

func TestMiddlewareOptional(t *testing.T) {
	m, d := newTestMiddleware(t, Chain(Subdomain("localhost"), PathPrefix("/t/")), nil)
	h := m.Optional(echo)

	rec := serve(h, "localhost", "/public", nil)
	require.Equal(t, 200, rec.Code)
	require.Contains(t, rec.Body.String(), `"has":false`)
	require.Contains(t, rec.Body.String(), `"path":"/public"`)

	rec = serve(h, "acme.localhost", "/x", nil)
	require.Equal(t, 200, rec.Code)
	require.Contains(t, rec.Body.String(), `"tenant":"1"`)

	for _, tt := range []struct {
		host, target string
		status       int
	}{
		{"nope.localhost", "/", 404},
		{"initech.localhost", "/", 403},
		{"acme.localhost", "/t/globex/", 400},
		{"-x.localhost", "/", 400},
	} {
		rec := serve(h, tt.host, tt.target, nil)
		require.Equal(t, tt.status, rec.Code, "Optional still fails closed for %s%s", tt.host, tt.target)
	}
	d.fail(errors.New("down"))
	rec = serve(h, "globex.localhost", "/", nil)
	require.Equal(t, 503, rec.Code)

	// A tenant set by an outer layer does not survive an Optional route
	// without a candidate.
	outer := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(NewContext(r.Context(), acme)))
	})
	rec = serve(outer, "localhost", "/public", nil)
	require.Equal(t, 200, rec.Code)
	require.Contains(t, rec.Body.String(), `"has":false`)
}

func TestMiddlewareErrorHandler(t *testing.T) {
	var got error
	m, _ := newTestMiddleware(t, Subdomain("localhost"), &MiddlewareOptions{
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			got = err
			http.Error(w, "custom", http.StatusTeapot)
		},
	})
	rec := serve(m.Handler(echo), "nope.localhost", "/", nil)
	require.Equal(t, http.StatusTeapot, rec.Code)
	var e *Error
	require.ErrorAs(t, got, &e)
	require.Equal(t, http.StatusNotFound, e.Status)
	require.ErrorIs(t, got, ErrNotFound)
}

func TestMiddlewareLogsWithoutSecrets(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	m, d := newTestMiddleware(t, Chain(Subdomain("localhost"), PathPrefix("/t/")), &MiddlewareOptions{Logger: log})
	h := m.Handler(echo)
	secret := http.Header{"Authorization": {"Bearer s3cr3t-token"}, "Cookie": {"session=s3cr3t-cookie"}}

	serve(h, "acme.localhost", "/ok", secret)
	require.Empty(t, buf.String(), "success is not logged")

	serve(h, "globex.localhost", "/t/acme/x", secret)
	d.fail(errors.New("dial tcp: connection refused"))
	serve(h, "globex.localhost", "/y", secret)
	out := buf.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 2, "one record per failure")
	require.NotContains(t, out, "s3cr3t")

	var conflict, down map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &conflict))
	require.NoError(t, json.Unmarshal([]byte(lines[1]), &down))
	require.Equal(t, "DEBUG", conflict["level"])
	require.Equal(t, CodeTenantConflict, conflict["code"])
	require.Equal(t, "globex", conflict["key"])
	require.Equal(t, "acme", conflict["other_key"])
	require.Equal(t, "WARN", down["level"])
	require.EqualValues(t, 503, down["status"])
	require.Equal(t, "globex", down["key"])
	require.Contains(t, down["error"], "connection refused")
}

func TestMiddlewareNeverMutatesRequest(t *testing.T) {
	m, _ := newTestMiddleware(t, Chain(Subdomain("localhost"), PathPrefix("/t/")), nil)
	var inner *http.Request
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { inner = r }))

	r := httptest.NewRequest(http.MethodGet, "http://localhost/t/acme/files/a%2Fb?q=1", nil)
	r.Host = "acme.localhost"
	before := *r
	beforeURL := *r.URL
	ctx := r.Context()
	h.ServeHTTP(httptest.NewRecorder(), r)

	require.NotNil(t, inner)
	require.NotSame(t, r, inner)
	require.NotSame(t, r.URL, inner.URL)
	require.Equal(t, beforeURL, *r.URL, "the incoming URL is untouched")
	require.Equal(t, before.Host, r.Host)
	require.Equal(t, before.RequestURI, r.RequestURI)
	require.Equal(t, ctx, r.Context())
	_, has := FromContext(r.Context())
	require.False(t, has)

	require.Equal(t, "/files/a/b", inner.URL.Path)
	require.Equal(t, "/files/a%2Fb", inner.URL.RawPath)
	require.Equal(t, "q=1", inner.URL.RawQuery)
	got, ok := FromContext(inner.Context())
	require.True(t, ok)
	require.Equal(t, acme, got)
}

func TestMiddlewareWithServeMux(t *testing.T) {
	// PathValue inside a mux; PathPrefix in front of one.
	d := NewCache(newFakeDirectory(acme, globx), nil)
	perRoute := NewMiddleware(PathValue("tenant"), d, nil)
	mux := http.NewServeMux()
	mux.Handle("GET /orgs/{tenant}/meters", perRoute.Handler(echo))
	rec := serve(mux, "localhost", "/orgs/globex/meters", nil)
	require.Equal(t, 200, rec.Code)
	require.Contains(t, rec.Body.String(), `"tenant":"2"`)

	api := http.NewServeMux()
	api.Handle("GET /api/meters", echo)
	front := NewMiddleware(PathPrefix("/t/"), d, nil).Handler(api)
	rec = serve(front, "localhost", "/t/acme/api/meters", nil)
	require.Equal(t, 200, rec.Code)
	require.Contains(t, rec.Body.String(), `"path":"/api/meters"`)
	rec = serve(front, "localhost", "/t/acme/t/globex/api/meters", nil)
	require.Equal(t, 404, rec.Code, "only the first segment after the prefix is the tenant")
}

func TestMiddlewareUncachedDirectory(t *testing.T) {
	calls := 0
	d := DirectoryFunc(func(_ context.Context, key string) (Tenant, error) {
		calls++
		switch key {
		case "acme":
			return acme, nil
		case "ghost":
			return Tenant{Slug: "ghost", Status: StatusActive}, nil // no ID: a directory bug
		}
		return Tenant{}, ErrNotFound
	})
	h := NewMiddleware(Subdomain("localhost"), d, nil).Handler(echo)
	require.Equal(t, 200, serve(h, "acme.localhost", "/", nil).Code)
	require.Equal(t, 200, serve(h, "acme.localhost", "/", nil).Code)
	require.Equal(t, 2, calls)
	require.Equal(t, 503, serve(h, "ghost.localhost", "/", nil).Code, "a tenant without an ID is never served")
	require.Equal(t, 404, serve(h, "x.localhost", "/", nil).Code)
}

func TestNewMiddlewarePanics(t *testing.T) {
	d := NewCache(newFakeDirectory(), nil)
	require.Panics(t, func() { NewMiddleware(nil, d, nil) })
	require.Panics(t, func() { NewMiddleware(Subdomain("localhost"), nil, nil) })
	require.Panics(t, func() { NewMiddleware(Subdomain("localhost"), d, nil).Handler(nil) })
}

func TestErrorMessage(t *testing.T) {
	e := &Error{Status: 404, Code: CodeUnknownTenant, Message: "unknown tenant", Err: ErrNotFound}
	require.Equal(t, "tenant: unknown tenant: tenant: unknown tenant", e.Error())
	require.Equal(t, "tenant: x", (&Error{Message: "x"}).Error())
}

// TestMiddlewareOverRealServer sends raw HTTP/1.1 requests, hostile Host
// headers included, to a real net/http server.
func TestMiddlewareOverRealServer(t *testing.T) {
	m, _ := newTestMiddleware(t, Chain(Subdomain("localhost"), PathPrefix("/t/"), Header("X-Tenant", false)), nil)
	srv := httptest.NewServer(m.Handler(echo))
	t.Cleanup(srv.Close)
	addr := strings.TrimPrefix(srv.URL, "http://")

	tests := []struct {
		requestLine, host, extra string
		status                   int
		tenant, path             string
	}{
		{"GET /api/x HTTP/1.1", "acme.localhost:8080", "", 200, "1", "/api/x"},
		{"GET /api/x HTTP/1.1", "ACME.LOCALHOST:8080", "", 200, "1", "/api/x"},
		{"GET /t/globex/api/x HTTP/1.1", "localhost", "", 200, "2", "/api/x"},
		{"GET /t/globex/api/x HTTP/1.1", "127.0.0.1", "", 200, "2", "/api/x"},
		{"GET /api/x HTTP/1.1", "acme.localhost", "X-Tenant: globex\r\n", 200, "1", "/api/x"},
		{"GET /t/acme/x HTTP/1.1", "globex.localhost", "", 400, "", ""},
		{"GET /api/x HTTP/1.1", "a.b.localhost", "", 404, "", ""},
		{"GET /api/x HTTP/1.1", "localhost", "X-Tenant: acme\r\n", 404, "", ""},
		{"GET /api/x HTTP/1.1", "[::1]:8080", "", 404, "", ""},
		{"GET /api/x HTTP/1.1", "127.0.0.1:8080", "", 404, "", ""},
		{"GET /api/x HTTP/1.1", "acme.localhost.evil.com", "", 404, "", ""},
		{"GET /api/x HTTP/1.1", strings.Repeat("a", 1000) + ".localhost", "", 404, "", ""},
		// The absolute form of the request target overrides the Host header.
		{"GET http://globex.localhost/api/x HTTP/1.1", "acme.localhost", "", 200, "2", "/api/x"},
	}
	for _, tt := range tests {
		t.Run(tt.requestLine+" "+truncate(tt.host, 30), func(t *testing.T) {
			conn, err := (&net.Dialer{}).DialContext(t.Context(), "tcp", addr)
			require.NoError(t, err)
			defer conn.Close()
			_, err = fmt.Fprintf(conn, "%s\r\nHost: %s\r\n%sConnection: close\r\n\r\n", tt.requestLine, tt.host, tt.extra)
			require.NoError(t, err)
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			require.NoError(t, err)
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			require.Equal(t, tt.status, resp.StatusCode, string(body))
			if tt.status == 200 {
				var got echoed
				require.NoError(t, json.Unmarshal(body, &got))
				require.Equal(t, tt.tenant, got.Tenant)
				require.Equal(t, tt.path, got.Path)
			}
		})
	}
}

func TestMiddlewareCustomResolverError(t *testing.T) {
	res := ResolverFunc(func(*http.Request) (Candidate, error) {
		return Candidate{}, &Error{Status: http.StatusUnauthorized, Code: "login_required", Message: "log in first"}
	})
	m, _ := newTestMiddleware(t, res, nil)
	rec := serve(m.Handler(echo), "localhost", "/", nil)
	require.Equal(t, http.StatusUnauthorized, rec.Code)
	require.JSONEq(t, `{"error":"login_required","message":"log in first"}`, rec.Body.String())
}

func TestMiddlewareCustomErrorWithoutFailureStatus(t *testing.T) {
	for _, status := range []int{0, 200, 302, 600} {
		res := ResolverFunc(func(*http.Request) (Candidate, error) {
			return Candidate{}, &Error{Status: status, Code: "odd", Message: "odd"}
		})
		m, _ := newTestMiddleware(t, res, nil)
		rec := serve(m.Handler(echo), "localhost", "/", nil)
		require.Equal(t, http.StatusInternalServerError, rec.Code, "status %d never lets a failure look like success", status)
	}
}

func TestMiddlewareParallelTenantsDoNotMix(t *testing.T) {
	m, _ := newTestMiddleware(t, Chain(Subdomain("localhost"), PathPrefix("/t/")), nil)
	h := m.Handler(echo)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				host, target, want := "acme.localhost", "/x", "1"
				switch (g + i) % 3 {
				case 1:
					host, target, want = "localhost", "/t/globex/x", "2"
				case 2:
					host, target, want = "localhost", "/x", ""
				}
				rec := serve(h, host, target, nil)
				if want == "" {
					if rec.Code != 404 {
						t.Errorf("%s%s: %d", host, target, rec.Code)
					}
					continue
				}
				var got echoed
				if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || got.Tenant != want || got.Path != "/x" {
					t.Errorf("%s%s: %d %s", host, target, rec.Code, rec.Body.String())
				}
			}
		})
	}
	wg.Wait()
}
