package tenant

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func FuzzSubdomainHost(f *testing.F) {
	for _, s := range []string{
		"acme.localhost", "ACME.LOCALHOST:8080", "a.b.localhost", "localhost", "[::1]:8080", "::1",
		"127.0.0.1", "127.0.0.1:80", "acme.localhost.evil.com", "", ".localhost", "-a.localhost",
		"acme.localhost.", "acme.localhost:", "acme.localhost:99999", "a_b.localhost", "acme.app.example.com",
		"xn--bcher-kva.example.com", "acme.localhost\x00", "acme.LOCALHOST\u212a", strings.Repeat("a", 300) + ".localhost",
		"%61.localhost", "acme..localhost", "1.2.3.4.localhost", "app.example.com", "APP.example.com.:443",
		"A_B.localhost", "a_b.x.localhost", "x.a_b.localhost", "-.localhost", "a-.localhost", "a:b.localhost",
		strings.Repeat("a", 63) + ".localhost", strings.Repeat("A", 64) + ".localhost", "acme.exAmple.com",
	} {
		f.Add(s)
	}
	res := Subdomain("localhost", "example.com", "app.example.com").(*subdomain)
	f.Fuzz(func(t *testing.T, host string) {
		key, err := res.parse(host)
		// The one-pass label scan answers exactly as the plain reading of
		// the rules does, errors included.
		refKey, refErr := parseHostReference(res.bases, host)
		if key != refKey || (err == nil) != (refErr == nil) || err != nil && err.Error() != refErr.Error() {
			t.Fatalf("parse(%q) = %q, %v; the reference says %q, %v", host, key, err, refKey, refErr)
		}
		if err != nil {
			if !errors.Is(err, ErrNoCandidate) && !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("parse(%q): unexpected error %v", host, err)
			}
			if key != "" {
				t.Fatalf("parse(%q): key %q with error", host, key)
			}
			return
		}
		if !validLabel(key) {
			t.Fatalf("parse(%q) = %q: not a lower-case DNS label", host, key)
		}
		// The host, without port and trailing dot, is exactly key.base.
		h := strings.ToLower(host)
		if i := strings.IndexByte(h, ':'); i >= 0 {
			h = h[:i]
		}
		h = strings.TrimSuffix(h, ".")
		ok := false
		for _, base := range res.bases {
			if h == key+"."+base {
				ok = true
			}
			if h == base {
				t.Fatalf("parse(%q) = %q: a base domain itself answered", host, key)
			}
		}
		if !ok {
			t.Fatalf("parse(%q) = %q: host is not one label below a base domain", host, key)
		}
		// Resolve agrees with parse.
		c, err := res.Resolve(&http.Request{Host: host})
		if err != nil || c.Key != key || c.Source != SourceHost || c.StripPrefix != "" {
			t.Fatalf("Resolve(%q) = %+v, %v", host, c, err)
		}
	})
}

// parseHostReference is the host parser written as the rules read, one
// step at a time: the oracle of subdomain.parse.
func parseHostReference(bases []string, host string) (string, error) {
	host, ok := hostname(host)
	if !ok {
		return "", errNoHost
	}
	for _, base := range bases {
		if len(host) == len(base) && asciiEqualFold(host, base) {
			return "", errNoHost
		}
		if len(host) <= len(base) || !asciiEqualFold(host[len(host)-len(base):], base) ||
			host[len(host)-len(base)-1] != '.' {
			continue
		}
		label := host[:len(host)-len(base)-1]
		if strings.Contains(label, ".") {
			continue
		}
		if strings.ContainsFunc(label, func(r rune) bool { return 'A' <= r && r <= 'Z' }) {
			label = strings.ToLower(label)
		}
		if !validLabel(label) {
			return "", invalidKey(SourceHost, label)
		}
		return label, nil
	}
	return "", errNoHost
}

