package tenant

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/textproto"
	"net/url"
	"sort"
	"strings"
)

// ErrNoCandidate is returned by a Resolver whose source has no answer for a
// request: no tenant subdomain, no tenant path segment, no header, no claim.
// Errors that carry the source wrap it, so test with errors.Is.
var ErrNoCandidate = errors.New("tenant: no tenant candidate in request")

// ErrInvalidKey is returned by a Resolver whose source answered with
// something that cannot be a tenant key (see Candidate.Key for the rules).
// Middleware answers it with 400. Errors wrap it; test with errors.Is.
var ErrInvalidKey = errors.New("tenant: invalid tenant key")

// MaxKeyLen is the longest tenant key a built-in resolver accepts.
const MaxKeyLen = 128

// Candidate sources reported by the built-in resolvers.
const (
	SourceHost   = "host"
	SourcePath   = "path"
	SourceHeader = "header"
	SourceClaim  = "claim"
)

// Candidate is what a Resolver read from a request: the key to look up in a
// Directory, the source it came from, and an optional path prefix to remove.
//
// Keys from the built-in resolvers are 1 to MaxKeyLen bytes of ASCII letters,
// digits, '-', '_', '.' and '~' (never "." or ".."); Subdomain keys are
// lower-cased DNS labels (letters, digits, '-'; at most 63 bytes). The zero
// Candidate (empty Key) is no candidate.
type Candidate struct {
	// Key is the tenant key, after the resolver's own normalisation.
	Key string
	// Source names where the key came from: "host", "path", "header" or
	// "claim" for the built-in resolvers.
	Source string
	// StripPrefix, when not empty, is the decoded path prefix (such as
	// "/t/acme") that Middleware removes from the request path before it
	// calls the next handler. It never ends with '/'.
	StripPrefix string
}

// Resolver reads a tenant candidate from a request. It returns an error
// wrapping ErrNoCandidate when its source has no answer, one wrapping
// ErrInvalidKey when the source answered with an unusable key, and a
// *ConflictError when sources disagree. A custom Resolver may return an
// *Error to choose the status Middleware answers; any other error answers
// 500. A Resolver must not modify the request and must be safe for
// concurrent use.
type Resolver interface {
	Resolve(r *http.Request) (Candidate, error)
}

// ResolverFunc adapts a function to a Resolver.
type ResolverFunc func(*http.Request) (Candidate, error)

var _ Resolver = ResolverFunc(nil)

// Resolve calls f(r).
func (f ResolverFunc) Resolve(r *http.Request) (Candidate, error) { return f(r) }

// noCandidateError is ErrNoCandidate with the source that had no answer,
// which decides the status Middleware answers (400 for a header, else 404).
// An empty source is a resolver that is switched off.
type noCandidateError struct{ source string }

func (e *noCandidateError) Error() string {
	if e.source == "" {
		return ErrNoCandidate.Error()
	}
	return ErrNoCandidate.Error() + " (" + e.source + ")"
}

func (e *noCandidateError) Is(target error) bool { return target == ErrNoCandidate }

// Immutable, allocation-free answers of the built-in resolvers.
var (
	errNoHost   error = &noCandidateError{SourceHost}
	errNoPath   error = &noCandidateError{SourcePath}
	errNoHeader error = &noCandidateError{SourceHeader}
	errNoClaim  error = &noCandidateError{SourceClaim}
	errOff      error = &noCandidateError{}
)

// noCandidateSource returns the source recorded in an ErrNoCandidate error,
// or "" when there is none.
func noCandidateSource(err error) string {
	if nc, ok := err.(*noCandidateError); ok { // the built-in resolvers' own values: no allocation
		return nc.source
	}
	return wrappedNoCandidateSource(err)
}

func wrappedNoCandidateSource(err error) string {
	var nc *noCandidateError
	if errors.As(err, &nc) {
		return nc.source
	}
	return ""
}

// ConflictError reports two sources that both answered with different keys
// (for example the subdomain says "b" and the path says "a"). Middleware
// answers it with 400. It is an immutable value once returned.
type ConflictError struct {
	First, Second Candidate
}

