package tenant

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// outcome of a resolver on one request.
type outcome int

const (
	answer outcome = iota
	noAnswer
	invalid
	conflict
)

func requireOutcome(t *testing.T, want outcome, c Candidate, err error) {
	t.Helper()
	switch want {
	case answer:
		require.NoError(t, err)
	case noAnswer:
		require.ErrorIs(t, err, ErrNoCandidate)
		require.Equal(t, Candidate{}, c)
	case invalid:
		require.ErrorIs(t, err, ErrInvalidKey)
		require.NotErrorIs(t, err, ErrNoCandidate)
		require.Equal(t, Candidate{}, c)
	case conflict:
		var ce *ConflictError
		require.ErrorAs(t, err, &ce)
		require.Equal(t, Candidate{}, c)
	}
}

func hostRequest(host string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "http://placeholder/x", nil)
	r.Host = host
	return r
}

func TestSubdomain(t *testing.T) {
	res := Subdomain("localhost", "Example.COM.", "app.example.com")
	long := strings.Repeat("a", 63)
	tests := []struct {
		host string
		want outcome
		key  string
	}{
		{"acme.localhost", answer, "acme"},
		{"acme.localhost:8080", answer, "acme"},
		{"ACME.LOCALHOST:8080", answer, "acme"},
		{"Acme.LocalHost", answer, "acme"},
		{"acme.localhost.", answer, "acme"},
		{"acme.localhost.:8080", answer, "acme"},
		{"acme.localhost:", answer, "acme"},
		{"x1-y2.localhost", answer, "x1-y2"},
		{"123.localhost", answer, "123"},
		{long + ".localhost", answer, long},
		{"acme.example.com", answer, "acme"},
		{"acme.app.example.com", answer, "acme"}, // the longest base wins
		{"xn--bcher-kva.localhost", answer, "xn--bcher-kva"},

		{"localhost", noAnswer, ""},
		{"app.example.com", noAnswer, ""}, // a base itself, though one label below example.com
		{"localhost:8080", noAnswer, ""},
		{"a.b.localhost", noAnswer, ""},
		{"a.b.c.example.com", noAnswer, ""},
		{"acme.localhost.evil.com", noAnswer, ""},
		{"acmelocalhost", noAnswer, ""},
		{"evil-localhost", noAnswer, ""},
		{"acme.localhost:8080:80", noAnswer, ""},
		{"acme.localhost:http", noAnswer, ""},
		{"acme.localhost:123456", noAnswer, ""},
		{"[::1]:8080", noAnswer, ""},
		{"[::1]", noAnswer, ""},
		{"[fe80::1%25en0]:80", noAnswer, ""},
		{"::1", noAnswer, ""},
		{"fe80::1.localhost", noAnswer, ""},
		{"127.0.0.1", noAnswer, ""},
		{"127.0.0.1:8080", noAnswer, ""},
		{"10.0.0.1.localhost", noAnswer, ""},
		{"", noAnswer, ""},
		{":8080", noAnswer, ""},
		{".", noAnswer, ""},
		{"acme.localhost..", noAnswer, ""},
		{strings.Repeat("a", 300) + ".localhost", noAnswer, ""},
		{strings.Repeat("a.", 200) + "localhost", noAnswer, ""},
		{"example.com", noAnswer, ""},
		{"acme.\u212aocalhost", noAnswer, ""}, // Kelvin sign: no Unicode case folding
		{"acme.localhost\x00", noAnswer, ""},
		{"acme.local host", noAnswer, ""},
		{"acme.other.org", noAnswer, ""},

		{".localhost", invalid, ""},
		{"-acme.localhost", invalid, ""},
		{"acme-.localhost", invalid, ""},
		{"ac_me.localhost", invalid, ""},
		{"ac me.localhost", invalid, ""},
		{"ac%41me.localhost", invalid, ""},
		{"é.localhost", invalid, ""},
		{strings.Repeat("a", 64) + ".localhost", invalid, ""},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			c, err := res.Resolve(hostRequest(tt.host))
			requireOutcome(t, tt.want, c, err)
			if tt.want == answer {
				require.Equal(t, Candidate{Key: tt.key, Source: SourceHost}, c)
			}
		})
	}
}