func FuzzPathPrefix(f *testing.F) {
	for _, s := range []string{
		"/t/acme/api/x", "/t/acme", "/t/", "/t", "/", "", "/t//x", "/t/a%2Fb/x", "/%74/acme/x",
		"/t/%61cme/x%2Fy", "/t/../x", "/t/./x", "/t/%2e%2e/x", "/t/a%00/x", "/t/acme%2F/x",
		"/t/acme/files/a%2Fb", "/t/ACME/x", "/t%2Facme/x", "//t/acme", "/t/acme?x=1", "/t/%zz/x",
		"/t/" + strings.Repeat("a", 200) + "/x", "/api/t/acme/x", "/api/t/", "/api/t", "/api/tx/acme", "/api//t/acme",
		"/api/t/a%20b/x", "/t/a b/x", "/t/acme/",
	} {
		f.Add(s)
	}
	res := PathPrefix("/t/").(*pathPrefix)
	deep := PathPrefix("/api/t/").(*pathPrefix)
	f.Fuzz(func(t *testing.T, target string) {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return
		}
		// An unescaped path takes a fast path that answers exactly as the
		// segment-by-segment reading, errors included.
		if u.RawPath == "" {
			for _, p := range []*pathPrefix{res, deep} {
				key, strip, err := p.parse(u)
				refKey, refErr := p.parseSegments(u.Path, false)
				if key != refKey || (err == nil) != (refErr == nil) || err != nil && err.Error() != refErr.Error() {
					t.Fatalf("%s: parse(%q) = %q, %v; segment by segment %q, %v", p.prefix, target, key, err, refKey, refErr)
				}
				if err == nil && strip != p.prefix+key {
					t.Fatalf("%s: parse(%q) strips %q", p.prefix, target, strip)
				}
			}
		}
		before := *u
		c, err := res.Resolve(&http.Request{URL: u})
		if *u != before {
			t.Fatalf("Resolve modified the URL of %q", target)
		}
		if err != nil {
			if !errors.Is(err, ErrNoCandidate) && !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("Resolve(%q): unexpected error %v", target, err)
			}
			return
		}
		if !validKey(c.Key) || c.Source != SourcePath || c.StripPrefix != "/t/"+c.Key {
			t.Fatalf("Resolve(%q) = %+v", target, c)
		}
		// The middleware's strip always succeeds on what the resolver
		// accepted, keeps Path and RawPath consistent and never touches u.
		nu := new(url.URL)
		if !stripPath(nu, u, c.StripPrefix) {
			t.Fatalf("stripPath(%q, %q) failed", target, c.StripPrefix)
		}
		if *u != before {
			t.Fatalf("stripPath modified the URL of %q", target)
		}
		want := strings.TrimPrefix(u.Path, c.StripPrefix)
		if want == "" {
			want = "/"
		}
		if nu.Path != want {
			t.Fatalf("stripPath(%q): Path %q, want %q", target, nu.Path, want)
		}
		if nu.RawPath != "" {
			dec, err := url.PathUnescape(nu.RawPath)
			if err != nil || dec != nu.Path {
				t.Fatalf("stripPath(%q): RawPath %q does not decode to Path %q", target, nu.RawPath, nu.Path)
			}
		}
		if dec, err := url.PathUnescape(nu.EscapedPath()); err != nil || dec != nu.Path {
			t.Fatalf("stripPath(%q): EscapedPath %q does not decode to Path %q", target, nu.EscapedPath(), nu.Path)
		}
	})
}

func FuzzHeader(f *testing.F) {
	for _, s := range []string{"acme", "", "a b", "a,b", "ACME", "a/b", "..", ".", "a\x00", "é", "0123456789abcdef-_.~",
		strings.Repeat("a", MaxKeyLen), strings.Repeat("a", MaxKeyLen+1)} {
		f.Add(s, "acme")
	}
	res := Header("X-Tenant", true)
	f.Fuzz(func(t *testing.T, v, second string) {
		r := &http.Request{Header: http.Header{"X-Tenant": {v, second}}}
		c, err := res.Resolve(r)
		if err != nil {
			var ce *ConflictError
			if !errors.Is(err, ErrInvalidKey) && !errors.As(err, &ce) {
				t.Fatalf("Resolve(%q, %q): unexpected error %v", v, second, err)
			}
			if ce != nil && (ce.First.Key != v || ce.Second.Key != second || v == second) {
				t.Fatalf("Resolve(%q, %q): bad conflict %v", v, second, ce)
			}
			return
		}
		if c.Key != v || v != second || !validKey(v) || c.Source != SourceHeader || c.StripPrefix != "" {
			t.Fatalf("Resolve(%q, %q) = %+v", v, second, c)
		}
		if strings.ContainsAny(v, "/ ,;\x00%") || v == "." || v == ".." || len(v) > MaxKeyLen {
			t.Fatalf("Resolve(%q) accepted a key outside the alphabet", v)
		}
	})
}
