package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestTokenHelpOnce: --help of the token subcommands (and of any command
// built on newFlagSet) prints its usage exactly once and exits 0.
func TestTokenHelpOnce(t *testing.T) {
	for _, args := range [][]string{
		{"token", "create", "--help"},
		{"token", "revoke", "--help"},
		{"seed", "--help"},
	} {
		code, out, _ := runCLI(t, t.Context(), args...)
		require.Equal(t, 0, code, "%v", args)
		require.Equal(t, 1, strings.Count(out, "Usage: demo "), "%v printed:\n%s", args, out)
	}
}
