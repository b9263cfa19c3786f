package backup

import (
	"hash/maphash"
	"math/rand/v2"
	"testing"
)

// TestKeySetDuplicates: a duplicate anywhere (same chunk, across chunks)
// is found with both rows; membership works on a needed set.
func TestKeySetDuplicates(t *testing.T) {
	for _, n := range []int{0, 1, 5, keyChunk - 1, keyChunk, keyChunk + 3, 3*keyChunk + 17} {
		for _, needed := range []bool{false, true} {
			var s keySet
			r := rand.New(rand.NewPCG(uint64(n), 7))
			hs := make([]uint64, n)
			for i := range hs {
				hs[i] = r.Uint64()
				s.add(hs[i])
			}
			if a, b := s.seal(needed); a != 0 || b != 0 {
				t.Fatalf("n=%d: false duplicate rows %d, %d", n, a, b)
			}
			if needed {
				for _, h := range hs {
					if !s.has(h) {
						t.Fatalf("n=%d: lost %x", n, h)
					}
				}
				if n > 0 && s.has(hs[0]^1) {
					t.Fatalf("n=%d: has a hash never added", n)
				}
			}
			if n < 2 {
				continue
			}
			// Duplicate row i at row j.
			i, j := r.IntN(n), r.IntN(n)
			if i == j {
				continue
			}
			var d keySet
			for k := range hs {
				h := hs[k]
				if k == j {
					h = hs[i]
				}
				d.add(h)
			}
			a, b := d.seal(needed)
			if a != int64(min(i, j)+1) || b != int64(max(i, j)+1) {
				t.Fatalf("n=%d: duplicate of rows %d and %d reported as %d, %d", n, i+1, j+1, a, b)
			}
		}
	}
	_ = maphash.MakeSeed
}