func TestSubdomainNoBase(t *testing.T) {
	c, err := Subdomain().Resolve(hostRequest("acme.localhost"))
	requireOutcome(t, noAnswer, c, err)
}

func TestSubdomainInvalidBasePanics(t *testing.T) {
	for _, b := range []string{"", "127.0.0.1", "localhost:8080", "[::1]", "a..b", "-x.com", "a_b.com"} {
		require.Panics(t, func() { Subdomain(b) }, b)
	}
}

func pathRequest(t *testing.T, target string) *http.Request {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "http://localhost"+target, nil)
	return r
}

func TestPathPrefix(t *testing.T) {
	tests := []struct {
		prefix string
		target string
		want   outcome
		key    string
		strip  string
	}{
		{"/t/", "/t/acme/api/x", answer, "acme", "/t/acme"},
		{"/t", "/t/acme/api/x", answer, "acme", "/t/acme"},
		{"/t/", "/t/acme", answer, "acme", "/t/acme"},
		{"/t/", "/t/acme/", answer, "acme", "/t/acme"},
		{"/t/", "/t/ACME/x", answer, "ACME", "/t/ACME"}, // not normalised
		{"/t/", "/t/a.b_c~d-1/x", answer, "a.b_c~d-1", "/t/a.b_c~d-1"},
		{"/t/", "/t/%61cme/x", answer, "acme", "/t/acme"},
		{"/t/", "/%74/acme/x", answer, "acme", "/t/acme"},
		{"/api/v1/tenants/", "/api/v1/tenants/acme/meters", answer, "acme", "/api/v1/tenants/acme"},

		{"/t/", "/", noAnswer, "", ""},
		{"/t/", "/t", noAnswer, "", ""},
		{"/t/", "/tt/acme", noAnswer, "", ""},
		{"/t/", "/x/t/acme", noAnswer, "", ""},
		{"/t/", "/T/acme", noAnswer, "", ""},
		{"/t/", "/t%2Facme/x", noAnswer, "", ""},
		{"/api/v1/tenants/", "/api/v1/acme", noAnswer, "", ""},

		{"/t/", "/t/", invalid, "", ""},
		{"/t/", "/t//x", invalid, "", ""},
		{"/t/", "/t/a%2Fb/x", invalid, "", ""},
		{"/t/", "/t/a%20b/x", invalid, "", ""},
		{"/t/", "/t/a%00b/x", invalid, "", ""},
		{"/t/", "/t/%2E%2E/x", invalid, "", ""},
		{"/t/", "/t/a,b/x", invalid, "", ""},
		{"/t/", "/t/" + strings.Repeat("a", MaxKeyLen+1), invalid, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.prefix+" "+tt.target, func(t *testing.T) {
			c, err := PathPrefix(tt.prefix).Resolve(pathRequest(t, tt.target))
			requireOutcome(t, tt.want, c, err)
			if tt.want == answer {
				require.Equal(t, Candidate{Key: tt.key, Source: SourcePath, StripPrefix: tt.strip}, c)
			}
		})
	}
}

func TestPathPrefixDotSegments(t *testing.T) {
	// httptest.NewRequest does not clean paths; build them directly.
	for _, p := range []string{"/t/./x", "/t/../x"} {
		r := pathRequest(t, "/")
		r.URL = &url.URL{Path: p}
		c, err := PathPrefix("/t/").Resolve(r)
		requireOutcome(t, invalid, c, err)
	}
}

func TestPathPrefixInvalidPanics(t *testing.T) {
	for _, p := range []string{"", "/", "//", "t/"} {
		require.Panics(t, func() { PathPrefix(p) }, p)
	}
}

