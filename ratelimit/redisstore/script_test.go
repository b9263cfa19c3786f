package redisstore

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// The script's reply is read back exactly, and anything but space-separated
// decimal integers is rejected rather than read as zeros.
func TestParseInts(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []int64
		ok   bool
	}{
		{"3 999999999 0 1 1796324122540554", []int64{3, 999999999, 0, 1, 1796324122540554}, true},
		{" 3 9 0 1 5 9007199254740992 3", []int64{3, 9, 0, 1, 5, 9007199254740992, 3}, true},
		{"0 0 -1 0 7", []int64{0, 0, -1, 0, 7}, true},
		{"", nil, true},
		{"1 2 x", []int64{1, 2}, false},
		{"1.5", nil, false},
		{"1e3", nil, false},
		{"99999999999999999999", nil, false},
		{"1\t2", nil, false},
	} {
		got, ok := parseInts(tc.in, nil)
		require.Equal(t, tc.ok, ok, "%q", tc.in)
		require.Equal(t, tc.want, got, "%q", tc.in)
	}
}
