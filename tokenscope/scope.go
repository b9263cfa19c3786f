package tokenscope

import (
	"fmt"
	"strings"
)

// Requirement is what a route demands of a token's scopes. The zero value
// requires no scope: any valid token of the request's tenant passes. A
// Requirement is immutable and safe for concurrent use.
type Requirement struct {
	scopes []string
	any    bool
	text   string // the scopes joined by spaces, for the scope= attribute
}

// AllOf requires every one of scopes. AllOf() is the zero Requirement.
// It panics on a scope that is not an RFC 6749 scope-token (empty, or with a
// space, '"' or '\'), because requirements are fixed when routes are
// registered, like http.ServeMux patterns.
func AllOf(scopes ...string) Requirement { return newRequirement(false, scopes) }

// AnyOf requires at least one of scopes. AnyOf() is the zero Requirement.
// It panics like AllOf on a malformed scope.
func AnyOf(scopes ...string) Requirement { return newRequirement(true, scopes) }

func newRequirement(anyOf bool, scopes []string) Requirement {
	if len(scopes) == 0 {
		return Requirement{}
	}
	for _, s := range scopes {
		if err := ValidateScope(s); err != nil {
			panic(err)
		}
	}
	s := append([]string(nil), scopes...)
	return Requirement{scopes: s, any: anyOf, text: strings.Join(s, " ")}
}

// ValidateScope reports whether s is an RFC 6749 section 3.3 scope-token:
// one or more of the characters %x21 / %x23-5B / %x5D-7E.
func ValidateScope(s string) error {
	if s == "" {
		return fmt.Errorf("tokenscope: empty scope")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return fmt.Errorf("tokenscope: scope %q has the character %q, not allowed in an RFC 6749 scope", s, c)
		}
	}
	return nil
}

// Scopes returns a copy of the required scopes.
func (q Requirement) Scopes() []string { return append([]string(nil), q.scopes...) }

// String is the RFC 6750 scope attribute value: the scopes separated by
// spaces (for AnyOf, the alternatives).
func (q Requirement) String() string { return q.text }

// Satisfied reports whether t's scopes meet the requirement.
func (q Requirement) Satisfied(t Token) bool {
	if len(q.scopes) == 0 {
		return true
	}
	for _, s := range q.scopes {
		has := t.HasScope(s)
		if q.any && has {
			return true
		}
		if !q.any && !has {
			return false
		}
	}
	return !q.any
}