func TestStripPath(t *testing.T) {
	tests := []struct {
		target, prefix    string
		ok                bool
		path, rawPath     string
		escaped, original string
	}{
		{"/t/acme/api/x", "/t/acme", true, "/api/x", "", "/api/x", ""},
		{"/t/acme", "/t/acme", true, "/", "", "/", ""},
		{"/t/acme/", "/t/acme", true, "/", "", "/", ""},
		{"/t/acme/files/a%2Fb", "/t/acme", true, "/files/a/b", "/files/a%2Fb", "/files/a%2Fb", ""},
		{"/%74/%61cme/a%2Fb", "/t/acme", true, "/a/b", "/a%2Fb", "/a%2Fb", ""},
		{"/t/acme%2Fx/y", "/t/acme", false, "", "", "", ""}, // decoded path matches, escaped does not
		{"/t/acmex/y", "/t/acme", false, "", "", "", ""},    // not at a segment boundary
		{"/x/acme", "/t/acme", false, "", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			r := pathRequest(t, tt.target)
			before := *r.URL
			u := new(url.URL)
			ok := stripPath(u, r.URL, tt.prefix)
			require.Equal(t, before, *r.URL, "the original URL is never modified")
			require.Equal(t, tt.ok, ok)
			if !ok {
				return
			}
			require.Equal(t, tt.path, u.Path)
			require.Equal(t, tt.rawPath, u.RawPath)
			require.Equal(t, tt.escaped, u.EscapedPath())
		})
	}
	for _, p := range []string{"", "t/acme", "/t/acme/"} {
		require.False(t, stripPath(new(url.URL), &url.URL{Path: "/t/acme/x"}, p), p)
	}
}

func TestPathValue(t *testing.T) {
	res := PathValue("tenant")
	var (
		got Candidate
		err error
	)
	mux := http.NewServeMux()
	mux.HandleFunc("/t/{tenant}/api/", func(w http.ResponseWriter, r *http.Request) { got, err = res.Resolve(r) })
	mux.HandleFunc("/other/", func(w http.ResponseWriter, r *http.Request) { got, err = res.Resolve(r) })

	mux.ServeHTTP(httptest.NewRecorder(), pathRequest(t, "/t/acme/api/x"))
	require.NoError(t, err)
	require.Equal(t, Candidate{Key: "acme", Source: SourcePath}, got)

	mux.ServeHTTP(httptest.NewRecorder(), pathRequest(t, "/t/a%20b/api/x"))
	requireOutcome(t, invalid, got, err)

	mux.ServeHTTP(httptest.NewRecorder(), pathRequest(t, "/other/x"))
	requireOutcome(t, noAnswer, got, err)
}

func TestHeader(t *testing.T) {
	tests := []struct {
		name    string
		trusted bool
		values  []string
		want    outcome
		key     string
	}{
		{"trusted", true, []string{"acme"}, answer, "acme"},
		{"trusted repeated same", true, []string{"acme", "acme"}, answer, "acme"},
		{"trusted missing", true, nil, noAnswer, ""},
		{"trusted empty", true, []string{""}, invalid, ""},
		{"trusted list", true, []string{"a, b"}, invalid, ""},
		{"trusted repeated different", true, []string{"a", "b"}, conflict, ""},
		{"trusted too long", true, []string{strings.Repeat("a", MaxKeyLen+1)}, invalid, ""},
		{"untrusted", false, []string{"acme"}, noAnswer, ""},
		{"untrusted missing", false, nil, noAnswer, ""},
		{"untrusted garbage", false, []string{"a b"}, noAnswer, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := pathRequest(t, "/")
			for _, v := range tt.values {
				r.Header.Add("X-Tenant-ID", v)
			}
			c, err := Header("x-tenant-id", tt.trusted).Resolve(r)
			requireOutcome(t, tt.want, c, err)
			if tt.want == answer {
				require.Equal(t, Candidate{Key: tt.key, Source: SourceHeader}, c)
			}
			if tt.want == noAnswer && tt.trusted {
				require.Equal(t, SourceHeader, noCandidateSource(err))
			}
			if !tt.trusted {
				require.Empty(t, noCandidateSource(err), "an untrusted header is switched off")
			}
		})
	}
}