// Error names both sources and keys.
func (e *ConflictError) Error() string {
	return fmt.Sprintf("tenant: conflicting tenant candidates: %s says %q, %s says %q",
		e.First.Source, e.First.Key, e.Second.Source, e.Second.Key)
}

// invalidKey returns an error wrapping ErrInvalidKey that names the source
// and a bounded, quoted prefix of the offending value.
func invalidKey(source, value string) error {
	const max = 64
	if len(value) > max {
		value = value[:max] + "..."
	}
	return fmt.Errorf("%w from %s: %q", ErrInvalidKey, source, value)
}

// validKey reports whether s is an acceptable key for a path, header or
// claim: 1..MaxKeyLen bytes of URL-unreserved ASCII, not "." or "..".
func validKey(s string) bool {
	if len(s) == 0 || len(s) > MaxKeyLen || s == "." || s == ".." {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '_', c == '.', c == '~':
		default:
			return false
		}
	}
	return true
}

// validLabel reports whether s is a lower-case DNS label: 1..63 bytes of
// letters, digits and '-', not starting or ending with '-'.
func validLabel(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// validDomain reports whether s is a lower-case host name of valid labels.
func validDomain(s string) bool {
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	for s != "" {
		label, rest, _ := strings.Cut(s, ".")
		if !validLabel(label) {
			return false
		}
		if rest == "" && len(label) < len(s) { // trailing dot
			return false
		}
		s = rest
	}
	return true
}

type subdomain struct {
	bases []string // lower-case, longest first
}

// Subdomain returns a Resolver that answers with the single DNS label in
// front of one of the base domains: with base "localhost", the host
// "acme.localhost:8080" gives Key "acme" (Source "host").
//
// The host is r.Host. The port is ignored, matching is case-insensitive and
// the key is lower-cased; one trailing dot (the absolute form of a name) is
// accepted. IP addresses (including bracketed IPv6 literals) never answer,
// nor does a base domain itself (even one that is a single label below
// another base), a host deeper than one label below a base
// ("a.b.localhost"), or a host that only starts with a base
// ("acme.localhost.evil.com"): these return ErrNoCandidate. A single label
// below a base that is not a valid DNS label ("-x", "a_b", empty) returns
// ErrInvalidKey. When base domains nest, the longest one that matches wins.
//
// Subdomain panics if a base domain is not a valid DNS name, such as an
// empty string, an IP address or a name with a port: that is a
// configuration error, not a request error.
func Subdomain(baseDomains ...string) Resolver {
	s := &subdomain{}
	for _, b := range baseDomains {
		nb := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(b)), ".")
		nb = strings.TrimPrefix(nb, ".")
		if _, err := netip.ParseAddr(nb); err == nil || !validDomain(nb) {
			panic(fmt.Sprintf("tenant: Subdomain: invalid base domain %q", b))
		}
		s.bases = append(s.bases, nb)
	}
	sort.SliceStable(s.bases, func(i, j int) bool { return len(s.bases[i]) > len(s.bases[j]) })
	return s
}

func (s *subdomain) Resolve(r *http.Request) (Candidate, error) {
	key, err := s.parse(r.Host)
	if err != nil {
		return Candidate{}, err
	}
	return Candidate{Key: key, Source: SourceHost}, nil
}

// parse is the host parser: it returns the tenant label of host.
func (s *subdomain) parse(host string) (string, error) {
	host, ok := hostname(host)
	if !ok {
		return "", errNoHost
	}
bases:
	for _, base := range s.bases {
		n := len(host) - len(base) // the length of the label and its dot
		if n < 0 || host[n:] != base && !asciiEqualFold(host[n:], base) {
			continue
		}
		if n == 0 {
			return "", errNoHost // a base domain itself, even one below another base
		}
		if host[n-1] != '.' {
			continue
		}
		// One pass over the label: a dot anywhere means a host deeper than
		// one label below this base, which is no answer from it, whatever
		// else the label holds; other bytes decide lower-casing and validity.
		label := host[:n-1]
		upper, bad := false, false
		for i := 0; i < len(label); i++ {
			switch c := label[i]; {
			case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-':
			case 'A' <= c && c <= 'Z':
				upper = true
			case c == '.':
				continue bases
			default:
				bad = true
			}
		}
		if upper {
			label = strings.ToLower(label)
		}
		if bad || len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return "", invalidKey(SourceHost, label)
		}
		return label, nil
	}
	return "", errNoHost
}

