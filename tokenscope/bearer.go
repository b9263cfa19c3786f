package tokenscope

import (
	"errors"
	"net/http"
	"strings"
)

// MaxCredentialLength bounds the bearer token ParseBearer accepts, so a
// hostile header costs bounded work before any lookup.
const MaxCredentialLength = 1024

// Reasons a bearer credential is malformed. They are the Err of the
// ErrInvalidToken *Error and never contain the credential.
var (
	errEmptyToken     = errors.New("empty bearer token")
	errTokenTooLong   = errors.New("bearer token longer than 1024 bytes")
	errTokenCharset   = errors.New("bearer token has a character outside the RFC 6750 b64token set")
	errTokenPadding   = errors.New("bearer token has '=' before its end")
	errManyTokens     = errors.New("more than one bearer token")
	errManyHeaders    = errors.New("more than one Authorization header")
	errNotBearerValue = errors.New("authorization scheme is not Bearer")
)

// ParseBearer extracts the credential from an Authorization header value of
// the form "Bearer <token>" (RFC 6750 section 2.1).
//
//   - An empty value, or one with another scheme (Basic, Digest), is
//     ErrNoCredential: the request presented no bearer token.
//   - The scheme is matched case-insensitively and is separated from the
//     token by one or more spaces; exactly one token must follow, with
//     nothing after it.
//   - The token must be 1 to 1024 characters of the b64token set
//     (ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/", then only "="),
//     plus "|": SQLStore tokens are "<id>|<secret>" as users of Laravel
//     Sanctum know them, and "|" is a plain visible character in HTTP.
//
// Anything else is ErrInvalidToken (401 invalid_token). The error never
// contains the header value.
func ParseBearer(header string) (Secret, error) {
	if header == "" {
		return "", newError(ErrNoCredential, nil)
	}
	i := 0
	for i < len(header) && header[i] != ' ' {
		i++
	}
	if !isBearer(header[:i]) {
		// "Bearer" followed by a tab, NUL or other non-token byte is a bearer
		// token presented malformed, not another scheme ("Bearerx" is one).
		if len(header) > 6 && isBearer(header[:6]) && !isTchar(header[6]) {
			return "", newError(ErrInvalidToken, errTokenCharset)
		}
		return "", newError(ErrNoCredential, errNotBearerValue)
	}
	for i < len(header) && header[i] == ' ' {
		i++
	}
	tok := header[i:]
	if tok == "" {
		return "", newError(ErrInvalidToken, errEmptyToken)
	}
	if len(tok) > MaxCredentialLength {
		return "", newError(ErrInvalidToken, errTokenTooLong)
	}
	padding := false
	for j := 0; j < len(tok); j++ {
		c := tok[j]
		switch {
		case c == '=':
			padding = true
		case padding:
			if c == ' ' {
				return "", newError(ErrInvalidToken, errManyTokens)
			}
			return "", newError(ErrInvalidToken, errTokenPadding)
		case b64token[c]:
		case c == ' ' || c == '\t' || c == ',':
			return "", newError(ErrInvalidToken, errManyTokens)
		default:
			return "", newError(ErrInvalidToken, errTokenCharset)
		}
	}
	if tok[0] == '=' {
		return "", newError(ErrInvalidToken, errTokenCharset)
	}
	return Secret(tok), nil
}

// CredentialFromRequest returns the bearer credential of r. More than one
// Authorization header is ErrInvalidToken: which one a proxy would have
// honoured is unknowable, so neither is.
func CredentialFromRequest(r *http.Request) (Secret, error) {
	vs := r.Header["Authorization"]
	switch len(vs) {
	case 0:
		return "", newError(ErrNoCredential, nil)
	case 1:
		return ParseBearer(vs[0])
	}
	return "", newError(ErrInvalidToken, errManyHeaders)
}

func isBearer(s string) bool {
	if len(s) != 6 {
		return false
	}
	const want = "bearer"
	for i := range 6 {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != want[i] {
			return false
		}
	}
	return true
}

// isTchar reports whether c may appear in an RFC 9110 token, such as an
// authentication scheme.
func isTchar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// b64token is the RFC 6750 b64token set without "=" (handled as trailing
// padding), plus "|".
var b64token = func() (t [256]bool) {
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "-._~+/|" {
		t[c] = true
	}
	return t
}()