type principalKey struct{}

func TestClaim(t *testing.T) {
	res := Claim(func(ctx context.Context) (string, bool) {
		v, ok := ctx.Value(principalKey{}).(string)
		return v, ok
	})
	with := func(v string) *http.Request {
		r := pathRequest(t, "/")
		return r.WithContext(context.WithValue(r.Context(), principalKey{}, v))
	}
	c, err := res.Resolve(with("acme"))
	require.NoError(t, err)
	require.Equal(t, Candidate{Key: "acme", Source: SourceClaim}, c)

	c, err = res.Resolve(pathRequest(t, "/"))
	requireOutcome(t, noAnswer, c, err)
	c, err = res.Resolve(with(""))
	requireOutcome(t, noAnswer, c, err)
	c, err = res.Resolve(with("a/b"))
	requireOutcome(t, invalid, c, err)

	require.Panics(t, func() { Claim(nil) })
}

func TestChain(t *testing.T) {
	errBoom := errors.New("boom")
	fixed := func(c Candidate, err error) Resolver {
		return ResolverFunc(func(*http.Request) (Candidate, error) { return c, err })
	}
	std := Chain(Subdomain("localhost"), PathPrefix("/t/"), Header("X-Tenant", false))
	tests := []struct {
		name   string
		res    Resolver
		host   string
		target string
		header string
		want   outcome
		cand   Candidate
		source string // source of the ErrNoCandidate
	}{
		{"subdomain only", std, "acme.localhost:8080", "/api", "", answer, Candidate{Key: "acme", Source: SourceHost}, ""},
		{"path only", std, "localhost:8080", "/t/acme/api", "", answer, Candidate{Key: "acme", Source: SourcePath, StripPrefix: "/t/acme"}, ""},
		{"agree", std, "acme.localhost", "/t/acme/api", "", answer, Candidate{Key: "acme", Source: SourceHost, StripPrefix: "/t/acme"}, ""},
		{"agree after lower-casing the host", std, "ACME.localhost", "/t/acme/api", "", answer, Candidate{Key: "acme", Source: SourceHost, StripPrefix: "/t/acme"}, ""},
		{"subdomain b path a", std, "b.localhost", "/t/a/api", "", conflict, Candidate{}, ""},
		{"case differs in path", std, "acme.localhost", "/t/ACME/api", "", conflict, Candidate{}, ""},
		{"untrusted header ignored", std, "acme.localhost", "/api", "other", answer, Candidate{Key: "acme", Source: SourceHost}, ""},
		{"nothing", std, "localhost", "/api", "", noAnswer, Candidate{}, SourceHost},
		{"invalid path stops the chain", std, "acme.localhost", "/t/a%20b/api", "", invalid, Candidate{}, ""},
		{"invalid host stops the chain", std, "-x.localhost", "/t/acme/api", "", invalid, Candidate{}, ""},

		{"trusted header conflicts", Chain(Subdomain("localhost"), Header("X-Tenant", true)), "acme.localhost", "/", "other", conflict, Candidate{}, ""},
		{"trusted header agrees", Chain(Subdomain("localhost"), Header("X-Tenant", true)), "acme.localhost", "/", "acme", answer, Candidate{Key: "acme", Source: SourceHost}, ""},
		{"trusted header missing is the reported source", Chain(Subdomain("localhost"), Header("X-Tenant", true)), "localhost", "/", "", noAnswer, Candidate{}, SourceHeader},
		{"path then host reports path", Chain(PathPrefix("/t/"), Subdomain("localhost")), "localhost", "/", "", noAnswer, Candidate{}, SourcePath},
		{"empty chain", Chain(), "acme.localhost", "/", "", noAnswer, Candidate{}, ""},
		{"error stops the chain", Chain(fixed(Candidate{}, errBoom), Subdomain("localhost")), "acme.localhost", "/", "", answer, Candidate{}, ""},
		{"second strip prefix kept", Chain(fixed(Candidate{Key: "a", Source: "x"}, nil), fixed(Candidate{Key: "a", Source: "y", StripPrefix: "/p/a"}, nil)), "", "/", "", answer, Candidate{Key: "a", Source: "x", StripPrefix: "/p/a"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := pathRequest(t, tt.target)
			r.Host = tt.host
			if tt.header != "" {
				r.Header.Set("X-Tenant", tt.header)
			}
			c, err := tt.res.Resolve(r)
			if tt.name == "error stops the chain" {
				require.ErrorIs(t, err, errBoom)
				return
			}
			requireOutcome(t, tt.want, c, err)
			switch tt.want {
			case answer:
				require.Equal(t, tt.cand, c)
			case noAnswer:
				require.Equal(t, tt.source, noCandidateSource(err))
			}
		})
	}

	require.Panics(t, func() { Chain(Subdomain("localhost"), nil) })
}

