package tokenscope_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tenantkit/tenantkit/tokenscope"
)

var bearerCases = []struct {
	header string
	want   string
	err    error
}{
	{"Bearer abc", "abc", nil},
	{"bearer abc", "abc", nil},
	{"BEARER abc", "abc", nil},
	{"Bearer    abc", "abc", nil},
	{"Bearer abcdefghijklmnop|AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "abcdefghijklmnop|AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", nil},
	{"Bearer mF_9.B5f-4.1JqM", "mF_9.B5f-4.1JqM", nil}, // RFC 6750 example
	{"Bearer a+b/c~d==", "a+b/c~d==", nil},
	{"", "", tokenscope.ErrNoCredential},
	{"Basic dXNlcjpwYXNz", "", tokenscope.ErrNoCredential},
	{"Bearerabc", "", tokenscope.ErrNoCredential},
	{"Token abc", "", tokenscope.ErrNoCredential},
	{"Bearer", "", tokenscope.ErrInvalidToken},
	{"Bearer\tabc", "", tokenscope.ErrInvalidToken},
	{"bearer\t abc", "", tokenscope.ErrInvalidToken},
	{"Bearer\x00abc", "", tokenscope.ErrInvalidToken},
	{"Bearer\u00a0abc", "", tokenscope.ErrInvalidToken},
	{"Bearer:abc", "", tokenscope.ErrInvalidToken},
	{"Bearer|abc", "", tokenscope.ErrNoCredential},
	{"Bearer ", "", tokenscope.ErrInvalidToken},
	{"Bearer a b", "", tokenscope.ErrInvalidToken},
	{"Bearer a,b", "", tokenscope.ErrInvalidToken},
	{"Bearer a\tb", "", tokenscope.ErrInvalidToken},
	{"Bearer abc ", "", tokenscope.ErrInvalidToken},
	{"Bearer a=b", "", tokenscope.ErrInvalidToken},
	{"Bearer ==", "", tokenscope.ErrInvalidToken},
	{"Bearer a\"b", "", tokenscope.ErrInvalidToken},
	{"Bearer a\x00b", "", tokenscope.ErrInvalidToken},
	{"Bearer a\r\nX-Evil: 1", "", tokenscope.ErrInvalidToken},
	{"Bearer ñ", "", tokenscope.ErrInvalidToken},
	{"Bearer " + strings.Repeat("a", tokenscope.MaxCredentialLength), strings.Repeat("a", tokenscope.MaxCredentialLength), nil},
	{"Bearer " + strings.Repeat("a", tokenscope.MaxCredentialLength+1), "", tokenscope.ErrInvalidToken},
}

func TestParseBearer(t *testing.T) {
	for _, tc := range bearerCases {
		got, err := tokenscope.ParseBearer(tc.header)
		if tc.err != nil {
			require.ErrorIs(t, err, tc.err, "%q", tc.header)
			require.Empty(t, got)
			if len(tc.header) > 7 {
				require.NotContains(t, err.Error(), tc.header[7:], "the error must not echo the credential")
			}
			continue
		}
		require.NoError(t, err, "%q", tc.header)
		require.Equal(t, tc.want, string(got))
	}
}

func TestCredentialFromRequest(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	_, err := tokenscope.CredentialFromRequest(r)
	require.ErrorIs(t, err, tokenscope.ErrNoCredential)
	r.Header.Add("Authorization", "Bearer one")
	c, err := tokenscope.CredentialFromRequest(r)
	require.NoError(t, err)
	require.Equal(t, "one", string(c))
	r.Header.Add("Authorization", "Bearer two")
	_, err = tokenscope.CredentialFromRequest(r)
	require.ErrorIs(t, err, tokenscope.ErrInvalidToken)
}

func FuzzParseBearer(f *testing.F) {
	for _, tc := range bearerCases {
		f.Add(tc.header)
	}
	f.Add("Bearer \xff\xfe")
	f.Add("bEaReR  " + strings.Repeat("=", 10))
	// Every error text ParseBearer can produce: none depends on the input,
	// so no input can be echoed.
	texts := map[string]bool{}
	for _, tc := range bearerCases {
		if _, err := tokenscope.ParseBearer(tc.header); err != nil {
			texts[err.Error()] = true
		}
	}
	f.Fuzz(func(t *testing.T, header string) {
		got, err := tokenscope.ParseBearer(header)
		if err != nil {
			require.Empty(t, got)
			require.True(t, texts[err.Error()], "unexpected error text %q", err.Error())
			return
		}
		s := string(got)
		require.NotEmpty(t, s)
		require.LessOrEqual(t, len(s), tokenscope.MaxCredentialLength)
		require.True(t, strings.EqualFold(header[:6], "bearer"))
		require.True(t, strings.HasSuffix(header, s))
		require.Equal(t, strings.TrimLeft(header[6:], " "), s)
		trimmed := strings.TrimRight(s, "=")
		require.NotEmpty(t, trimmed)
		for _, c := range []byte(trimmed) {
			ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~+/|", c) >= 0
			require.True(t, ok, "character %q accepted", c)
		}
	})
}
