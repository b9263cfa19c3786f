package main

import (
	"bytes"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The banner's token command is pasted into a shell: a --db value with a
// space, '?' (zsh globs it: "no matches found") or '&' (runs the rest in
// the background) must reach the command as one word.
func TestBannerQuotesDBArgument(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "my demo.db")
	a := openApp(t, Config{DB: path})
	var out bytes.Buffer
	printBanner(t.Context(), &out, a, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}, time.Second)
	require.Contains(t, out.String(), "token create --db '"+path+"' --tenant acme ")
}

func TestShellQuote(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"./tenantkit-demo.db":                                     "./tenantkit-demo.db",
		"mysql://root@127.0.0.1:3306/demo":                        "mysql://root@127.0.0.1:3306/demo",
		"postgres://postgres@127.0.0.1:5432/demo?sslmode=disable": "'postgres://postgres@127.0.0.1:5432/demo?sslmode=disable'",
		"a&b":  "'a&b'",
		"it's": `'it'\''s'`,
		"":     "''",
	} {
		require.Equal(t, want, shellQuote(in), "input %q", in)
	}
}