func TestConflictErrorNamesBothSources(t *testing.T) {
	r := pathRequest(t, "/t/a/x")
	r.Host = "b.localhost"
	_, err := Chain(Subdomain("localhost"), PathPrefix("/t/")).Resolve(r)
	var ce *ConflictError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, Candidate{Key: "b", Source: SourceHost}, ce.First)
	require.Equal(t, Candidate{Key: "a", Source: SourcePath, StripPrefix: "/t/a"}, ce.Second)
	require.Contains(t, err.Error(), `host says "b"`)
	require.Contains(t, err.Error(), `path says "a"`)
}

func TestInvalidKeyErrorIsBounded(t *testing.T) {
	r := pathRequest(t, "/")
	r.Header.Set("X-Tenant", strings.Repeat("x ", 5000))
	_, err := Header("X-Tenant", true).Resolve(r)
	require.ErrorIs(t, err, ErrInvalidKey)
	require.Less(t, len(err.Error()), 200)
}

func TestResolversDoNotModifyRequest(t *testing.T) {
	r := pathRequest(t, "/t/acme/x%2Fy")
	r.Host = "acme.localhost"
	r.Header.Set("X-Tenant", "acme")
	u, h, hdr := *r.URL, r.Host, r.Header.Clone()
	_, err := Chain(Subdomain("localhost"), PathPrefix("/t/"), Header("X-Tenant", true)).Resolve(r)
	require.NoError(t, err)
	require.Equal(t, u, *r.URL)
	require.Equal(t, h, r.Host)
	require.Equal(t, hdr, r.Header)
}

// Chain reads the built-in resolvers without calling their Resolve: a chain
// of one answers exactly as the resolver does, errors included.
func TestChainOfOneAnswersAsItsResolver(t *testing.T) {
	hosts := []string{"acme.localhost:8080", "ACME.localhost", "localhost", "a.b.localhost", "-x.localhost", "127.0.0.1", "[::1]:80", ""}
	targets := []string{"/t/acme/api", "/t/a%2Fb/x", "/t/%61cme/x", "/t/", "/t", "/api", "/t/a.b~c_d-e/", "/t/../x"}
	for _, res := range []Resolver{Subdomain("localhost"), PathPrefix("/t/")} {
		one := Chain(res)
		for _, host := range hosts {
			for _, target := range targets {
				r := httptest.NewRequest(http.MethodGet, "http://localhost"+target, nil)
				r.Host = host
				want, wantErr := res.Resolve(r)
				got, err := one.Resolve(r)
				require.Equal(t, want, got, "%s %s", host, target)
				if wantErr == nil {
					require.NoError(t, err)
				} else {
					require.EqualError(t, err, wantErr.Error(), "%s %s", host, target)
				}
			}
		}
	}
}