// hostname strips the port and one trailing dot from a Host header value. It
// reports false for IP addresses, IPv6 literals, malformed ports and names
// longer than a DNS name can be.
func hostname(host string) (string, bool) {
	if host == "" || host[0] == '[' || len(host) > 253+1+6 {
		return "", false
	}
	if i := strings.IndexByte(host, ':'); i >= 0 {
		port := host[i+1:]
		if len(port) > 5 {
			return "", false
		}
		for j := 0; j < len(port); j++ {
			if port[j] < '0' || port[j] > '9' { // includes a second ':' (bare IPv6)
				return "", false
			}
		}
		host = host[:i]
	}
	host = strings.TrimSuffix(host, ".")
	if host == "" || len(host) > 253 {
		return "", false
	}
	if isIPv4ish(host) {
		return "", false
	}
	return host, true
}

// isIPv4ish reports whether host is all digits and dots (an IPv4 address,
// or something a resolver could read as one); such hosts never answer.
func isIPv4ish(host string) bool {
	for i := 0; i < len(host); i++ {
		if c := host[i]; c != '.' && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// asciiEqualFold reports whether s equals the lower-case ASCII string lc,
// ignoring ASCII case only (no Unicode folding such as the Kelvin sign).
func asciiEqualFold(s, lc string) bool {
	if len(s) != len(lc) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lc[i] {
			return false
		}
	}
	return true
}

type pathPrefix struct {
	prefix string   // "/t/"
	segs   []string // decoded segments of prefix: ["t"]
}

// PathPrefix returns a Resolver that answers with the first path segment
// after prefix: with prefix "/t/", the path "/t/acme/api/x" gives Key "acme"
// (Source "path") and StripPrefix "/t/acme", so Middleware serves the next
// handler with the path "/api/x".
//
// Segments are read from the escaped path and decoded one by one, so an
// encoded slash inside the tenant segment ("/t/a%2Fb/x") is an invalid key,
// never a way to shift segments. Keys are case-sensitive and not otherwise
// normalised. A path outside the prefix returns ErrNoCandidate; an empty,
// "." or ".." segment, or one with characters outside the key alphabet,
// returns ErrInvalidKey.
//
// A missing trailing slash is added to prefix. PathPrefix panics if prefix
// does not start with '/', is just "/", or has a segment that is empty, "."
// or "..", or holds characters outside the key alphabet (such as '%', '?'
// or '#'): such a prefix cannot be matched literally against a decoded path.
func PathPrefix(prefix string) Resolver {
	if !strings.HasPrefix(prefix, "/") || strings.Trim(prefix, "/") == "" {
		panic(fmt.Sprintf("tenant: PathPrefix: prefix %q must start with '/' and name at least one segment", prefix))
	}
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	segs := strings.Split(prefix[1:len(prefix)-1], "/")
	for _, seg := range segs {
		if !validKey(seg) {
			panic(fmt.Sprintf("tenant: PathPrefix: prefix %q has an invalid segment %q", prefix, seg))
		}
	}
	return &pathPrefix{prefix: prefix, segs: segs}
}

func (p *pathPrefix) Resolve(r *http.Request) (Candidate, error) {
	key, strip, err := p.parse(r.URL)
	if err != nil {
		return Candidate{}, err
	}
	return Candidate{Key: key, Source: SourcePath, StripPrefix: strip}, nil
}

// parse is the path parser: it returns the tenant segment of u and the
// decoded prefix to strip ("/t/" + key).
func (p *pathPrefix) parse(u *url.URL) (key, strip string, err error) {
	if u.RawPath != "" {
		key, err = p.parseSegments(u.EscapedPath(), true)
		if err != nil {
			return "", "", err
		}
		return key, p.prefix + key, nil
	}
	// Fast path: no escaping in the path, the decoded form is the raw form
	// and the prefix segments match exactly when the path starts with the
	// prefix (the same answer as parseSegments, without the loop). The strip
	// prefix is then a substring of the path.
	rest, ok := strings.CutPrefix(u.Path, p.prefix)
	if !ok {
		return "", "", errNoPath
	}
	key, _, _ = strings.Cut(rest, "/")
	if !validKey(key) {
		return "", "", invalidKey(SourcePath, key)
	}
	return key, u.Path[:len(p.prefix)+len(key)], nil
}

// parseSegments reads the tenant segment from raw segment by segment; when
// escaped, raw is an escaped path and each segment is decoded on its own.
func (p *pathPrefix) parseSegments(raw string, escaped bool) (string, error) {
	if len(raw) == 0 || raw[0] != '/' {
		return "", errNoPath
	}
	rest := raw[1:]
	for _, want := range p.segs {
		seg, tail, found := strings.Cut(rest, "/")
		if !found || !segEqual(seg, want, escaped) {
			return "", errNoPath
		}
		rest = tail
	}
	seg, _, _ := strings.Cut(rest, "/")
	if escaped && strings.IndexByte(seg, '%') >= 0 {
		dec, err := url.PathUnescape(seg)
		if err != nil {
			return "", invalidKey(SourcePath, seg)
		}
		seg = dec
	}
	if !validKey(seg) {
		return "", invalidKey(SourcePath, seg)
	}
	return seg, nil
}

// segEqual reports whether the raw path segment seg decodes to want.
func segEqual(seg, want string, escaped bool) bool {
	if seg == want {
		return true
	}
	if !escaped || strings.IndexByte(seg, '%') < 0 {
		return false
	}
	dec, err := url.PathUnescape(seg)
	return err == nil && dec == want
}

// stripPath stores in nu (which must not be u) a copy of u without the
// decoded prefix, keeping RawPath consistent with Path. It reports false,
// leaving nu in an unspecified state, when u does not start with prefix at a
// segment boundary, in its decoded or escaped form. The caller provides nu
// so that the copy lives where it likes: on the stack, or in the allocation
// of the request's context.
func stripPath(nu, u *url.URL, prefix string) bool {
	if prefix == "" || prefix[0] != '/' || strings.HasSuffix(prefix, "/") {
		return false
	}
	rest, ok := strings.CutPrefix(u.Path, prefix)
	if !ok || (rest != "" && rest[0] != '/') {
		return false
	}
	*nu = *u
	nu.Path = rest
	if nu.Path == "" {
		nu.Path = "/"
	}
	if u.RawPath != "" {
		// Remove as many escaped segments as prefix has, and check that
		// they decode to prefix: an encoded slash can never shift them.
		// EscapedPath is RawPath when that is a valid encoding of Path,
		// else Path re-encoded: the same form the path parser read.
		n := strings.Count(prefix, "/")
		raw := u.EscapedPath()
		i := 0
		for range n {
			if i >= len(raw) || raw[i] != '/' {
				return false
			}
			j := strings.IndexByte(raw[i+1:], '/')
			if j < 0 {
				i = len(raw)
			} else {
				i += 1 + j
			}
		}
		dec, err := url.PathUnescape(raw[:i])
		if err != nil || dec != prefix {
			return false
		}
		nu.RawPath = raw[i:]
		if nu.RawPath == "" {
			nu.RawPath = "/"
		}
		if dec, err := url.PathUnescape(nu.RawPath); err != nil || dec != nu.Path {
			return false
		}
	}
	return true
}

type pathValue struct{ name string }

// PathValue returns a Resolver that answers with r.PathValue(name), for use
// on routes of a net/http ServeMux pattern such as "/t/{tenant}/api/". An
// empty value returns ErrNoCandidate; a value outside the key alphabet
// returns ErrInvalidKey. It sets no StripPrefix: the pattern already routes.
func PathValue(name string) Resolver { return pathValue{name: name} }

func (p pathValue) Resolve(r *http.Request) (Candidate, error) {
	v := r.PathValue(p.name)
	if v == "" {
		return Candidate{}, errNoPath
	}
	if !validKey(v) {
		return Candidate{}, invalidKey(SourcePath, v)
	}
	return Candidate{Key: v, Source: SourcePath}, nil
}

type header struct {
	name    string // canonical
	trusted bool
}

// Header returns a Resolver that answers with the value of the named
// request header, only when trusted is true. Anyone can send any header, so
// trust it only behind a proxy that sets or strips it; an untrusted Header
// never answers, whatever the request carries, and does not count as a
// source in a Chain.
//
// A missing header returns ErrNoCandidate (Middleware answers 400: a client
// that is meant to send it did not). The header repeated with different
// values is a *ConflictError; a value outside the key alphabet returns
// ErrInvalidKey.
func Header(name string, trusted bool) Resolver {
	return header{name: textproto.CanonicalMIMEHeaderKey(name), trusted: trusted}
}

func (h header) Resolve(r *http.Request) (Candidate, error) {
	if !h.trusted {
		return Candidate{}, errOff
	}
	vals := r.Header[h.name]
	if len(vals) == 0 {
		return Candidate{}, errNoHeader
	}
	v := vals[0]
	if !validKey(v) {
		return Candidate{}, invalidKey(SourceHeader, v)
	}
	for _, o := range vals[1:] {
		if o != v {
			return Candidate{}, &ConflictError{
				First:  Candidate{Key: v, Source: SourceHeader},
				Second: Candidate{Key: o, Source: SourceHeader},
			}
		}
	}
	return Candidate{Key: v, Source: SourceHeader}, nil
}

type claim struct {
	fn func(ctx context.Context) (string, bool)
}

// Claim returns a Resolver that answers with the tenant key of a principal
// that a previous middleware verified and stored in the request context; fn
// reads it from there. fn reporting false or an empty key returns
// ErrNoCandidate; a key outside the key alphabet returns ErrInvalidKey.
// Claim panics if fn is nil.
func Claim(fn func(ctx context.Context) (string, bool)) Resolver {
	if fn == nil {
		panic("tenant: Claim: nil function")
	}
	return claim{fn: fn}
}

func (c claim) Resolve(r *http.Request) (Candidate, error) {
	v, ok := c.fn(r.Context())
	if !ok || v == "" {
		return Candidate{}, errNoClaim
	}
	if !validKey(v) {
		return Candidate{}, invalidKey(SourceClaim, v)
	}
	return Candidate{Key: v, Source: SourceClaim}, nil
}

type chain []Resolver

// Chain returns a Resolver that asks every resolver, in order, and requires
// all those that answer to agree on the key, compared exactly after each
// resolver's own normalisation (Subdomain lower-cases, PathPrefix does not).
// Two different keys give a *ConflictError (400 in Middleware), never a
// silent preference. Any error other than ErrNoCandidate stops the chain and
// is returned, so one malformed source fails the request.
//
// The result is the first answer, with the first non-empty StripPrefix of
// any answer. When no resolver answers, Chain returns ErrNoCandidate, for
// the header source if a trusted Header was asked (so Middleware answers
// 400), else for the first source. Chain panics if a resolver is nil.
func Chain(rs ...Resolver) Resolver {
	for i, r := range rs {
		if r == nil {
			panic(fmt.Sprintf("tenant: Chain: resolver %d is nil", i))
		}
	}
	return chain(append([]Resolver(nil), rs...))
}

func (c chain) Resolve(r *http.Request) (Candidate, error) {
	var (
		got  Candidate
		have bool
		none error = errOff
	)
	for _, res := range c {
		// The built-in resolvers are read without their Resolve, which
		// saves an interface call and a Candidate copy per resolver.
		var (
			cand Candidate
			err  error
		)
		switch res := res.(type) {
		case *subdomain:
			cand.Key, err = res.parse(r.Host)
			cand.Source = SourceHost
		case *pathPrefix:
			cand.Key, cand.StripPrefix, err = res.parse(r.URL)
			cand.Source = SourcePath
		default:
			cand, err = res.Resolve(r)
		}
		if err != nil {
			if _, builtin := err.(*noCandidateError); !builtin && !errors.Is(err, ErrNoCandidate) {
				return Candidate{}, err
			}
			switch src := noCandidateSource(err); {
			case src == SourceHeader:
				none = err
			case src != "" && noCandidateSource(none) == "":
				none = err
			}
			continue
		}
		if !have {
			got, have = cand, true
			continue
		}
		if cand.Key != got.Key {
			return Candidate{}, &ConflictError{First: got, Second: cand}
		}
		if got.StripPrefix == "" {
			got.StripPrefix = cand.StripPrefix
		}
	}
	if !have {
		return Candidate{}, none
	}
	return got, nil
}
